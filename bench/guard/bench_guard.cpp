// Latency and throughput of mcip-guard classify on CPU for a trained guardian:
//   bench-guard --model DIR --data FILE.jsonl [--examples 200] [--batch 16] [--threads N]
// Single-example latency is end to end as `mcip-guard classify` measures it (detect format,
// render, tokenize, truncate, forward, softmax), after the model is loaded; batched throughput
// runs the same encoded examples through classify_ids in batches, as `mcip-guard eval` does.
// Model load time is reported separately. Prints a JSON line with every number.
#include <CLI/CLI.hpp>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "mcip/cli.h"
#include "mcip/error.h"
#include "mcip/guard.h"

namespace {

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

}  // namespace

int main(int argc, char** argv) {
  return mcip::run_main("bench-guard", [&] {
    CLI::App app{"bench-guard: mcip-guard classify latency (p50/p95) and throughput on CPU"};
    std::string model, data;
    int examples = 200, batch = 16, threads = 1, warmup = 5;
    app.add_option("--model", model, "Guardian directory")->required();
    app.add_option("--data", data, "JSONL records (MCIP-bench {body,label} or mcip-synth)")->required();
    app.add_option("--examples", examples, "Examples to time")->check(CLI::PositiveNumber);
    app.add_option("--batch", batch, "Batch size for the throughput run")->check(CLI::PositiveNumber);
    app.add_option("--threads", threads, "Intra-op threads")->check(CLI::PositiveNumber);
    if (int rc = mcip::parse_cli(app, argc, argv); rc >= 0) return rc;

    const auto t0 = std::chrono::steady_clock::now();
    auto g = mcip::guard::Guardian::load(model, threads);
    const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

    std::vector<std::string> inputs;
    std::ifstream in(data);
    if (!in) throw mcip::InputError(data, 0, "", "cannot open");
    std::string line;
    while (static_cast<int>(inputs.size()) < examples && std::getline(in, line))
      if (line.find_first_not_of(" \t\r") != std::string::npos) inputs.push_back(line);
    if (inputs.empty()) throw mcip::InputError(data, 0, "", "no records");
    while (static_cast<int>(inputs.size()) < examples) inputs.push_back(inputs[inputs.size() % inputs.size()]);

    for (int i = 0; i < warmup; ++i) g.classify_text(inputs[static_cast<size_t>(i) % inputs.size()], data);
    std::vector<double> latency;
    std::int64_t tokens = 0, truncated = 0;
    const auto t1 = std::chrono::steady_clock::now();
    for (const auto& s : inputs) {
      const auto c = g.classify_text(s, data);
      latency.push_back(c.latency_ms);
      tokens += c.tokens;
      truncated += c.truncated;
    }
    const double single_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();

    std::vector<std::vector<std::int32_t>> ids;
    for (const auto& s : inputs) {
      const auto d = mcip::guard::detect_input(s, data, mcip::guard::InputFormat::Glaive);
      ids.push_back(g.encode(mcip::train::segments_for(g.spec().rendering, d.value, data, 0), nullptr).ids);
    }
    const auto t2 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < ids.size(); i += static_cast<size_t>(batch)) {
      std::vector<std::vector<std::int32_t>> b(ids.begin() + static_cast<long>(i),
                                               ids.begin() + static_cast<long>(std::min(ids.size(), i + static_cast<size_t>(batch))));
      g.classify_ids(b);
    }
    const double batch_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count();

    const auto& cfg = g.model().config();
    const nlohmann::json j = {
        {"model", model},
        {"hidden_size", cfg.hidden_size},
        {"layers", cfg.num_hidden_layers},
        {"max_length", g.spec().max_length},
        {"threads", at::get_num_threads()},
        {"examples", inputs.size()},
        {"mean_tokens", static_cast<double>(tokens) / static_cast<double>(inputs.size())},
        {"truncated", truncated},
        {"load_ms", load_ms},
        {"single_p50_ms", percentile(latency, 0.50)},
        {"single_p95_ms", percentile(latency, 0.95)},
        {"single_examples_per_s", static_cast<double>(inputs.size()) / single_s},
        {"batch", batch},
        {"batched_examples_per_s", static_cast<double>(inputs.size()) / batch_s}};
    std::cout << fmt::format(
        "guardian {} (hidden {}, {} layers, max_length {}), {} threads, {} examples of {:.0f} tokens on average\n"
        "  load {:.0f} ms | single: p50 {:.2f} ms, p95 {:.2f} ms, {:.1f} examples/s | batch {}: {:.1f} examples/s\n",
        model, cfg.hidden_size, cfg.num_hidden_layers, g.spec().max_length, at::get_num_threads(), inputs.size(),
        j["mean_tokens"].get<double>(), load_ms, j["single_p50_ms"].get<double>(), j["single_p95_ms"].get<double>(),
        j["single_examples_per_s"].get<double>(), batch, j["batched_examples_per_s"].get<double>());
    std::cout << j.dump() << "\n";
    return 0;
  });
}
