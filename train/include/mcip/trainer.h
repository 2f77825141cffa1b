// `mcip-train config.yaml`: tokenizer (trained on the corpus when none is given), optional
// causal-LM pretraining, then the guardian fine-tune (LoRA + score head, or full), with
// evaluation, checkpoints, resume and data-parallel workers. See train/TRAINER.md.
#pragma once
#include <ostream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "mcip/trainer_config.h"

namespace mcip::train {

// A run that cannot continue for reasons other than bad input (NaN loss, I/O): exit code 1.
class TrainingFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// SIGINT or SIGTERM stopped the run after the current step, and a resume checkpoint was
// written: rerunning the same command continues with identical results. Exit code 3.
class TrainingInterrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
constexpr int kExitInterrupted = 3;

// Runs every enabled phase. Writes under config.output_dir:
//   tokenizer/tokenizer.model          (when trained here)
//   pretrain/{checkpoints/,final/}     (Hugging Face layout + tokenizer.model)
//   finetune/{checkpoints/,best.pt,final/}  final/ = merged HF checkpoint with the score head,
//                                      final/adapter/ = adapters + head, final/mcip_training.json
//   metrics.jsonl, metrics.json, config.effective.json
// Returns the metrics.json content.
nlohmann::json run_training(const TrainerConfig& config, std::ostream& log);

}  // namespace mcip::train
