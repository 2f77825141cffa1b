// mcip-guard: a trained guardian loaded for inference. The guardian manifest (guardian.json,
// written by the exporter, or built from the trainer's mcip_training.json) says how the model
// was trained: labels, rendering, max_length and truncation, tokenizer hash. Inputs are
// rendered and truncated exactly as in training (segments_for + encode_segments).
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mcip/model.h"
#include "mcip/tokenizer.h"
#include "mcip/trainer_config.h"
#include "mcip/trainer_data.h"

namespace mcip::guard {

// The interaction formats classify accepts.
enum class InputFormat { JsonRpc, Glaive, Mci };
std::string to_string(InputFormat f);
// The matching trainer rendering.
train::Rendering rendering_of(InputFormat f);

struct DetectedInput {
  InputFormat format = InputFormat::Glaive;
  nlohmann::json value;  // what segments_for takes for that rendering (string, {system, chat}, list)
  std::string how;       // why this format was chosen, for messages
};

// Detects the format of one interaction: a JSON-RPC message list (a JSON array of messages or
// {server, direction, message} entries), an MCI flow log (a JSON array of flows, or text lines
// "SENDER sends TYPE ... to RECIPIENT under TP"), a Glaive chat (text with USER:/ASSISTANT:
// turns, {system, chat}), or a record holding one of them (MCIP-bench {body}, an mcip-synth
// record with renderings; `preferred` picks among several). Throws InputError(origin) for empty
// input or an unknown format.
DetectedInput detect_input(const std::string& text, const std::string& origin,
                           std::optional<InputFormat> preferred = std::nullopt);

struct LabelInfo {
  int index = 0;
  char letter = 'A';
  std::string name, bench_label;
  bool safe = false;
};

struct GuardianSpec {
  std::filesystem::path dir;          // the directory given to --model
  std::filesystem::path model_dir;    // merged HF checkpoint (config.json, safetensors, tokenizer.model)
  std::vector<LabelInfo> labels;
  int safe_index = 0;
  train::Rendering rendering = train::Rendering::Glaive;
  train::TextView view;  // input.tool_view, max_result_chars and flow_checks; absent in older guardians
  std::string objective = "classify";
  std::int64_t max_length = 512, keep_head_tokens = 96;
  std::string tokenizer_hash;
  nlohmann::json manifest;  // guardian.json content
};

// Reads DIR/guardian.json (export directory) or DIR/mcip_training.json (the trainer's
// finetune/final) and checks that the model files exist. InputError naming the missing file.
GuardianSpec read_guardian_spec(const std::filesystem::path& dir);

struct Classification {
  int label = 0;
  std::vector<double> probabilities;  // per label, softmax of the head
  std::int64_t tokens = 0;            // fed to the model (incl. BOS/EOS)
  std::int64_t original_tokens = 0;   // before truncation
  bool truncated = false;
  double latency_ms = 0;              // render + tokenize + forward + softmax
  std::string format, format_how;     // detected input format and why
};

class Guardian {
 public:
  static Guardian load(const std::filesystem::path& dir, int threads = 0);

  const GuardianSpec& spec() const { return spec_; }
  const tokenizer::SentencePiece& tokenizer() const { return sp_; }
  train::Decoder& model() { return model_; }

  // Ids for one interaction as the trainer built them; `original_tokens` gets the untruncated count.
  train::EncodedExample encode(const std::vector<train::Segment>& segments, std::int64_t* original_tokens) const;
  // One interaction: detection, rendering check, encoding, forward. InputError for a format the
  // model was not trained on.
  Classification classify_text(const std::string& text, const std::string& origin);
  // A batch of already-encoded examples (right padded). Returns [n, labels] probabilities.
  std::vector<std::vector<double>> classify_ids(const std::vector<std::vector<std::int32_t>>& ids);
  // JSON / text presentation of one result.
  nlohmann::json to_json(const Classification& c) const;
  std::string to_text(const Classification& c) const;

 private:
  Guardian(GuardianSpec spec, tokenizer::SentencePiece sp, train::Decoder model);
  GuardianSpec spec_;
  tokenizer::SentencePiece sp_;
  train::Decoder model_;
};

}  // namespace mcip::guard
