#include "phase.h"

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <numeric>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/model.h"
#include "mcip/taxonomy.h"
#include "mcip/tokenizer.h"
#include "mcip/trainer.h"
#include "mcip/trainer_metrics.h"
#include "stop_signal.h"

namespace mcip::train {
namespace fs = std::filesystem;
namespace {

constexpr std::int64_t kIgnore = -100;

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const auto t = static_cast<long long>(s + 0.5);
  return t >= 3600 ? fmt::format("{}h{:02}m", t / 3600, t / 60 % 60) : fmt::format("{}m{:02}s", t / 60, t % 60);
}

// The learning rate at optimizer step `step` (0-based): linear warmup, then cosine to min_lr.
double learning_rate(const OptimConfig& o, std::int64_t step, std::int64_t total) {
  if (o.warmup_steps > 0 && step < o.warmup_steps)
    return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  const double span = std::max<std::int64_t>(1, total - o.warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / span);
  const double min_lr = o.lr * o.min_lr_ratio;
  return min_lr + 0.5 * (o.lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

// Items the loss is normalised by for one example: its class weight (classify) or its target
// tokens (lm: every next token; generate: the answer's tokens).
double example_count(const EncodedExample& e, Objective objective, const std::vector<double>& weights) {
  const auto n = static_cast<std::int64_t>(e.ids.size());
  switch (objective) {
    case Objective::Classify: return weights[static_cast<size_t>(e.label)];
    case Objective::LanguageModel: return static_cast<double>(n - 1);
    case Objective::Generate: return static_cast<double>(e.answer_start < 0 ? 0 : n - e.answer_start);
  }
  return 0;
}

struct Tensors {
  Batch batch;
  at::Tensor labels, weights, targets;
  std::int64_t tokens = 0;
};

Tensors make_tensors(const TokenizedSplit& split, const std::vector<std::int64_t>& rows, Objective objective,
                     std::int64_t pad_id, const std::vector<double>& class_w, c10::Device device) {
  std::int64_t t = 1;
  for (auto r : rows) t = std::max<std::int64_t>(t, static_cast<std::int64_t>(split.examples[static_cast<size_t>(r)].ids.size()));
  const auto b = static_cast<std::int64_t>(rows.size());
  at::Tensor ids = at::full({b, t}, pad_id, at::kLong), mask = at::zeros({b, t}, at::kLong);
  at::Tensor targets = at::full({b, t}, kIgnore, at::kLong);
  at::Tensor labels = at::empty({b}, at::kLong), weights = at::empty({b}, at::kFloat);
  auto ids_a = ids.accessor<std::int64_t, 2>(), mask_a = mask.accessor<std::int64_t, 2>();
  auto tg_a = targets.accessor<std::int64_t, 2>();
  Tensors out;
  for (std::int64_t i = 0; i < b; ++i) {
    const auto& e = split.examples[static_cast<size_t>(rows[static_cast<size_t>(i)])];
    const auto n = static_cast<std::int64_t>(e.ids.size());
    for (std::int64_t j = 0; j < n; ++j) {
      ids_a[i][j] = e.ids[static_cast<size_t>(j)];
      mask_a[i][j] = 1;
    }
    const std::int64_t first = objective == Objective::Generate ? std::max<std::int64_t>(1, e.answer_start) : 1;
    if (objective != Objective::Classify && (objective != Objective::Generate || e.answer_start >= 0))
      for (std::int64_t j = first; j < n; ++j) tg_a[i][j - 1] = e.ids[static_cast<size_t>(j)];
    labels[i] = static_cast<std::int64_t>(e.label);
    weights[i] = class_w.empty() ? 1.0 : class_w[static_cast<size_t>(e.label)];
    out.tokens += n;
  }
  out.batch.input_ids = ids.to(device);
  out.batch.attention_mask = mask.to(device);
  out.labels = labels.to(device);
  out.weights = weights.to(device);
  out.targets = targets.to(device);
  return out;
}

// Summed (not averaged) loss of one micro-batch; the caller divides by the window's count.
at::Tensor summed_loss(Decoder& model, const Tensors& t, Objective objective) {
  if (objective == Objective::Classify) {
    at::Tensor logits = model.classify(t.batch);
    return (at::cross_entropy_loss(logits, t.labels, {}, at::Reduction::None) * t.weights).sum();
  }
  at::Tensor hidden = model.hidden_states(t.batch);
  const std::int64_t h = hidden.size(-1);
  // Only positions with a target go through the LM head: the answer tokens for generate, and
  // no [b, t, vocab] tensor for the padding.
  at::Tensor flat_targets = t.targets.reshape({-1});
  at::Tensor positions = (flat_targets != kIgnore).nonzero().squeeze(1);
  at::Tensor logits = model.lm_logits(hidden.reshape({-1, h}).index_select(0, positions));
  return at::cross_entropy_loss(logits, flat_targets.index_select(0, positions), {}, at::Reduction::Sum);
}

// Evaluation order: fixed, length-sorted (little padding), batches dealt round-robin to ranks.
std::vector<std::vector<std::int64_t>> eval_batches(const TokenizedSplit& split, std::int64_t batch) {
  std::vector<std::int64_t> order(split.examples.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return split.examples[static_cast<size_t>(a)].ids.size() < split.examples[static_cast<size_t>(b)].ids.size();
  });
  std::vector<std::vector<std::int64_t>> out;
  for (size_t s = 0; s < order.size(); s += static_cast<size_t>(batch))
    out.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(s),
                     order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), s + static_cast<size_t>(batch))));
  return out;
}

// Greedy decoding of the answer and its "Choice: X" letter; -1 when none is produced.
std::vector<int> generate_choices(Decoder& model, const TokenizedSplit& split, const std::vector<std::int64_t>& rows,
                                  const tokenizer::SentencePiece& sp, std::int64_t max_new, std::int64_t pad_id,
                                  int classes, c10::Device device) {
  std::vector<std::vector<std::int64_t>> seqs;
  std::vector<size_t> prompt_len;
  for (auto r : rows) {
    const auto& e = split.examples[static_cast<size_t>(r)];
    const auto end = e.answer_start < 0 ? e.ids.size() : static_cast<size_t>(e.answer_start);
    seqs.emplace_back(e.ids.begin(), e.ids.begin() + static_cast<std::ptrdiff_t>(end));
    prompt_len.push_back(end);
  }
  std::vector<int> choice(rows.size(), -1);
  std::vector<bool> done(rows.size(), false);
  auto parse = [&](size_t i) {
    std::vector<int> gen(seqs[i].begin() + static_cast<std::ptrdiff_t>(prompt_len[i]), seqs[i].end());
    const std::string text = sp.decode(gen);
    const auto at = text.find("Choice:");
    if (at == std::string::npos) return;
    const auto letter = text.find_first_not_of(' ', at + 7);
    if (letter == std::string::npos) return;
    const int c = text[letter] - 'A';
    if (c >= 0 && c < classes) choice[i] = c;
    done[i] = true;
  };
  for (std::int64_t step = 0; step < max_new; ++step) {
    std::vector<size_t> active;
    for (size_t i = 0; i < seqs.size(); ++i)
      if (!done[i]) active.push_back(i);
    if (active.empty()) break;
    std::int64_t t = 0;
    for (auto i : active) t = std::max<std::int64_t>(t, static_cast<std::int64_t>(seqs[i].size()));
    at::Tensor ids = at::full({static_cast<std::int64_t>(active.size()), t}, pad_id, at::kLong);
    at::Tensor mask = at::zeros_like(ids);
    for (size_t k = 0; k < active.size(); ++k)
      for (size_t j = 0; j < seqs[active[k]].size(); ++j) {
        ids[static_cast<std::int64_t>(k)][static_cast<std::int64_t>(j)] = seqs[active[k]][j];
        mask[static_cast<std::int64_t>(k)][static_cast<std::int64_t>(j)] = 1;
      }
    Batch b{ids.to(device), mask.to(device), {}, {}};
    at::Tensor next = model.next_token_logits(b).argmax(-1).cpu();
    for (size_t k = 0; k < active.size(); ++k) {
      const auto i = active[k];
      const std::int64_t tok = next[static_cast<std::int64_t>(k)].item<std::int64_t>();
      if (tok == sp.eos_id()) {
        done[i] = true;
        continue;
      }
      seqs[i].push_back(tok);
      // Stop as soon as a letter follows "Choice:".
      if (sp.decode({static_cast<int>(tok)}).find_first_not_of(" ") != std::string::npos) parse(i);
    }
  }
  for (size_t i = 0; i < seqs.size(); ++i)
    if (choice[i] < 0) parse(i);
  return choice;
}

struct EvalOutcome {
  EvalAccumulator acc;
  std::int64_t unparsed = 0;
};

EvalOutcome evaluate(PhaseContext& ctx, const TokenizedSplit& split, bool final_eval) {
  const Objective objective = ctx.phase.objective;
  std::vector<std::string> labels;
  for (const auto* l : ctx.taxonomy.benchmark_labels()) labels.push_back(l->bench_label);
  EvalOutcome out{EvalAccumulator(labels, 0)};
  const bool was_training = ctx.model.is_training();
  ctx.model.train(false);
  c10::NoGradGuard no_grad;
  AutocastScope autocast(ctx.device, ctx.config.bf16_autocast);
  const std::int64_t pad = ctx.sp.pad_id() >= 0 ? ctx.sp.pad_id() : ctx.sp.eos_id();
  const auto batches = eval_batches(split, ctx.phase.batch_size * 2);
  const std::vector<double> no_weights;
  for (size_t bi = static_cast<size_t>(ctx.dist.rank()); bi < batches.size(); bi += static_cast<size_t>(ctx.dist.world())) {
    const auto& rows = batches[bi];
    Tensors t = make_tensors(split, rows, objective, pad, no_weights, ctx.device);
    if (objective == Objective::Classify) {
      at::Tensor logits = ctx.model.classify(t.batch);
      out.acc.add_loss(at::cross_entropy_loss(logits, t.labels, {}, at::Reduction::Sum).item<double>(),
                       static_cast<double>(rows.size()));
      at::Tensor pred = logits.argmax(-1).cpu();
      for (size_t i = 0; i < rows.size(); ++i)
        out.acc.add(split.examples[static_cast<size_t>(rows[i])].label, static_cast<int>(pred[static_cast<std::int64_t>(i)].item<std::int64_t>()));
    } else {
      double count = 0;
      for (auto r : rows) count += example_count(split.examples[static_cast<size_t>(r)], objective, no_weights);
      out.acc.add_loss(summed_loss(ctx.model, t, objective).item<double>(), count);
      if (objective == Objective::Generate && final_eval) {
        const auto choices = generate_choices(ctx.model, split, rows, ctx.sp, ctx.phase.generate_max_new_tokens, pad,
                                              static_cast<int>(labels.size()), ctx.device);
        for (size_t i = 0; i < rows.size(); ++i) {
          if (choices[i] < 0) ++out.unparsed;
          else out.acc.add(split.examples[static_cast<size_t>(rows[i])].label, choices[i]);
        }
      }
    }
  }
  std::vector<double> counters = out.acc.counters();
  counters.push_back(static_cast<double>(out.unparsed));
  ctx.dist.all_reduce_sum(counters);
  out.unparsed = static_cast<std::int64_t>(counters.back());
  counters.pop_back();
  out.acc.set_counters(counters);
  ctx.model.train(was_training);
  return out;
}

// Global L2 norm of all gradients, scaled down to `max_norm` when above it (as torch's
// clip_grad_norm_). Returns the norm before clipping.
double clip_gradients(const std::vector<at::Tensor>& params, double max_norm) {
  c10::NoGradGuard no_grad;
  double sq = 0;
  for (const auto& p : params)
    if (p.grad().defined()) sq += p.grad().to(at::kFloat).pow(2).sum().item<double>();
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm)
    for (const auto& p : params)
      if (p.grad().defined()) p.grad().mul_(max_norm / (norm + 1e-6));
  return norm;
}

bool better(const std::string& metric, double candidate, double best, bool have_best) {
  if (!std::isfinite(candidate)) return false;
  if (!have_best) return true;
  return metric == "loss" ? candidate < best : candidate > best;
}

}  // namespace

void MetricsLog::append(const nlohmann::json& line) {
  if (!enabled_) return;
  std::ofstream out(file_, std::ios::app);
  out << line.dump() << "\n";
  out.flush();
  if (!out) throw TrainingFailure(fmt::format("cannot append to {} (disk full?)", file_.string()));
}

void MetricsLog::truncate_after(const std::string& phase, std::int64_t step) {
  if (!enabled_ || !fs::exists(file_)) return;
  std::ifstream in(file_);
  std::string line, kept;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;  // a line cut by the kill
    if (j.value("phase", "") == phase && j.value("step", std::int64_t{0}) > step) continue;
    kept += line + "\n";
  }
  write_file_atomic(file_, kept);
}

PhaseResult run_phase(PhaseContext& ctx) {
  const PhaseConfig& P = ctx.phase;
  const TrainerConfig& C = ctx.config;
  const Objective objective = P.objective;
  const std::int64_t max_length = P.max_length > 0 ? P.max_length : C.data.max_length;
  if (max_length > ctx.model.config().max_position_embeddings)
    throw InputError(C.config_file.string(), 0, ctx.name + ".max_length",
                     fmt::format("{} exceeds the model's max_position_embeddings ({})", max_length,
                                 ctx.model.config().max_position_embeddings));
  auto& log = ctx.log;
  const bool main = ctx.dist.is_main();

  // Data.
  const auto t_data = Clock::now();
  TokenizedSplit train = load_split(C.data, "train", objective, max_length, C.data.max_train_examples, ctx.sp,
                                    ctx.taxonomy, C.data.tokenize_threads);
  // The periodic evaluations read the first records of what the final one reads (or the reverse).
  std::vector<TokenizedSplit> final_evals, evals;
  for (const auto& s : C.data.eval_splits) {
    TokenizedSplit all = load_split(C.data, s, objective, max_length, eval_examples_to_load(P, C.data), ctx.sp,
                                    ctx.taxonomy, C.data.tokenize_threads);
    evals.push_back(first_examples(all, periodic_eval_examples(P, C.data)));
    final_evals.push_back(first_examples(all, final_eval_examples(P, C.data)));
  }
  if (main) {
    log << fmt::format("[{}] data: {} train examples ({} tokens, {} truncated to {}{}), {:.1f}s\n", ctx.name,
                       train.examples.size(), train.total_tokens, train.truncated, max_length,
                       train.from_cache ? ", cached" : "", seconds_since(t_data));
    for (size_t i = 0; i < evals.size(); ++i)
      log << fmt::format("[{}] data: {} {} examples{}{}\n", ctx.name, evals[i].name, evals[i].examples.size(),
                         final_evals[i].examples.size() != evals[i].examples.size()
                             ? fmt::format(" ({} in the final evaluation)", final_evals[i].examples.size())
                             : "",
                         evals[i].from_cache ? " (cached)" : "");
  }
  const std::vector<double> class_w = objective == Objective::Classify
                                          ? class_weights(train.class_counts, C.data.class_weighting)
                                          : std::vector<double>(train.class_counts.size(), 1.0);

  // Optimizer and schedule.
  std::vector<at::Tensor> params;
  for (auto& [n, t] : named_trainable(ctx.model)) params.push_back(*t);
  if (params.empty()) throw TrainingFailure(fmt::format("[{}] nothing to train", ctx.name));
  std::int64_t trainable_count = 0;
  for (const auto& p : params) trainable_count += p.numel();
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(P.optim.lr)
                                            .betas({P.optim.beta1, P.optim.beta2})
                                            .eps(P.optim.eps)
                                            .weight_decay(P.optim.weight_decay));
  const std::int64_t world = ctx.dist.world(), rank = ctx.dist.rank();
  const std::int64_t global_batch = P.batch_size * world;
  const auto batches_per_epoch = static_cast<std::int64_t>(
      epoch_batches(train, global_batch, C.data.bucket_batches, C.seed, 0).size());
  const std::int64_t total_steps =
      P.steps > 0 ? P.steps
                  : std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(P.epochs * static_cast<double>(batches_per_epoch) /
                                                                                   static_cast<double>(P.grad_accum))));
  const std::int64_t pad = ctx.sp.pad_id() >= 0 ? ctx.sp.pad_id() : ctx.sp.eos_id();

  // Resume.
  if (main) fs::create_directories(ctx.dir);
  const fs::path ckpt_dir = ctx.dir / "checkpoints", best_file = ctx.dir / "best.pt";
  TrainState state;
  bool have_best = false;
  if (C.resume) {
    if (auto latest = latest_train_checkpoint(ckpt_dir)) {
      state = load_train_checkpoint(*latest, ctx.model, optimizer);
      have_best = state.best_step >= 0;
      ctx.metrics.truncate_after(ctx.name, state.step);
      if (main) log << fmt::format("[{}] resumed from {} (step {}/{})\n", ctx.name, latest->string(), state.step, total_steps);
    }
  } else if (main && fs::exists(ckpt_dir)) {
    fs::remove_all(ckpt_dir);
  }
  ctx.dist.barrier();
  if (main)
    log << fmt::format("[{}] {} {} | {} trainable parameters | {} steps x {} micro-batches of {} x {} process(es) | "
                       "{} batches/epoch\n",
                       ctx.name, P.mode == PhaseMode::Lora ? "lora" : "full", to_string(objective), trainable_count,
                       total_steps, P.grad_accum, P.batch_size, world, batches_per_epoch);

  const char* nan_hook = std::getenv("MCIP_TRAIN_TEST_NAN_AT_STEP");  // fault injection for tests
  const std::int64_t nan_step = nan_hook ? std::atoll(nan_hook) : -1;

  std::int64_t cached_epoch = -1;
  std::vector<std::vector<std::int64_t>> epoch_order;
  auto micro_rows = [&](std::int64_t micro) -> const std::vector<std::int64_t>& {
    const std::int64_t epoch = micro / batches_per_epoch;
    if (epoch != cached_epoch) {
      epoch_order = epoch_batches(train, global_batch, C.data.bucket_batches, C.seed, epoch);
      cached_epoch = epoch;
    }
    return epoch_order[static_cast<size_t>(micro % batches_per_epoch)];
  };

  auto save_checkpoint_now = [&] {
    if (main) save_train_checkpoint(ckpt_dir, ctx.model, optimizer, state, P.keep_last);
    ctx.dist.barrier();
  };

  auto run_eval = [&](bool final_eval, const std::string& only_split = "") {
    nlohmann::json results = nlohmann::json::object();
    std::string reports;
    for (const auto& split : final_eval ? final_evals : evals) {
      if (!only_split.empty() && split.name != only_split) continue;
      const auto t0 = Clock::now();
      EvalOutcome r = evaluate(ctx, split, final_eval);
      nlohmann::json j = r.acc.to_json(final_eval);
      if (objective == Objective::LanguageModel) {
        j = {{"examples", split.examples.size()}, {"loss", r.acc.loss()}, {"perplexity", std::exp(r.acc.loss())}};
      } else if (objective == Objective::Generate && !final_eval) {
        j = {{"examples", split.examples.size()}, {"loss", r.acc.loss()}};
      }
      if (objective == Objective::Generate && final_eval) j["unparsed"] = r.unparsed;
      // Wall-clock time goes to the metrics stream only: metrics.json (and what a pipeline publishes
      // from it) must be the same bytes for the same config, seed and data.
      const double eval_seconds = seconds_since(t0);
      results[split.name] = j;
      if (final_eval && objective != Objective::LanguageModel)
        reports += r.acc.report(fmt::format("{} {}", ctx.name, split.name)) +
                   (r.unparsed ? fmt::format("  ({} answers without a parsable Choice, left out as in MCIP)\n", r.unparsed)
                               : "");
      if (main) {
        ctx.metrics.append(
            {{"phase", ctx.name}, {"step", state.step}, {"split", split.name}, {"eval", j}, {"seconds", eval_seconds}});
        if (objective == Objective::LanguageModel || (objective == Objective::Generate && !final_eval))
          log << fmt::format("[{}] eval {} step {}: loss {:.4f}\n", ctx.name, split.name, state.step, r.acc.loss());
        else
          log << fmt::format("[{}] eval {} step {}: loss {:.4f} | RR {:.2f}% | SA {:.2f}% | macro-F1 {:.2f}%\n", ctx.name,
                             split.name, state.step, r.acc.loss(), 100 * r.acc.risk_resistance(),
                             100 * r.acc.safety_awareness(), 100 * r.acc.macro_f1());
      }
    }
    if (only_split.empty()) state.last_eval = results;
    return std::make_pair(results, reports);
  };

  // Training.
  ctx.model.train(true);
  ctx.model.set_recompute(C.recompute);
  const auto t_start = Clock::now();
  const std::int64_t start_step = state.step;
  std::int64_t tokens_since_log = 0;
  auto t_log = Clock::now();
  bool stopped_early = false;
  while (state.step < total_steps && !stopped_early) {
    const double lr = learning_rate(P.optim, state.step, total_steps);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    // Normaliser of the whole window, known from the data before any forward pass.
    double window_count = 0;
    for (std::int64_t a = 0; a < P.grad_accum; ++a)
      for (auto r : micro_rows(state.micro_batches + a))
        window_count += example_count(train.examples[static_cast<size_t>(r)], objective, class_w);
    double loss_sum = 0;
    std::int64_t step_tokens = 0;
    for (std::int64_t a = 0; a < P.grad_accum; ++a) {
      const auto& global_rows = micro_rows(state.micro_batches + a);
      const auto per_rank = static_cast<std::int64_t>((global_rows.size() + static_cast<size_t>(world) - 1) / static_cast<size_t>(world));
      const auto begin = std::min<std::int64_t>(static_cast<std::int64_t>(global_rows.size()), rank * per_rank);
      const auto end = std::min<std::int64_t>(static_cast<std::int64_t>(global_rows.size()), begin + per_rank);
      for (auto r : global_rows) step_tokens += static_cast<std::int64_t>(train.examples[static_cast<size_t>(r)].ids.size());
      if (begin >= end) continue;
      std::vector<std::int64_t> rows(global_rows.begin() + begin, global_rows.begin() + end);
      Tensors t = make_tensors(train, rows, objective, pad, class_w, ctx.device);
      at::Tensor loss;
      {
        AutocastScope autocast(ctx.device, C.bf16_autocast);
        loss = summed_loss(ctx.model, t, objective);
      }
      if (window_count > 0) (loss / window_count).backward();
      loss_sum += loss.item<double>();
    }
    // The stop request rides on the loss all-reduce so every process stops after the same step.
    std::vector<double> reduced{loss_sum, StopSignalScope::received() != 0 ? 1.0 : 0.0};
    ctx.dist.all_reduce_sum(reduced);
    const bool stop_requested = reduced[1] > 0;
    std::vector<at::Tensor> grads;
    for (auto& p : params)
      if (p.grad().defined()) grads.push_back(p.grad());
    ctx.dist.all_reduce_sum(grads);
    double step_loss = window_count > 0 ? reduced[0] / window_count : 0.0;
    if (state.step + 1 == nan_step) step_loss = std::nan("");
    if (!std::isfinite(step_loss)) {
      const auto last = latest_train_checkpoint(ckpt_dir);
      throw TrainingFailure(fmt::format(
          "[{}] loss is {} at step {}: training stopped. The last good checkpoint is {}. Lower {}.optim.lr, raise "
          "warmup_steps or keep grad_clip on, then rerun (resume continues from that checkpoint).",
          ctx.name, step_loss, state.step + 1, last ? last->string() : "(none yet)", ctx.name));
    }
    const double grad_norm = clip_gradients(params, P.optim.grad_clip);
    optimizer.step();
    optimizer.zero_grad();
    state.step++;
    state.micro_batches += P.grad_accum;
    state.tokens_seen += step_tokens;
    tokens_since_log += step_tokens;

    if (main && (state.step % P.log_every == 0 || state.step == total_steps || state.step == start_step + 1)) {
      const double dt = seconds_since(t_log), elapsed = seconds_since(t_start);
      const double tps = dt > 0 ? static_cast<double>(tokens_since_log) / dt : 0;
      const double eta = elapsed / static_cast<double>(state.step - start_step) * static_cast<double>(total_steps - state.step);
      const int filled = static_cast<int>(20.0 * static_cast<double>(state.step) / static_cast<double>(total_steps));
      log << fmt::format("[{}] [{}{}] step {}/{} | loss {:.4f} | lr {:.2e} | {:.0f} tok/s | ETA {}\n", ctx.name,
                         std::string(static_cast<size_t>(filled), '#'), std::string(static_cast<size_t>(20 - filled), '.'),
                         state.step, total_steps, step_loss, lr, tps, duration_text(eta));
      log.flush();
      tokens_since_log = 0;
      t_log = Clock::now();
    }
    if (main)
      ctx.metrics.append({{"phase", ctx.name}, {"step", state.step}, {"loss", step_loss}, {"lr", lr},
                          {"grad_norm", grad_norm}, {"tokens", state.tokens_seen},
                          {"epoch", static_cast<double>(state.micro_batches) / static_cast<double>(batches_per_epoch)},
                          {"elapsed_s", seconds_since(t_start)}});

    const bool last = state.step == total_steps;
    if (P.eval_every > 0 && state.step % P.eval_every == 0 && !last && !evals.empty()) {
      auto [results, reports] = run_eval(false);
      const auto dot = P.best_metric.find('.');
      const std::string split = P.best_metric.substr(0, dot), metric = P.best_metric.substr(dot + 1);
      if (results.contains(split) && results[split].contains(metric) && results[split][metric].is_number()) {
        const double v = results[split][metric].get<double>();
        if (better(metric, v, state.best_value, have_best)) {
          state.best_value = v;
          state.best_step = state.step;
          state.evals_without_improvement = 0;
          have_best = true;
          if (main) save_trainable(best_file, ctx.model);
        } else {
          state.evals_without_improvement++;
          if (P.early_stopping_patience > 0 && state.evals_without_improvement >= P.early_stopping_patience) {
            stopped_early = true;
            if (main)
              log << fmt::format("[{}] early stopping at step {}: {} did not improve for {} evaluations (best {:.4f} at "
                                 "step {})\n",
                                 ctx.name, state.step, P.best_metric, state.evals_without_improvement, state.best_value,
                                 state.best_step);
          }
        }
      }
    }
    if (last || stopped_early || stop_requested || (P.checkpoint_every > 0 && state.step % P.checkpoint_every == 0))
      save_checkpoint_now();
    if (stop_requested) {
      const int sig = StopSignalScope::received();
      throw TrainingInterrupted(fmt::format(
          "[{}] stopped by {} after step {}/{}; checkpoint {} written. Rerun the same command to resume.", ctx.name,
          sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal on another process", state.step, total_steps,
          (ckpt_dir / fmt::format("step-{:08d}", state.step)).string()));
    }
  }

  // Final: the best snapshot if an earlier evaluation beat the end state, then the full report.
  PhaseResult result;
  if (!evals.empty()) {
    if (have_best && fs::exists(best_file)) {
      // Compare the end state with the best snapshot on the selection metric before choosing.
      const auto dot = P.best_metric.find('.');
      const std::string split = P.best_metric.substr(0, dot), metric = P.best_metric.substr(dot + 1);
      auto [end_results, unused] = run_eval(false, split);
      const double end_value = end_results.contains(split) && end_results[split].contains(metric) &&
                                       end_results[split][metric].is_number()
                                   ? end_results[split][metric].get<double>()
                                   : std::nan("");
      if (!better(metric, end_value, state.best_value, true) && end_value != state.best_value) {
        load_trainable(best_file, ctx.model);
        if (main) log << fmt::format("[{}] using the best evaluation (step {}, {} {:.4f})\n", ctx.name, state.best_step,
                                     P.best_metric, state.best_value);
      }
    }
    auto [results, reports] = run_eval(true);
    result.evaluation = results;
    result.reports = reports;
  }
  result.state = state;
  ctx.model.train(false);
  return result;
}

}  // namespace mcip::train
