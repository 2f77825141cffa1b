// LoRA training-step throughput: mcip's decoder + trainer step vs a plain PyTorch-eager Python
// loop (bench/train/python_lora.py, Debian's python3-torch) on the same architecture, the same
// variable-length batches drawn from the synthesized dataset, and the same thread count; plus
// the fraction of this machine's measured bf16 matmul rate achieved.
//
//   bench_train --data DIR --tokenizer tokenizer.model [--hidden 256 --layers 4 ...]
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <torch/optim/adamw.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mcip/cli.h"
#include "mcip/lora.h"
#include "mcip/model.h"
#include "mcip/taxonomy.h"
#include "mcip/tokenizer.h"
#include "mcip/trainer_data.h"

using namespace mcip::train;
using Clock = std::chrono::steady_clock;

namespace {

double peak_rss_mb() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_maxrss) / 1024.0;
}

// Dense bf16 GEMM rate of this machine (GFLOP/s) at the given thread count.
double bf16_matmul_gflops(std::int64_t n) {
  at::Tensor a = at::randn({n, n}).to(at::kBFloat16), b = at::randn({n, n}).to(at::kBFloat16);
  for (int i = 0; i < 2; ++i) at::matmul(a, b);
  int reps = 0;
  const auto t0 = Clock::now();
  double dt = 0;
  while (dt < 2.0) {
    at::matmul(a, b);
    ++reps;
    dt = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  return 2.0 * static_cast<double>(n * n * n) * reps / dt / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  return mcip::run_main("bench_train", [&] {
    CLI::App app{"LoRA step throughput: mcip (C++) vs PyTorch eager (Python), same batches"};
    std::string data_dir, tokenizer_path, python = "/usr/bin/python3";
    std::string script = std::string(MCIP_SOURCE_DIR) + "/bench/train/python_lora.py";
    std::int64_t hidden = 256, layers = 4, heads = 4, kv_heads = 2, inter = 688, rank = 16, batch = 16, steps = 20,
                 warmup = 3, max_length = 256, threads = 2, seed = 7, rounds = 2;
    bool bf16 = true, skip_python = false;
    app.add_option("--data", data_dir, "mcip-synth dataset dir (train.jsonl gives the length distribution)")->required();
    app.add_option("--tokenizer", tokenizer_path, "SentencePiece model used to measure lengths")->required();
    app.add_option("--hidden", hidden);
    app.add_option("--layers", layers);
    app.add_option("--heads", heads);
    app.add_option("--kv-heads", kv_heads);
    app.add_option("--intermediate", inter);
    app.add_option("--rank", rank);
    app.add_option("--batch", batch);
    app.add_option("--steps", steps, "Timed steps");
    app.add_option("--warmup", warmup, "Untimed steps first");
    app.add_option("--max-length", max_length);
    app.add_option("--threads", threads);
    app.add_option("--seed", seed);
    app.add_option("--rounds", rounds, "Alternating C++/Python rounds; each side's best is reported");
    app.add_option("--bf16", bf16, "bf16 autocast on both sides");
    app.add_option("--python", python);
    app.add_flag("--skip-python", skip_python);
    if (int rc = mcip::parse_cli(app, argc, argv); rc >= 0) return rc;
    at::set_num_threads(static_cast<int>(threads));

    // Realistic variable-length batches: the trainer's tokenization, truncation and bucketing.
    const auto sp = mcip::tokenizer::SentencePiece::load(tokenizer_path);
    DataConfig dc;
    dc.dir = data_dir;
    dc.cache_dir = std::filesystem::temp_directory_path() / "mcip-bench-train-cache";
    const auto tax = mcip::taxonomy::Taxonomy::embedded();
    TokenizedSplit split = load_split(dc, "train", Objective::Classify, max_length, 0, sp, tax, threads);
    auto order = epoch_batches(split, batch, 16, static_cast<std::uint64_t>(seed), 0);
    const auto total = static_cast<size_t>(warmup + steps);
    if (order.size() < total) throw std::runtime_error("not enough batches in the dataset for --steps");
    order.resize(total);
    nlohmann::json lengths = nlohmann::json::array();
    for (const auto& rows : order) {
      nlohmann::json l = nlohmann::json::array();
      for (auto r : rows) l.push_back(split.examples[static_cast<size_t>(r)].ids.size());
      lengths.push_back(l);
    }

    nlohmann::json mc = {{"architectures", {"LlamaForSequenceClassification"}}, {"model_type", "llama"}, {"vocab_size", sp.vocab_size()},
                         {"hidden_size", hidden}, {"intermediate_size", inter}, {"num_hidden_layers", layers},
                         {"num_attention_heads", heads}, {"num_key_value_heads", kv_heads},
                         {"max_position_embeddings", max_length}, {"rms_norm_eps", 1e-5}, {"tie_word_embeddings", true},
                         {"num_labels", 11}};
    Decoder model = Decoder::random(ModelConfig::from_json(mc, "bench"), static_cast<std::uint64_t>(seed));
    LoraConfig lc;
    lc.rank = rank;
    lc.alpha = 2.0 * static_cast<double>(rank);
    lc.target_modules = {"all-linear"};
    apply_lora(model, lc);
    model.score_weight.set_requires_grad(true);
    model.train(true);
    std::vector<at::Tensor> params = model.trainable_parameters();
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(1e-3));
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<std::uint64_t>(seed));

    // One C++ pass over the batches: untimed warmup steps, then timed steps; tokens/s.
    auto cpp_pass = [&]() {
    std::int64_t tokens = 0;
    double seconds = 0;
    for (size_t s = 0; s < total; ++s) {
      const auto& l = lengths[s];
      std::int64_t t = 0;
      for (const auto& n : l) t = std::max<std::int64_t>(t, n.get<std::int64_t>());
      const auto b = static_cast<std::int64_t>(l.size());
      const auto t0 = Clock::now();
      at::Tensor ids = at::randint(4, sp.vocab_size(), {b, t}, gen, at::kLong), mask = at::zeros({b, t}, at::kLong);
      std::int64_t step_tokens = 0;
      for (std::int64_t i = 0; i < b; ++i) {
        const auto n = l[static_cast<size_t>(i)].get<std::int64_t>();
        mask[i].narrow(0, 0, n).fill_(1);
        step_tokens += n;
      }
      at::Tensor labels = at::randint(0, 11, {b}, gen, at::kLong);
      at::Tensor loss;
      {
        AutocastScope ac(model.device(), bf16);
        loss = at::cross_entropy_loss(model.classify({ids, mask, {}, {}}), labels);
      }
      loss.backward();
      {
        c10::NoGradGuard ng;
        double sq = 0;
        for (auto& p : params) sq += p.grad().pow(2).sum().item<double>();
        const double norm = std::sqrt(sq);
        if (norm > 1.0)
          for (auto& p : params) p.grad().mul_(1.0 / (norm + 1e-6));
      }
      opt.step();
      opt.zero_grad();
      if (static_cast<std::int64_t>(s) >= warmup) {
        seconds += std::chrono::duration<double>(Clock::now() - t0).count();
        tokens += step_tokens;
      }
    }
    return static_cast<double>(tokens) / seconds;
    };
    double seconds = 0;  // of the best C++ pass, for the FLOP rate
    std::int64_t timed_tokens = 0;
    for (size_t s = static_cast<size_t>(warmup); s < total; ++s)
      for (const auto& n : lengths[s]) timed_tokens += n.get<std::int64_t>();

    // Model FLOPs per token of a LoRA step: frozen base linears cost forward + input gradient
    // (4N, no weight gradient), attention scores/values 3 x 4*t*d per layer, on the padded batch.
    double padded = 0, attn = 0;
    for (size_t s = static_cast<size_t>(warmup); s < total; ++s) {
      std::int64_t t = 0;
      for (const auto& n : lengths[s]) t = std::max<std::int64_t>(t, n.get<std::int64_t>());
      padded += static_cast<double>(t * static_cast<std::int64_t>(lengths[s].size()));
      attn += 3.0 * 4.0 * static_cast<double>(t * t * lengths[s].size()) * static_cast<double>(hidden * layers);
    }
    const double n_linear = static_cast<double>(layers) *
                            static_cast<double>(hidden * (heads * (hidden / heads)) * 2 + hidden * kv_heads * (hidden / heads) * 2 +
                                                3 * hidden * inter);
    const double flops = 4.0 * n_linear * padded + attn;
    const double peak = bf16_matmul_gflops(1024);

    auto python_pass = [&]() {
      const auto spec_path = std::filesystem::temp_directory_path() / fmt::format("mcip-bench-train-{}.json", getpid());
      nlohmann::json spec = {{"threads", threads}, {"seed", seed}, {"rank", rank}, {"alpha", 2.0 * static_cast<double>(rank)},
                             {"bf16", bf16}, {"warmup", warmup}, {"batches", lengths},
                             {"model", {{"vocab", sp.vocab_size()}, {"hidden", hidden}, {"layers", layers}, {"heads", heads},
                                        {"kv_heads", kv_heads}, {"head_dim", hidden / heads}, {"inter", inter}}}};
      std::ofstream(spec_path) << spec.dump();
      FILE* p = popen(fmt::format("'{}' '{}' '{}'", python, script, spec_path.string()).c_str(), "r");
      std::string out;
      char buf[4096];
      while (p && fgets(buf, sizeof buf, p)) out += buf;
      const int rc = p ? pclose(p) : -1;
      std::filesystem::remove(spec_path);
      if (rc != 0) throw std::runtime_error("the Python baseline failed (is python3-torch installed?): " + out);
      return nlohmann::json::parse(out.substr(out.rfind('{')));
    };
    // Alternate the two sides for `rounds` rounds and keep each side's best pass, so load from
    // other processes on a shared machine penalises both alike.
    double cpp_tps = 0;
    nlohmann::json py = nullptr;
    for (std::int64_t round = 0; round < rounds; ++round) {
      const double tps = cpp_pass();
      if (tps > cpp_tps) {
        cpp_tps = tps;
        seconds = static_cast<double>(timed_tokens) / tps;
      }
      if (!skip_python) {
        nlohmann::json r = python_pass();
        if (py.is_null() || r["tokens_per_s"].get<double>() > py["tokens_per_s"].get<double>()) py = r;
      }
    }
    const double cpp_rss = peak_rss_mb();
    std::cout << fmt::format(
        "LoRA step, {} timed steps x batch {} (lengths from {}/train.jsonl, max {}), hidden {} x {} layers, "
        "rank {} all-linear, bf16 autocast {}, {} threads, best of {} alternating rounds\n",
        steps, batch, data_dir, max_length, hidden, layers, rank, bf16 ? "on" : "off", threads, rounds);
    std::cout << fmt::format("| implementation | tokens/s | peak RSS MB | model GFLOP/s | of bf16 matmul peak |\n|---|---|---|---|---|\n");
    std::cout << fmt::format("| mcip (C++/LibTorch) | {:.0f} | {:.0f} | {:.1f} | {:.1f}% |\n", cpp_tps, cpp_rss,
                             flops / seconds / 1e9, 100 * flops / seconds / 1e9 / peak);
    if (!py.is_null()) {
      const double pys = py["seconds"].get<double>();
      std::cout << fmt::format("| PyTorch eager (Python {}) | {:.0f} | {:.0f} | {:.1f} | {:.1f}% |\n", py["torch"].get<std::string>(),
                               py["tokens_per_s"].get<double>(), py["peak_rss_mb"].get<double>(), flops / pys / 1e9,
                               100 * flops / pys / 1e9 / peak);
      std::cout << fmt::format("speedup: {:.2f}x tokens/s\n", cpp_tps / py["tokens_per_s"].get<double>());
    }
    std::cout << fmt::format("bf16 matmul 1024^3 on this machine: {:.1f} GFLOP/s ({} threads)\n", peak, threads);
    return 0;
  });
}
