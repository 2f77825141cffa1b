// Streaming evaluation: one line at a time into a batch, one batch at a time into the
// confusion matrix.
#include <chrono>
#include <fstream>

#include <fmt/format.h>

#include "mcip/error.h"
#include "mcip/guard_eval.h"
#include "mcip/taxonomy.h"

namespace mcip::guard {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> bench_labels(const Guardian& g) {
  std::vector<std::string> out;
  for (const auto& l : g.spec().labels) out.push_back(l.bench_label);
  return out;
}

InputFormat format_of(train::Rendering r) {
  switch (r) {
    case train::Rendering::JsonRpc: return InputFormat::JsonRpc;
    case train::Rendering::Mci: return InputFormat::Mci;
    case train::Rendering::Glaive: break;
  }
  return InputFormat::Glaive;
}

}  // namespace

nlohmann::json EvalResult::to_json() const {
  nlohmann::json j = metrics.to_json(true);
  j["truncated"] = truncated;
  // No wall-clock figures: the report is a result, the same bytes for the same guardian and data
  // (timings are in the text report and mcip-guard's log).
  j.erase("loss");
  return j;
}

std::string EvalResult::to_text(const std::string& title) const {
  std::string r = metrics.report(title);
  // The loss is not computed by eval; drop it from the headline.
  const auto loss = r.find("loss ");
  const auto bar = r.find("| ", loss);
  if (loss != std::string::npos && bar != std::string::npos) r.erase(loss, bar + 2 - loss);
  r += fmt::format("{} examples in {:.2f} s ({:.1f} examples/s), {} truncated to the training max_length\n",
                   metrics.examples(), seconds, seconds > 0 ? metrics.examples() / seconds : 0.0, truncated);
  return r;
}

EvalResult evaluate(Guardian& guardian, const EvalOptions& options) {
  const std::string file = options.data.string();
  if (!fs::exists(options.data)) throw InputError(file, 0, "", "evaluation data not found");
  std::ifstream in(options.data, std::ios::binary);
  if (!in) throw InputError(file, 0, "", "cannot open");
  const auto& spec = guardian.spec();
  const auto tax = taxonomy::Taxonomy::embedded();
  EvalResult result{train::EvalAccumulator(bench_labels(guardian), spec.safe_index)};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<std::int32_t>> batch_ids;
  std::vector<int> batch_gold;
  auto flush = [&] {
    if (batch_ids.empty()) return;
    const auto probs = guardian.classify_ids(batch_ids);
    for (size_t i = 0; i < probs.size(); ++i)
      result.metrics.add(batch_gold[i],
                         static_cast<int>(std::max_element(probs[i].begin(), probs[i].end()) - probs[i].begin()));
    batch_ids.clear();
    batch_gold.clear();
  };
  std::string line;
  int lineno = 0;
  std::int64_t records = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json rec = nlohmann::json::parse(line, nullptr, false);
    if (rec.is_discarded() || !rec.is_object()) throw InputError(file, lineno, "", "not a JSON object");
    if (!rec.contains("label") || !rec["label"].is_string()) throw InputError(file, lineno, "label", "missing or not a string");
    const std::string label = rec["label"].get<std::string>();
    int gold = -1;
    const taxonomy::Label* tl = tax.find_label(label);
    for (const auto& l : spec.labels)
      if (l.bench_label == label || (tl && tl->bench_label == l.bench_label)) gold = l.index;
    if (gold < 0) {
      std::string known;
      for (const auto& l : spec.labels) known += (known.empty() ? "" : ", ") + l.bench_label;
      throw InputError(file, lineno, "label", fmt::format("'{}' is not one of the guardian's labels ({})", label, known));
    }
    const std::string origin = fmt::format("{}:{}", file, lineno);
    DetectedInput d = detect_input(line, origin, format_of(spec.rendering));
    if (rendering_of(d.format) != spec.rendering)
      throw InputError(file, lineno, "", fmt::format("input is {} ({}) but the guardian was trained on {}", to_string(d.format),
                                                     d.how, train::to_string(spec.rendering)));
    train::EncodedExample ex = guardian.encode(train::segments_for(spec.rendering, d.value, file, lineno, spec.view), nullptr);
    result.truncated += ex.truncated;
    batch_ids.push_back(std::move(ex.ids));
    batch_gold.push_back(gold);
    if (static_cast<std::int64_t>(batch_ids.size()) >= options.batch_size) flush();
    if (options.limit > 0 && ++records >= options.limit) break;
  }
  flush();
  if (result.metrics.examples() == 0) throw InputError(file, 0, "", "no records to evaluate");
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace mcip::guard
