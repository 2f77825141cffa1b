// LoRA training-step throughput: mcip's decoder + trainer step vs a plain PyTorch-eager Python
// loop (bench/train/python_lora.py, Debian's python3-torch) on the same architecture, examples
// drawn from the synthesized dataset and the same thread count, in two comparisons:
//   real: the same examples, batched as each side would: the trainer's length-bucketed batches
//         (data.bucket_batches) vs plain random batches padded to their longest example;
//         tokens/s counts real (non-pad) tokens. This is the target.
//   same: both sides run identical (bucketed) batches: the kernel-level ratio.
// plus peak RSS and the fraction of this machine's measured bf16 matmul rate achieved.
//
//   bench_train --config configs/guardian-tiny-cpu.yaml --data DIR --tokenizer tokenizer.model [--set key=value ...]
//   bench_train --data DIR --tokenizer tokenizer.model [--rendering mci --max-length 256 --hidden 256 ...]
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/optim/adamw.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mcip/cli.h"
#include "mcip/error.h"
#include "mcip/lora.h"
#include "mcip/model.h"
#include "mcip/taxonomy.h"
#include "mcip/tokenizer.h"
#include "mcip/trainer_config.h"
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

// Seconds on the chosen clock: wall time, or this process's CPU time (user + system), which on a
// machine shared with other jobs counts only the cycles this process got.
double now_seconds(bool cpu_clock) {
  if (!cpu_clock) return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

using Lengths = std::vector<std::vector<std::int64_t>>;  // per batch, the real length of each row

// Model FLOPs of the timed batches as run (padded to each batch's longest row): frozen base
// linears cost forward + input gradient (4N per token, no weight gradient); attention scores and
// values 3 x 4*t*d per token and layer.
double step_flops(const Lengths& batches, std::int64_t warmup, double linear_params, std::int64_t hidden,
                  std::int64_t layers) {
  double flops = 0;
  for (size_t s = static_cast<size_t>(warmup); s < batches.size(); ++s) {
    std::int64_t t = 0;
    for (auto n : batches[s]) t = std::max(t, n);
    const auto rows = static_cast<double>(batches[s].size());
    flops += 4.0 * linear_params * rows * static_cast<double>(t) +
             3.0 * 4.0 * rows * static_cast<double>(t * t) * static_cast<double>(hidden * layers);
  }
  return flops;
}

std::int64_t timed_tokens(const Lengths& batches, std::int64_t warmup, bool padded) {
  std::int64_t n = 0;
  for (size_t s = static_cast<size_t>(warmup); s < batches.size(); ++s) {
    std::int64_t t = 0;
    for (auto l : batches[s]) t = std::max(t, l);
    for (auto l : batches[s]) n += padded ? t : l;
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  return mcip::run_main("bench_train", [&] {
    CLI::App app{"LoRA step throughput: mcip (C++) vs PyTorch eager (Python)"};
    std::string clock = "wall";
    std::string config_file, data_dir, tokenizer_path, python = "/usr/bin/python3", compare = "both", rendering_name = "glaive";
    std::vector<std::string> overrides;
    std::string script = std::string(MCIP_SOURCE_DIR) + "/bench/train/python_lora.py";
    std::int64_t hidden = 256, layers = 4, heads = 4, kv_heads = 2, inter = 688, rank = 16, batch = 16, steps = 20,
                 warmup = 3, max_length = 256, keep_head = EncodeOptions{}.keep_head_tokens, threads = 2, seed = 7, rounds = 2,
                 bucket_batches = DataConfig{}.bucket_batches;
    double alpha = 0, rope_theta = 10000.0, rms_eps = 1e-5;
    std::vector<std::string> targets{"all-linear"};
    bool bf16 = true, skip_python = false, fused_lora = true, fuse_frozen = true, fused_softmax = true,
         causal_blocks = true;
    app.add_option("--config", config_file,
                   "Trainer config (e.g. configs/guardian-tiny-cpu.yaml): its finetune phase's data path (rendering, "
                   "max_length, bucket_batches, batch size), LoRA (rank, alpha, targets), architecture, bf16 and threads "
                   "are the defaults for every option below");
    app.add_option("--set", overrides, "Dotted config overrides (as for mcip-train), e.g. --set data.rendering=mci");
    app.add_option("--data", data_dir, "mcip-synth dataset dir (train.jsonl gives the length distribution)");
    app.add_option("--tokenizer", tokenizer_path, "SentencePiece model used to tokenize (default: the config's tokenizer.model)");
    app.add_option("--rendering", rendering_name, "glaive, jsonrpc or mci")->check(CLI::IsMember({"glaive", "jsonrpc", "mci"}));
    app.add_option("--hidden", hidden);
    app.add_option("--layers", layers);
    app.add_option("--heads", heads);
    app.add_option("--kv-heads", kv_heads);
    app.add_option("--intermediate", inter);
    app.add_option("--rank", rank);
    app.add_option("--alpha", alpha, "LoRA alpha (default 2 x rank)");
    app.add_option("--targets", targets, "LoRA target modules (all-linear or q_proj, v_proj, ...)");
    app.add_option("--batch", batch);
    app.add_option("--steps", steps, "Timed steps");
    app.add_option("--warmup", warmup, "Untimed steps first");
    app.add_option("--max-length", max_length);
    app.add_option("--bucket-batches", bucket_batches, "The trainer's data.bucket_batches (real comparison)");
    app.add_option("--threads", threads);
    app.add_option("--seed", seed);
    app.add_option("--rounds", rounds, "Alternating C++/Python rounds; each side's best is reported");
    app.add_option("--compare", compare, "real, same or both")->check(CLI::IsMember({"real", "same", "both"}));
    app.add_option("--bf16", bf16, "bf16 autocast on both sides");
    app.add_option("--python", python);
    app.add_flag("--skip-python", skip_python);
    app.add_option("--clock", clock,
                   "Step times on the wall clock or as process CPU time (cpu: fairer on a shared machine; only "
                   "meaningful with --threads 1, where a waiting thread burns no CPU)")
        ->check(CLI::IsMember({"wall", "cpu"}));
    app.add_option("--fused-lora", fused_lora, "C++ side: LoRA linears as one autograd function (A/B switch)");
    app.add_option("--fused-softmax", fused_softmax, "C++ side: attention's masked softmax as one kernel (A/B switch)");
    app.add_option("--causal-blocks", causal_blocks, "C++ side: causal attention in two query blocks (A/B switch)");
    app.add_option("--fuse-frozen", fuse_frozen, "C++ side: frozen weights cast once and q|k|v, gate|up as one GEMM (A/B switch)");
    std::string profile_file;
    app.add_option("--profile", profile_file, "Write a Chrome trace of one C++ pass over the 'same' batches and exit");
    if (int rc = mcip::parse_cli(app, argc, argv); rc >= 0) return rc;

    // A config supplies what the command line leaves unset, so the bench measures what that
    // config trains (the lead's demo config by default in TRAINER.md).
    DataConfig dc;
    if (!config_file.empty()) {
      const TrainerConfig c = TrainerConfig::load(config_file, overrides);
      const PhaseConfig& p = c.finetune;
      const ArchitectureConfig& a = c.model.architecture;
      auto take = [&](const char* flag, auto& var, auto value) {
        if (app.count(flag) == 0) var = value;
      };
      dc = c.data;
      take("--data", data_dir, c.data.dir.string());
      take("--tokenizer", tokenizer_path, c.tokenizer.model.string());
      take("--max-length", max_length, p.max_length > 0 ? p.max_length : c.data.max_length);
      take("--bucket-batches", bucket_batches, c.data.bucket_batches);
      take("--batch", batch, p.batch_size);
      take("--rank", rank, p.lora.rank);
      take("--alpha", alpha, p.lora.alpha);
      take("--targets", targets, p.lora.target_modules);
      take("--hidden", hidden, a.hidden_size);
      take("--intermediate", inter, a.intermediate_size);
      take("--layers", layers, a.num_hidden_layers);
      take("--heads", heads, a.num_attention_heads);
      take("--kv-heads", kv_heads, a.num_key_value_heads);
      take("--threads", threads, c.threads);
      take("--seed", seed, static_cast<std::int64_t>(c.seed));
      take("--bf16", bf16, c.bf16_autocast);
      keep_head = c.data.keep_head_tokens;
      rope_theta = a.rope_theta;
      rms_eps = a.rms_norm_eps;
      if (app.count("--rendering") == 0) rendering_name = to_string(c.data.rendering);
      if (p.mode != PhaseMode::Lora || p.objective != Objective::Classify)
        throw mcip::InputError(config_file, 0, "finetune", "bench_train measures a LoRA classify phase");
    } else if (!overrides.empty()) {
      throw mcip::InputError("command line", 0, "--set", "overrides need --config");
    }
    if (data_dir.empty()) throw mcip::InputError("command line", 0, "--data", "no dataset: pass --data or a --config with data.dir");
    if (tokenizer_path.empty())
      throw mcip::InputError("command line", 0, "--tokenizer", "no tokenizer: pass --tokenizer or a config with tokenizer.model");
    if (alpha <= 0) alpha = 2.0 * static_cast<double>(rank);
    dc.rendering = rendering_name == "mci" ? Rendering::Mci : rendering_name == "jsonrpc" ? Rendering::JsonRpc : Rendering::Glaive;
    dc.keep_head_tokens = keep_head;
    at::set_num_threads(static_cast<int>(threads));
    const bool cpu_clock = clock == "cpu";

    // Examples with the trainer's tokenization and truncation.
    const auto sp = mcip::tokenizer::SentencePiece::load(tokenizer_path);
    dc.dir = data_dir;
    if (dc.cache_dir.empty()) dc.cache_dir = std::filesystem::temp_directory_path() / "mcip-bench-train-cache";
    const auto tax = mcip::taxonomy::Taxonomy::embedded();
    TokenizedSplit split = load_split(dc, "train", Objective::Classify, max_length, 0, sp, tax, threads);
    const auto total = static_cast<size_t>(warmup + steps);
    if (split.examples.size() < total * static_cast<size_t>(batch))
      throw std::runtime_error("not enough examples in the dataset for --steps x --batch");
    auto length_of = [&](std::int64_t row) { return static_cast<std::int64_t>(split.examples[static_cast<size_t>(row)].ids.size()); };

    // same: the trainer's bucketed batches of epoch 0, run by both sides.
    Lengths same;
    for (const auto& rows : epoch_batches(split, batch, bucket_batches, static_cast<std::uint64_t>(seed), 0)) {
      if (same.size() == total) break;
      same.emplace_back();
      for (auto r : rows) same.back().push_back(length_of(r));
    }
    // real: one random subset of examples; Python takes it in random batches, the trainer
    // buckets it exactly as epoch_batches does.
    std::vector<std::int64_t> order(split.examples.size());
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(static_cast<std::uint64_t>(seed) * 7919 + 1);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    order.resize(total * static_cast<size_t>(batch));
    TokenizedSplit subset;
    for (auto r : order) subset.examples.push_back(split.examples[static_cast<size_t>(r)]);
    Lengths real_python, real_cpp;
    for (size_t s = 0; s < total; ++s) {
      real_python.emplace_back();
      for (size_t i = 0; i < static_cast<size_t>(batch); ++i)
        real_python.back().push_back(static_cast<std::int64_t>(subset.examples[s * static_cast<size_t>(batch) + i].ids.size()));
    }
    for (const auto& rows : epoch_batches(subset, batch, bucket_batches, static_cast<std::uint64_t>(seed), 0)) {
      real_cpp.emplace_back();
      for (auto r : rows) real_cpp.back().push_back(static_cast<std::int64_t>(subset.examples[static_cast<size_t>(r)].ids.size()));
    }

    nlohmann::json mc = {{"architectures", {"LlamaForSequenceClassification"}}, {"model_type", "llama"}, {"vocab_size", sp.vocab_size()},
                         {"hidden_size", hidden}, {"intermediate_size", inter}, {"num_hidden_layers", layers},
                         {"num_attention_heads", heads}, {"num_key_value_heads", kv_heads},
                         {"max_position_embeddings", max_length}, {"rms_norm_eps", rms_eps}, {"rope_theta", rope_theta},
                         {"tie_word_embeddings", true},
                         {"num_labels", 11}};
    Decoder model = Decoder::random(ModelConfig::from_json(mc, "bench"), static_cast<std::uint64_t>(seed));
    LoraConfig lc;
    lc.rank = rank;
    lc.alpha = alpha;
    lc.target_modules = targets;
    apply_lora(model, lc);
    model.set_fused_lora(fused_lora);
    model.set_fused_softmax(fused_softmax);
    model.set_causal_blocks(causal_blocks);
    model.set_fuse_frozen_projections(fuse_frozen);
    model.score_weight.set_requires_grad(true);
    model.train(true);
    std::vector<at::Tensor> params = model.trainable_parameters();
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(1e-3));
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<std::uint64_t>(seed));

    // One C++ pass over the batches: untimed warmup steps, then the time of each timed step.
    auto cpp_pass = [&](const Lengths& batches) {
      std::vector<double> step_seconds;
      for (size_t s = 0; s < batches.size(); ++s) {
        const auto& l = batches[s];
        std::int64_t t = 0;
        for (auto n : l) t = std::max(t, n);
        const auto b = static_cast<std::int64_t>(l.size());
        const double t0 = now_seconds(cpu_clock);
        at::Tensor ids = at::randint(4, sp.vocab_size(), {b, t}, gen, at::kLong), mask = at::zeros({b, t}, at::kLong);
        std::int64_t step_tokens = 0;
        for (std::int64_t i = 0; i < b; ++i) {
          mask[i].narrow(0, 0, l[static_cast<size_t>(i)]).fill_(1);
          step_tokens += l[static_cast<size_t>(i)];
        }
        at::Tensor labels = at::randint(0, 11, {b}, gen, at::kLong);
        at::Tensor loss;
        {
          AutocastScope ac(model.device(), bf16);
          loss = at::cross_entropy_loss(model.classify({ids, mask, {}, {}}), labels);
        }
        loss.backward();
        {
          // As torch.nn.utils.clip_grad_norm_: one norm over all gradients, one sync.
          c10::NoGradGuard ng;
          std::vector<at::Tensor> norms;
          for (auto& p : params) norms.push_back(p.grad().norm());
          const double norm = at::stack(norms).norm().item<double>();
          if (norm > 1.0)
            for (auto& p : params) p.grad().mul_(1.0 / (norm + 1e-6));
        }
        opt.step();
        opt.zero_grad();
        if (static_cast<std::int64_t>(s) >= warmup) step_seconds.push_back(now_seconds(cpu_clock) - t0);
        (void)step_tokens;
      }
      return step_seconds;
    };
    auto python_pass = [&](const Lengths& batches) {
      const auto spec_path = std::filesystem::temp_directory_path() / fmt::format("mcip-bench-train-{}.json", getpid());
      nlohmann::json spec = {{"threads", threads}, {"seed", seed}, {"rank", rank}, {"alpha", alpha}, {"targets", targets},
                             {"bf16", bf16}, {"warmup", warmup}, {"batches", batches}, {"clock", clock},
                             {"model", {{"vocab", sp.vocab_size()}, {"hidden", hidden}, {"layers", layers}, {"heads", heads},
                                        {"kv_heads", kv_heads}, {"head_dim", hidden / heads}, {"inter", inter},
                                        {"rope_theta", rope_theta}, {"rms_norm_eps", rms_eps}}}};
      std::ofstream(spec_path) << spec.dump();
      FILE* p = popen(fmt::format("'{}' '{}' '{}'", python, script, spec_path.string()).c_str(), "r");
      std::string out;
      char buf[4096];
      while (p && fgets(buf, sizeof buf, p)) out += buf;
      const int rc = p ? pclose(p) : -1;
      std::filesystem::remove(spec_path);
      if (rc != 0 || out.rfind('{') == std::string::npos)
        throw std::runtime_error("the Python baseline failed (is python3-torch installed?): " + out);
      return nlohmann::json::parse(out.substr(out.rfind('{')));
    };

    if (!profile_file.empty()) {
      cpp_pass(same);  // warm
      torch::autograd::profiler::RecordProfile guard(profile_file);
      cpp_pass(same);
      return 0;
    }
    // Each pass runs the same batches, so each side keeps, per batch, its fastest time over all
    // rounds: bursts of load from other processes (seconds long on a shared machine) then
    // cost a side only if they hit the same step in every round.
    struct Comparison {
      std::string name;
      const Lengths* cpp_batches = nullptr;
      const Lengths* python_batches = nullptr;
      std::vector<double> cpp_best, python_best;  // per timed step, seconds
      double cpp_tps = 0, python_tps = 0, python_rss = 0, cpp_pass_tps = 0, python_pass_tps = 0;
      std::string torch_version;
    };
    auto keep_fastest = [](std::vector<double>& best, const std::vector<double>& times) {
      if (best.empty()) best = times;
      for (size_t i = 0; i < best.size() && i < times.size(); ++i) best[i] = std::min(best[i], times[i]);
    };
    auto sum = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); };
    std::vector<Comparison> comparisons;
    auto add_comparison = [&](const std::string& name, const Lengths& cpp_batches, const Lengths& python_batches) {
      Comparison c;
      c.name = name;
      c.cpp_batches = &cpp_batches;
      c.python_batches = &python_batches;
      comparisons.push_back(c);
    };
    if (compare != "same") add_comparison("real", real_cpp, real_python);
    if (compare != "real") add_comparison("same", same, same);
    // Alternate the sides for `rounds` rounds and keep each side's best pass, so load from other
    // processes on a shared machine penalises both alike.
    for (std::int64_t round = 0; round < rounds; ++round)
      for (auto& c : comparisons) {
        const auto times = cpp_pass(*c.cpp_batches);
        const double real_tokens = static_cast<double>(timed_tokens(*c.cpp_batches, warmup, false));
        c.cpp_pass_tps = std::max(c.cpp_pass_tps, real_tokens / sum(times));
        keep_fastest(c.cpp_best, times);
        c.cpp_tps = real_tokens / sum(c.cpp_best);
        if (skip_python) continue;
        const nlohmann::json r = python_pass(*c.python_batches);
        c.python_pass_tps = std::max(c.python_pass_tps, r["tokens_per_s"].get<double>());
        keep_fastest(c.python_best, r["step_seconds"].get<std::vector<double>>());
        c.python_tps = static_cast<double>(timed_tokens(*c.python_batches, warmup, false)) / sum(c.python_best);
        c.python_rss = std::max(c.python_rss, r["peak_rss_mb"].get<double>());
        c.torch_version = r["torch"].get<std::string>();
      }
    const double cpp_rss = peak_rss_mb();
    const double peak = bf16_matmul_gflops(1024);
    const double linear_params =
        static_cast<double>(layers) * static_cast<double>(hidden * (heads * (hidden / heads)) * 2 +
                                                          hidden * kv_heads * (hidden / heads) * 2 + 3 * hidden * inter);

    std::string target_list;
    for (const auto& t : targets) target_list += (target_list.empty() ? "" : ",") + t;
    std::cout << fmt::format(
        "LoRA step, {} timed steps x batch {} ({} warmup) from {}/train.jsonl ({} rendering, max_length {}, bucket_batches {}), "
        "hidden {} x {} layers, GQA {}/{}, LoRA r{} alpha {} on {}, bf16 autocast {}, {} threads, {} alternating rounds, "
        "fastest {} time per step\n",
        steps, batch, warmup, data_dir, rendering_name, max_length, bucket_batches, hidden, layers, heads, kv_heads, rank,
        alpha, target_list, bf16 ? "on" : "off", threads, rounds, cpu_clock ? "CPU" : "wall");
    {
      // The length distribution the "real" comparison samples from.
      std::vector<std::int64_t> lengths;
      for (const auto& e : split.examples) lengths.push_back(static_cast<std::int64_t>(e.ids.size()));
      std::sort(lengths.begin(), lengths.end());
      auto q = [&](double f) { return lengths[static_cast<size_t>(f * static_cast<double>(lengths.size() - 1))]; };
      std::cout << fmt::format("train split: {} examples, tokens min {} / p10 {} / median {} / p90 {} / max {}, {:.1f}% truncated to {}\n",
                               lengths.size(), lengths.front(), q(0.1), q(0.5), q(0.9), lengths.back(),
                               100.0 * static_cast<double>(split.truncated) / static_cast<double>(lengths.size()), max_length);
    }
    std::cout << "| comparison | implementation | batches | real tokens/s | padding | peak RSS MB | model GFLOP/s | of bf16 "
                 "matmul rate |\n|---|---|---|---|---|---|---|---|\n";
    for (const auto& c : comparisons) {
      auto row = [&](const std::string& impl, const Lengths& batches, const std::string& kind, double tps, double rss) {
        const double real = static_cast<double>(timed_tokens(batches, warmup, false));
        const double pad = static_cast<double>(timed_tokens(batches, warmup, true));
        const double secs = real / tps;
        const double gflops = step_flops(batches, warmup, linear_params, hidden, layers) / secs / 1e9;
        std::cout << fmt::format("| {} | {} | {} | {:.0f} | {:.1f}% | {:.0f} | {:.1f} | {:.1f}% |\n", c.name, impl, kind, tps,
                                 100.0 * (pad - real) / pad, rss, gflops, 100.0 * gflops / peak);
      };
      // bucket_batches 1 sorts only within each batch: the trainer's batches are then random too.
      const std::string trainer_kind = bucket_batches > 1 ? fmt::format("trainer's (bucketed x{})", bucket_batches)
                                                          : "trainer's (random)";
      const std::string cpp_kind = trainer_kind, py_kind = c.name == "real" ? "random" : trainer_kind;
      row("mcip (C++/LibTorch)", *c.cpp_batches, cpp_kind, c.cpp_tps, cpp_rss);
      if (c.python_tps > 0) row(fmt::format("PyTorch eager {}", c.torch_version), *c.python_batches, py_kind, c.python_tps, c.python_rss);
    }
    for (const auto& c : comparisons)
      if (c.python_tps > 0)
        std::cout << fmt::format("{}: {:.2f}x real tokens/s (fastest time per step over the rounds); best whole pass {:.0f} vs {:.0f} "
                                 "= {:.2f}x\n",
                                 c.name, c.cpp_tps / c.python_tps, c.cpp_pass_tps, c.python_pass_tps,
                                 c.cpp_pass_tps / c.python_pass_tps);
    std::cout << fmt::format("bf16 matmul 1024^3 on this machine: {:.1f} GFLOP/s ({} threads)\n", peak, threads);
    return 0;
  });
}
