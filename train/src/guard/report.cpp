// Presentation of one classification for people (text) and machines (JSON).
#include <fmt/format.h>

#include "mcip/guard.h"

namespace mcip::guard {

nlohmann::json Guardian::to_json(const Classification& c) const {
  const auto& L = spec_.labels;
  const LabelInfo& top = L.at(static_cast<size_t>(c.label));
  nlohmann::json probs = nlohmann::json::object();
  nlohmann::json table = nlohmann::json::array();
  for (const auto& l : L) {
    const double p = c.probabilities.at(static_cast<size_t>(l.index));
    probs[l.bench_label] = p;
    table.push_back({{"letter", std::string(1, l.letter)}, {"label", l.bench_label}, {"name", l.name}, {"probability", p}});
  }
  return {{"label", top.bench_label},
          {"letter", std::string(1, top.letter)},
          {"name", top.name},
          {"verdict", top.safe ? "safe" : "unsafe"},
          {"p_unsafe", 1.0 - c.probabilities.at(static_cast<size_t>(spec_.safe_index))},
          {"probabilities", probs},
          {"labels", table},
          {"input",
           {{"format", c.format},
            {"detected", c.format_how},
            {"tokens", c.tokens},
            {"original_tokens", c.original_tokens},
            {"truncated", c.truncated},
            {"max_length", spec_.max_length}}},
          {"latency_ms", c.latency_ms}};
}

std::string Guardian::to_text(const Classification& c) const {
  const LabelInfo& top = spec_.labels.at(static_cast<size_t>(c.label));
  const double p_unsafe = 1.0 - c.probabilities.at(static_cast<size_t>(spec_.safe_index));
  std::string out = fmt::format("label    {}. {} ({})\n", top.letter, top.name, top.bench_label);
  out += fmt::format("verdict  {} (p_unsafe {:.4f})\n", top.safe ? "SAFE" : "UNSAFE", p_unsafe);
  out += fmt::format("input    {}: {}; {} tokens\n", c.format, c.format_how, c.tokens);
  if (c.truncated)
    out += fmt::format("         truncated from {} to {} tokens (max_length {}) as in training: the tool list lost its "
                       "tail, the conversation its middle\n",
                       c.original_tokens, c.tokens, spec_.max_length);
  out += fmt::format("latency  {:.2f} ms\n", c.latency_ms);
  out += "probabilities\n";
  for (const auto& l : spec_.labels) {
    const double p = c.probabilities.at(static_cast<size_t>(l.index));
    out += fmt::format("  {} {:<34} {:>7.4f}  {}\n", l.letter, l.bench_label, p,
                       std::string(static_cast<size_t>(p * 30 + 0.5), '#'));
  }
  return out;
}

}  // namespace mcip::guard
