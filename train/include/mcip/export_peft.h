// Hugging Face PEFT LoRA adapter directories (adapter_config.json + adapter_model.safetensors)
// for a sequence-classification guardian: writing them with PEFT's exact on-disk names, checking
// a directory against PEFT's naming rules, and loading one back onto a base Decoder.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mcip/lora.h"
#include "mcip/model.h"

namespace mcip::guard {

// adapter_config.json with PEFT's full key set: task_type SEQ_CLS (or CAUSAL_LM without a score
// head), modules_to_save ["score"], inference_mode true and `base_model_id` (a hub-style id, never
// a local absolute path) as base_model_name_or_path.
nlohmann::json peft_adapter_config(const train::Decoder& model, const train::LoraConfig& lora,
                                   const std::string& base_model_id);

// Writes adapter_config.json and adapter_model.safetensors (fp32: adapters, plus
// base_model.model.score.weight) into `dir`, which must not exist yet (callers stage the whole
// export in a temporary directory). The model must carry unmerged LoRA adapters.
void write_peft_adapter(train::Decoder& model, const train::LoraConfig& lora, const std::string& base_model_id,
                        const std::filesystem::path& dir);

// Structural check of a PEFT directory against PEFT's rules and the base model's shapes:
// required config keys and types, tensor names `base_model.model.<HF module>.lora_{A,B}.weight`
// for exactly the targeted modules of every layer (adapter name dropped), A [r, in], B [out, r],
// the score head `base_model.model.score.weight` [num_labels, hidden] when task_type is SEQ_CLS,
// nothing else. Returns the problems found (empty = valid).
std::vector<std::string> check_peft_adapter(const std::filesystem::path& dir, const train::ModelConfig& base);

// LoRA settings read from adapter_config.json. Throws InputError naming file and key.
train::LoraConfig read_peft_lora_config(const std::filesystem::path& adapter_config_json);

// Attaches the adapter (apply_lora with the file's r/alpha/targets/rsLoRA, then copies A/B) and
// the score head onto `base` (loaded with num_labels set when the adapter has a head). Throws
// InputError naming the file and tensor on any mismatch.
void load_peft_adapter(train::Decoder& base, const std::filesystem::path& dir);

}  // namespace mcip::guard
