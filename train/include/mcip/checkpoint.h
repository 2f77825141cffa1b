// Hugging Face checkpoint directories: config.json + model.safetensors, or sharded
// model-0000k-of-0000n.safetensors + model.safetensors.index.json, plus tokenizer.model.
// Loading checks every tensor against config.json (presence, shape, dtype) and refuses
// anything it does not understand with an InputError naming the file and the tensor.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "mcip/model.h"
#include "mcip/safetensors.h"

namespace mcip::tokenizer {
class SentencePiece;
}

namespace mcip::train {

struct LoadOptions {
  at::ScalarType dtype = at::kFloat;  // base weights are converted to this
  c10::Device device = c10::Device(c10::kCPU);
  // Override num_labels (e.g. 11 to put a fresh, zero `score` head on a causal LM). Unset:
  // as config.json says.
  std::optional<std::int64_t> num_labels;
};

struct SaveOptions {
  std::optional<at::ScalarType> dtype;  // unset: keep each tensor's dtype
  std::uint64_t max_shard_bytes = 0;    // 0: a single model.safetensors
  // Copied to tokenizer.model; its bos/eos/pad ids are recorded in config.json.
  const tokenizer::SentencePiece* tokenizer = nullptr;
};

Decoder load_checkpoint(const std::filesystem::path& dir, const LoadOptions& options = {});

// Writes the directory atomically: into a temporary sibling first, then renamed over `dir`
// (a previous directory of that name is replaced only once the new one is complete).
void save_checkpoint(Decoder& model, const std::filesystem::path& dir, const SaveOptions& options = {});

// tokenizer.model from a checkpoint directory, checked against config.json (vocab fits the
// embedding; bos/eos/pad agree). nullopt when the directory has none.
std::optional<tokenizer::SentencePiece> load_checkpoint_tokenizer(const std::filesystem::path& dir,
                                                                 const ModelConfig& config);
// Throws InputError naming `origin` when the tokenizer cannot be used with this model.
void check_tokenizer_matches(const tokenizer::SentencePiece& sp, const ModelConfig& config, const std::string& origin);

// One safetensors tensor as a CPU at::Tensor (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL).
at::Tensor read_tensor(const safetensors::File& file, const safetensors::TensorInfo& info);
safetensors::Dtype safetensors_dtype(at::ScalarType type);

}  // namespace mcip::train
