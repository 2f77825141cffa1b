// Model-core throughput on this machine: forward (inference) and LoRA forward+backward
// tokens/s for a small guardian-sized decoder, in fp32, under bf16 autocast, with bf16 base
// weights, and with activation recomputation. Padded batches like the trainer's.
//
// usage: bench_model [--hidden 256] [--layers 6] [--batch 8] [--seq 256] [--iters 5] [--threads N]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mcip/lora.h"
#include "mcip/model.h"

using namespace mcip::train;

namespace {

struct Args {
  std::int64_t hidden = 256, layers = 6, heads = 8, kv_heads = 4, vocab = 8000, batch = 8, seq = 256, iters = 5;
  int threads = 0;
};

ModelConfig make_config(const Args& a) {
  nlohmann::json j = {{"model_type", "llama"},       {"vocab_size", a.vocab},      {"hidden_size", a.hidden},
                      {"intermediate_size", a.hidden * 8 / 3 / 64 * 64 + 64},     {"num_hidden_layers", a.layers},
                      {"num_attention_heads", a.heads}, {"num_key_value_heads", a.kv_heads},
                      {"max_position_embeddings", 4096}, {"num_labels", 11},
                      {"architectures", {"LlamaForSequenceClassification"}}};
  return ModelConfig::from_json(j, "bench");
}

Batch make_batch(const Args& a) {
  at::manual_seed(1);
  Batch b;
  b.input_ids = at::randint(4, a.vocab, {a.batch, a.seq}, at::kLong);
  b.attention_mask = at::ones({a.batch, a.seq}, at::kLong);
  // Variable lengths, right-padded: row i keeps between 50% and 100% of the tokens.
  for (std::int64_t i = 0; i < a.batch; ++i) {
    const std::int64_t len = a.seq / 2 + (a.seq / 2) * i / std::max<std::int64_t>(1, a.batch - 1);
    b.attention_mask[i].narrow(0, len, a.seq - len).zero_();
  }
  return b;
}

template <typename F>
double seconds_per_iter(std::int64_t iters, F&& f) {
  f();  // warm-up
  auto t0 = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < iters; ++i) f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / static_cast<double>(iters);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::int64_t v = std::atoll(argv[i + 1]);
    if (k == "--hidden") a.hidden = v;
    else if (k == "--layers") a.layers = v;
    else if (k == "--batch") a.batch = v;
    else if (k == "--seq") a.seq = v;
    else if (k == "--iters") a.iters = v;
    else if (k == "--threads") a.threads = static_cast<int>(v);
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  if (a.threads > 0) at::set_num_threads(a.threads);
  const ModelConfig config = make_config(a);
  const Batch batch = make_batch(a);
  const double real_tokens = batch.attention_mask.sum().item<double>();
  std::cout << fmt::format("decoder hidden {} layers {} heads {}/{} vocab {} | batch {} x {} ({} real tokens) | {} threads\n",
                           a.hidden, a.layers, a.heads, a.kv_heads, a.vocab, a.batch, a.seq, real_tokens,
                           at::get_num_threads());
  std::cout << fmt::format("{:<34} {:>12} {:>14}\n", "mode", "ms/iter", "real tokens/s");
  auto report = [&](const std::string& name, double s) {
    std::cout << fmt::format("{:<34} {:>12.1f} {:>14.0f}\n", name, s * 1e3, real_tokens / s);
  };
  struct Mode {
    std::string name;
    at::ScalarType base;
    bool autocast, recompute;
  };
  for (const Mode& mode : {Mode{"fp32", at::kFloat, false, false}, Mode{"fp32 + bf16 autocast", at::kFloat, true, false},
                           Mode{"bf16 base + bf16 autocast", at::kBFloat16, true, false},
                           Mode{"bf16 base + autocast + recompute", at::kBFloat16, true, true}}) {
    Decoder m = Decoder::random(config, 7, mode.base);
    LoraConfig lc;
    lc.target_modules = {"all-linear"};
    lc.rank = 16;
    apply_lora(m, lc);
    m.score_weight.set_requires_grad(true);
    m.set_recompute(mode.recompute);
    if (!mode.recompute) {
      const double fwd = seconds_per_iter(a.iters, [&] {
        at::NoGradGuard g;
        AutocastScope scope(m.device(), mode.autocast);
        m.classify(batch);
      });
      report("forward, " + mode.name, fwd);
    }
    at::Tensor labels = at::randint(0, 11, {a.batch}, at::kLong);
    const double step = seconds_per_iter(a.iters, [&] {
      at::Tensor loss;
      {
        AutocastScope scope(m.device(), mode.autocast);
        loss = at::cross_entropy_loss(m.classify(batch), labels);
      }
      loss.backward();
      for (auto& p : m.trainable_parameters()) p.mutable_grad() = at::Tensor();
    });
    report("LoRA fwd+bwd, " + mode.name, step);
  }
  return 0;
}
