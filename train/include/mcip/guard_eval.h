// mcip-guard eval: streams a JSONL file (MCIP-bench {body, label} or mcip-synth records) through
// a guardian in batches and accumulates MCIP-bench metrics (Risk Resistance, Safety Awareness,
// macro-F1, per-class scores, confusion matrix) without keeping predictions in memory.
#pragma once
#include <filesystem>
#include <ostream>

#include <nlohmann/json.hpp>

#include "mcip/guard.h"
#include "mcip/trainer_metrics.h"

namespace mcip::guard {

struct EvalOptions {
  std::filesystem::path data;
  std::int64_t batch_size = 16;
  std::int64_t limit = 0;  // 0 = every record
};

struct EvalResult {
  train::EvalAccumulator metrics;
  std::int64_t truncated = 0;
  double seconds = 0;
  nlohmann::json to_json() const;
  std::string to_text(const std::string& title) const;
};

// Throws InputError naming file:line and field for malformed lines, unknown labels and inputs in
// a rendering the guardian was not trained on.
EvalResult evaluate(Guardian& guardian, const EvalOptions& options);

}  // namespace mcip::guard
