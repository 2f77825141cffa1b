// Exports a trained guardian (mcip-train's finetune/final, or the run directory holding it) to
// every format other components consume, staged in a temporary sibling and renamed into place:
//
//   OUT/guardian.json                 labels (letters, MCIP-bench strings, verdict), rendering,
//                                     truncation and input template, tokenizer hash, base model,
//                                     LoRA settings, dataset manifest hash, metrics, file hashes
//   OUT/merged/                       Hugging Face *ForSequenceClassification checkpoint:
//                                     config.json (num_labels, id2label, label2id, pad_token_id),
//                                     model.safetensors or shards + index, tokenizer.model
//   OUT/peft/                         PEFT LoRA adapter (SEQ_CLS, modules_to_save ["score"])
//   OUT/base/                         the base checkpoint the adapter applies to, when it was
//                                     trained here from scratch (no hub id to point at)
//   OUT/gguf/<name>-{f32,f16,bf16}.gguf   merged decoder for llama.cpp (no classifier head:
//   OUT/gguf/score_head.safetensors       llama.cpp has none for llama; apply score.weight to the
//                                         last token's embedding, see train/EXPORT.md)
#pragma once
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mcip/gguf.h"

namespace mcip::guard {

struct ExportOptions {
  std::filesystem::path out;
  std::vector<gguf::TensorType> gguf_types{gguf::TensorType::F16};
  std::uint64_t max_shard_bytes = 2ull << 30;  // merged checkpoint shard size (HF-style "2GB")
  std::string base_model_id;                    // base_model_name_or_path for PEFT; default derived
  std::filesystem::path base;                   // base checkpoint dir; default from the training record
  std::string name = "mcip-guardian";
};

// The trainer's finetune/final directory for `trained` (itself, or <run>/finetune/final).
// Throws InputError when there is none or it is incomplete (no DONE marker).
std::filesystem::path find_trained_guardian(const std::filesystem::path& trained);

// Writes the export; returns guardian.json. InputError for bad input (missing/incomplete training
// output, a base that does not fit the adapter), std::runtime_error for I/O failures and for an
// adapter that does not reproduce the merged model.
nlohmann::json export_guardian(const std::filesystem::path& trained, const ExportOptions& options, std::ostream& log);

std::string gguf_type_name(gguf::TensorType t);
gguf::TensorType parse_gguf_type(const std::string& name);  // f32 | f16 | bf16, InputError otherwise

}  // namespace mcip::guard
