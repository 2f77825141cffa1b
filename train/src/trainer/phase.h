// One training phase (pretrain or finetune) on a prepared model: the optimizer loop with
// accumulation, evaluation, checkpoints and resume. run.cpp prepares the model and writes the
// phase's final output.
#pragma once
#include <filesystem>
#include <ostream>
#include <string>

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "distributed.h"
#include "mcip/trainer_config.h"
#include "mcip/trainer_data.h"
#include "train_state.h"

namespace mcip::tokenizer {
class SentencePiece;
}
namespace mcip::taxonomy {
class Taxonomy;
}

namespace mcip::train {

class Decoder;

// Appends JSON lines to <output_dir>/metrics.jsonl (main process only).
class MetricsLog {
 public:
  MetricsLog(std::filesystem::path file, bool enabled) : file_(std::move(file)), enabled_(enabled) {}
  void append(const nlohmann::json& line);
  // Drops lines of `phase` with step > `step` (a resumed run rewrites what the killed run logged).
  void truncate_after(const std::string& phase, std::int64_t step);

 private:
  std::filesystem::path file_;
  bool enabled_;
};

struct PhaseContext {
  const TrainerConfig& config;
  const PhaseConfig& phase;
  std::string name;                 // "pretrain" | "finetune"
  std::filesystem::path dir;        // <output_dir>/<name>
  Decoder& model;
  const tokenizer::SentencePiece& sp;
  const taxonomy::Taxonomy& taxonomy;
  Distributed& dist;
  std::ostream& log;
  MetricsLog& metrics;
  c10::Device device;
};

struct PhaseResult {
  TrainState state;
  nlohmann::json evaluation = nlohmann::json::object();  // split -> metrics (with details)
  std::string reports;                                    // terminal tables
};

PhaseResult run_phase(PhaseContext& ctx);

}  // namespace mcip::train
