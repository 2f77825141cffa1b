#include "mcip/testing/random_checkpoint.h"

#include <nlohmann/json.hpp>

namespace mcip::train::testing {

ModelConfig tiny_config(const TinySpec& s) {
  nlohmann::json j = {{"vocab_size", s.vocab_size},
                      {"hidden_size", s.hidden_size},
                      {"intermediate_size", s.intermediate_size},
                      {"num_hidden_layers", s.layers},
                      {"num_attention_heads", s.heads},
                      {"num_key_value_heads", s.kv_heads},
                      {"max_position_embeddings", s.max_positions},
                      {"rms_norm_eps", 1e-6},
                      {"hidden_act", "silu"},
                      {"tie_word_embeddings", s.tie_word_embeddings},
                      {"bos_token_id", 1},
                      {"eos_token_id", 2}};
  switch (s.family) {
    case Family::Llama:
      j["model_type"] = "llama";
      j["rope_theta"] = 10000.0;
      break;
    case Family::Mistral:
      j["model_type"] = "mistral";
      j["rope_theta"] = 1000000.0;
      j["sliding_window"] = nullptr;
      break;
    case Family::Qwen2:
      j["model_type"] = "qwen2";
      // Newer transformers nest rope settings; exercise that form here.
      j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1000000.0}};
      j["use_sliding_window"] = false;
      j["pad_token_id"] = 3;
      break;
  }
  if (s.num_labels > 0) {
    j["num_labels"] = s.num_labels;
    j["architectures"] = {s.family == Family::Qwen2 ? "Qwen2ForSequenceClassification" : "LlamaForSequenceClassification"};
  }
  return ModelConfig::from_json(j, "tiny_config");
}

void write_random_checkpoint(const std::filesystem::path& dir, const TinySpec& spec, std::uint64_t seed,
                             const SaveOptions& options) {
  Decoder model = Decoder::random(tiny_config(spec), seed);
  save_checkpoint(model, dir, options);
}

}  // namespace mcip::train::testing
