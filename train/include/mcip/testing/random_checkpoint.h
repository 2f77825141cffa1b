// Small random Hugging Face-layout checkpoints for tests and demos: no weights are ever
// downloaded, every test builds its own model from a seed.
#pragma once
#include <cstdint>
#include <filesystem>

#include "mcip/checkpoint.h"
#include "mcip/model_config.h"

namespace mcip::train::testing {

enum class Family { Llama, Qwen2, Mistral };

struct TinySpec {
  Family family = Family::Llama;
  std::int64_t vocab_size = 96, hidden_size = 32, intermediate_size = 48, layers = 2;
  std::int64_t heads = 4, kv_heads = 2, max_positions = 128;
  std::int64_t num_labels = 0;  // 11 for a guardian classifier
  bool tie_word_embeddings = false;
};

// A validated config.json as transformers would write it for this family.
ModelConfig tiny_config(const TinySpec& spec);

// Writes a random checkpoint (config.json + safetensors, sharded when max_shard_bytes > 0).
void write_random_checkpoint(const std::filesystem::path& dir, const TinySpec& spec, std::uint64_t seed,
                             const SaveOptions& options = {});

}  // namespace mcip::train::testing
