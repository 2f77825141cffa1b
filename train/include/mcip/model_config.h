// Hugging Face config.json for the Llama family (llama, mistral, qwen2), parsed and validated
// without LibTorch. Unknown architectures and unsupported features are refused with an
// InputError naming the file and key, so a model never silently runs with the wrong math.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mcip::train {

struct RopeScaling {
  enum class Kind { None, Linear, Llama3 } kind = Kind::None;
  double factor = 1.0;
  // llama3 only
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  std::int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string model_type = "llama";  // llama | mistral | qwen2
  std::vector<std::string> architectures;
  std::int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0, num_key_value_heads = 0, head_dim = 0;
  std::int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6, rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // qwen2 always; llama's attention_bias
  bool o_bias = false;    // llama's attention_bias also covers o_proj
  bool mlp_bias = false;
  std::optional<std::int64_t> sliding_window;  // mistral; qwen2 only with use_sliding_window
  std::optional<std::int64_t> bos_token_id, eos_token_id, pad_token_id;
  // Sequence classification head `score` [num_labels, hidden]; 0 = no head.
  std::int64_t num_labels = 0;
  std::vector<std::string> id2label;  // empty or num_labels entries
  std::string torch_dtype = "float32";
  // The parsed file, so keys we do not interpret survive a load/save round trip.
  nlohmann::json source = nlohmann::json::object();

  std::int64_t kv_groups() const { return num_attention_heads / num_key_value_heads; }
  std::int64_t q_dim() const { return num_attention_heads * head_dim; }
  std::int64_t kv_dim() const { return num_key_value_heads * head_dim; }

  // Throws InputError(origin, key) for missing/invalid keys and unsupported architectures.
  static ModelConfig from_json(const nlohmann::json& doc, const std::string& origin);
  static ModelConfig load(const std::filesystem::path& config_json);
  // HF-compatible config.json content (architecture class, label maps, token ids, bias keys).
  nlohmann::json to_json() const;
  // Re-checks invariants after programmatic edits (e.g. tests building configs in code).
  void validate(const std::string& origin) const;
};

}  // namespace mcip::train
