// Training checkpoints for resume: <phase dir>/checkpoints/step-XXXXXXXX/ with the trainable
// tensors (adapters, head, or all weights), the optimizer state, the dropout RNG and the
// counters in state.json. Written into a temporary sibling, fsynced, renamed, then marked
// with a DONE file; directories without DONE are never read (llm.c's DONE_%08d idea).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

namespace torch::optim {
class Optimizer;
}

namespace mcip::train {

class Decoder;

// Trainable tensors by stable name: HF names for base/head tensors, PEFT names for adapters.
std::vector<std::pair<std::string, at::Tensor*>> named_trainable(Decoder& model);

struct TrainState {
  std::int64_t step = 0;             // optimizer steps done; the data cursor is derived from it
  std::int64_t micro_batches = 0;    // global micro-batches consumed (= step * grad_accum)
  double best_value = 0;
  std::int64_t best_step = -1;
  std::int64_t evals_without_improvement = 0;
  std::int64_t tokens_seen = 0;
  nlohmann::json last_eval = nlohmann::json::object();
  nlohmann::json to_json() const;
  static TrainState from_json(const nlohmann::json& j, const std::string& origin);
};

// Saves atomically; keeps the newest `keep_last` complete checkpoints. Throws (leaving the
// previous checkpoints intact) when the disk is full or unwritable.
void save_train_checkpoint(const std::filesystem::path& checkpoints_dir, Decoder& model,
                           torch::optim::Optimizer& optimizer, const TrainState& state, std::int64_t keep_last);

// Newest complete checkpoint, or nullopt.
std::optional<std::filesystem::path> latest_train_checkpoint(const std::filesystem::path& checkpoints_dir);

// Restores tensors, optimizer, RNG; returns the counters. InputError on a mismatching checkpoint.
TrainState load_train_checkpoint(const std::filesystem::path& dir, Decoder& model, torch::optim::Optimizer& optimizer);

// Trainable tensors only (best-model snapshots): save and restore.
void save_trainable(const std::filesystem::path& file, Decoder& model);
void load_trainable(const std::filesystem::path& file, Decoder& model);

// fsync a regular file (after a library wrote it by path).
void fsync_file(const std::filesystem::path& file);

}  // namespace mcip::train
