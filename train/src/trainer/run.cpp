// The run: tokenizer, pretrain phase, finetune phase, and the files other tools read
// (final checkpoints, adapter, mcip_training.json, metrics.json).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <fstream>

#include <fmt/format.h>

#include "distributed.h"
#include "mcip/atomic_file.h"
#include "mcip/checkpoint.h"
#include "mcip/error.h"
#include "mcip/hash.h"
#include "mcip/lora.h"
#include "mcip/model.h"
#include "mcip/safetensors.h"
#include "mcip/taxonomy.h"
#include "mcip/tokenizer.h"
#include "mcip/train.h"
#include "mcip/trainer.h"
#include "phase.h"
#include "stop_signal.h"
#include "tokenizer_setup.h"

namespace mcip::train {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDone = "DONE";

bool phase_done(const fs::path& final_dir) { return fs::exists(final_dir / kDone) && fs::exists(final_dir / "config.json"); }

void mark_done(const fs::path& final_dir) { write_file_atomic(final_dir / kDone, "complete\n"); }

ModelConfig random_config(const ArchitectureConfig& a, const tokenizer::SentencePiece& sp) {
  nlohmann::json j = {{"architectures", {"LlamaForCausalLM"}},
                      {"model_type", "llama"},
                      {"vocab_size", sp.vocab_size()},
                      {"hidden_size", a.hidden_size},
                      {"intermediate_size", a.intermediate_size},
                      {"num_hidden_layers", a.num_hidden_layers},
                      {"num_attention_heads", a.num_attention_heads},
                      {"num_key_value_heads", a.num_key_value_heads},
                      {"max_position_embeddings", a.max_position_embeddings},
                      {"rms_norm_eps", a.rms_norm_eps},
                      {"rope_theta", a.rope_theta},
                      {"tie_word_embeddings", a.tie_word_embeddings},
                      {"bos_token_id", sp.bos_id()},
                      {"eos_token_id", sp.eos_id()},
                      {"torch_dtype", "float32"}};
  if (sp.pad_id() >= 0) j["pad_token_id"] = sp.pad_id();
  return ModelConfig::from_json(j, "model.architecture");
}

at::ScalarType storage_dtype(const TrainerConfig& c) { return c.model.dtype == "bfloat16" ? at::kBFloat16 : at::kFloat; }

void make_all_trainable(Decoder& model) {
  for (auto& [n, t] : model.named_tensors()) t->set_requires_grad(true);
}

// Adapters and head as PEFT names them, plus adapter_config.json (issue 7 builds the full PEFT
// export on this).
void save_adapter(Decoder& model, const PhaseConfig& p, const fs::path& dir, const std::string& base) {
  fs::create_directories(dir);
  std::vector<at::Tensor> keep;
  std::vector<safetensors::TensorView> views;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    keep.push_back(t.detach().to(at::kCPU, at::kFloat).contiguous());
    const at::Tensor& c = keep.back();
    views.push_back({name, safetensors::Dtype::F32, c.sizes().vec(), c.data_ptr(), static_cast<size_t>(c.nbytes())});
  };
  for (auto& [n, t] : model.named_lora_tensors()) add(n, *t);
  if (model.score_weight.defined()) add("base_model.model.score.weight", model.score_weight);
  safetensors::write(dir / "adapter_model.safetensors", views);
  std::vector<std::string> targets = p.lora.target_modules;
  if (targets.size() == 1 && targets[0] == "all-linear")
    targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  nlohmann::json cfg = {{"peft_type", "LORA"},
                        {"task_type", model.score_weight.defined() ? "SEQ_CLS" : "CAUSAL_LM"},
                        {"base_model_name_or_path", base},
                        {"r", p.lora.rank},
                        {"lora_alpha", p.lora.alpha},
                        {"lora_dropout", p.lora.dropout},
                        {"use_rslora", p.lora.use_rslora},
                        {"target_modules", targets},
                        {"bias", "none"},
                        {"modules_to_save", model.score_weight.defined() ? nlohmann::json::array({"score"})
                                                                         : nlohmann::json(nullptr)}};
  write_file_atomic(dir / "adapter_config.json", cfg.dump(2) + "\n");
}

nlohmann::json training_record(const TrainerConfig& c, const PhaseConfig& p, const std::string& phase,
                               const tokenizer::SentencePiece& sp, const taxonomy::Taxonomy& tax,
                               const PhaseResult& r) {
  nlohmann::json labels = nlohmann::json::array();
  for (const auto* l : tax.benchmark_labels())
    labels.push_back({{"index", l->index}, {"letter", std::string(1, l->letter)}, {"id", l->id}, {"name", l->name},
                      {"bench_label", l->bench_label}});
  nlohmann::json manifest = nullptr;
  const fs::path mf = c.data.dir / "manifest.json";
  if (fs::exists(mf)) manifest = {{"path", fs::absolute(mf).string()}, {"hash", hash_file_hex(mf.string())}};
  return {{"schema_version", 1},
          {"phase", phase},
          {"mode", p.mode == PhaseMode::Lora ? "lora" : "full"},
          {"objective", to_string(p.objective)},
          {"input",
           {{"rendering", to_string(c.data.rendering)},
            {"tool_view", to_string(c.data.tool_view)},
            {"max_result_chars", c.data.max_result_chars},
            {"flow_checks", c.data.flow_checks},
            {"max_length", p.max_length > 0 ? p.max_length : c.data.max_length},
            {"keep_head_tokens", c.data.keep_head_tokens},
            {"segments", p.objective == Objective::Generate
                             ? "guardian prompt (###Chat body cut in the middle) + answer"
                             : "rendering split into context (tool list; tail cut) and conversation (middle cut), "
                               "each tokenized separately, [BOS] ... [EOS], pooled at the last token"}}},
          {"lora",
           p.mode == PhaseMode::Lora ? nlohmann::json{{"rank", p.lora.rank}, {"alpha", p.lora.alpha},
                                                      {"dropout", p.lora.dropout}, {"use_rslora", p.lora.use_rslora},
                                                      {"target_modules", p.lora.target_modules}}
                                     : nlohmann::json(nullptr)},
          {"labels", labels},
          {"taxonomy_hash", tax.hash()},
          {"tokenizer", {{"hash", sp.hash()}, {"bos", sp.bos_id()}, {"eos", sp.eos_id()}, {"pad", sp.pad_id()},
                         {"vocab_size", sp.vocab_size()}}},
          {"dataset", {{"dir", fs::absolute(c.data.dir).string()}, {"manifest", manifest}}},
          {"steps", r.state.step},
          {"best_step", r.state.best_step},
          {"metrics", r.evaluation},
          {"config", c.effective}};
}

}  // namespace

nlohmann::json run_training(const TrainerConfig& c, std::ostream& log) {
  at::set_num_threads(static_cast<int>(c.threads));
  StopSignalScope stop_signals;
  // With a file-size limit (ulimit -f, a quota-like guard) a write past it fails with EFBIG and
  // is reported like a full disk, instead of SIGXFSZ killing the process mid-checkpoint.
  std::signal(SIGXFSZ, SIG_IGN);
  const c10::Device device =
      Distributed::device_for_process(resolve_device(c.device), c.device.find(':') != std::string::npos);
  Distributed dist = Distributed::from_environment(std::chrono::minutes(30), device);
  const bool main = dist.is_main();
  if (main) {
    fs::create_directories(c.output_dir);
    write_file_atomic(c.output_dir / "config.effective.json", c.effective.dump(2) + "\n");
    log << fmt::format("mcip-train: {} | {} | device {} | {} threads | bf16 autocast {}\n", c.config_file.string(),
                       dist.describe(), device.str(), at::get_num_threads(), c.bf16_autocast ? "on" : "off");
  }
  dist.barrier();
  const taxonomy::Taxonomy tax = taxonomy::Taxonomy::embedded();
  const tokenizer::SentencePiece sp = obtain_tokenizer(c, dist, log);
  MetricsLog metrics(c.output_dir / "metrics.jsonl", main);
  nlohmann::json summary = {{"output_dir", c.output_dir.string()}};
  std::string reports;

  fs::path base = c.model.base;
  if (c.pretrain.enabled) {
    const fs::path dir = c.output_dir / "pretrain", final_dir = dir / "final";
    if (phase_done(final_dir)) {
      if (main) log << "[pretrain] complete in " << final_dir.string() << ", skipping\n";
    } else {
      Decoder model = c.model.base.empty()
                          ? Decoder::random(random_config(c.model.architecture, sp), c.seed, storage_dtype(c), device)
                          : load_checkpoint(c.model.base, {storage_dtype(c), device, std::nullopt});
      check_tokenizer_matches(sp, model.config(), "pretrain");
      make_all_trainable(model);
      model.seed_dropout(c.seed + 1);
      PhaseContext ctx{c, c.pretrain, "pretrain", dir, model, sp, tax, dist, log, metrics, device};
      PhaseResult r = run_phase(ctx);
      if (main) {
        model.freeze_all();
        SaveOptions so;
        so.tokenizer = &sp;
        save_checkpoint(model, final_dir, so);
        write_file_atomic(final_dir / "mcip_training.json", training_record(c, c.pretrain, "pretrain", sp, tax, r).dump(2) + "\n");
        mark_done(final_dir);
      }
      summary["pretrain"] = r.evaluation;
      dist.barrier();
    }
    base = final_dir;
  }
  // A signal between the phases (final save, evaluation) stops before the fine-tune starts.
  std::vector<double> stop{StopSignalScope::received() != 0 ? 1.0 : 0.0};
  dist.all_reduce_sum(stop);
  if (stop[0] > 0 && c.finetune.enabled && !phase_done(c.output_dir / "finetune" / "final"))
    throw TrainingInterrupted("stopped by a signal after the pretrain phase completed. Rerun the same command to resume.");

  if (c.finetune.enabled) {
    const PhaseConfig& p = c.finetune;
    const fs::path dir = c.output_dir / "finetune", final_dir = dir / "final";
    if (phase_done(final_dir)) {
      if (main) log << "[finetune] complete in " << final_dir.string() << ", skipping\n";
      nlohmann::json rec = nlohmann::json::parse(read_file(final_dir / "mcip_training.json"), nullptr, false);
      if (!rec.is_discarded() && rec.contains("metrics")) summary["finetune"] = rec["metrics"];
    } else {
      const bool classify = p.objective == Objective::Classify;
      const auto n_labels = static_cast<std::int64_t>(tax.benchmark_labels().size());
      LoadOptions lo;
      lo.dtype = storage_dtype(c);
      lo.device = device;
      if (classify) lo.num_labels = n_labels;
      Decoder model = load_checkpoint(base, lo);
      check_tokenizer_matches(sp, model.config(), base.string());
      if (classify) {
        auto& mc = model.mutable_config();
        mc.id2label.clear();
        for (const auto* l : tax.benchmark_labels()) mc.id2label.push_back(l->bench_label);
        if (mc.pad_token_id < 0 && sp.pad_id() >= 0) mc.pad_token_id = sp.pad_id();
        // A fresh head (zero from the loader) gets transformers' normal(0, 0.02) from the seed.
        c10::NoGradGuard ng;
        if (model.score_weight.abs().sum().item<double>() == 0) {
          at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(c.seed + 2);
          model.score_weight.copy_(at::empty(model.score_weight.sizes(), at::kFloat).normal_(0.0, 0.02, gen));
        }
      }
      if (p.mode == PhaseMode::Lora) {
        LoraConfig lc = p.lora;
        lc.seed = c.seed + 3;
        apply_lora(model, lc);
      } else {
        make_all_trainable(model);
      }
      if (classify) model.score_weight.set_requires_grad(true);
      model.seed_dropout(c.seed + 4);
      PhaseContext ctx{c, p, "finetune", dir, model, sp, tax, dist, log, metrics, device};
      PhaseResult r = run_phase(ctx);
      if (main) {
        const nlohmann::json record = training_record(c, p, "finetune", sp, tax, r);
        fs::path staging = dir / ".final-adapter";
        fs::remove_all(staging);
        if (p.mode == PhaseMode::Lora) save_adapter(model, p, staging, fs::absolute(base).string());
        merge_lora(model);
        drop_lora(model);
        model.freeze_all();
        SaveOptions so;
        so.tokenizer = &sp;
        save_checkpoint(model, final_dir, so);
        if (p.mode == PhaseMode::Lora) fs::rename(staging, final_dir / "adapter");
        write_file_atomic(final_dir / "mcip_training.json", record.dump(2) + "\n");
        mark_done(final_dir);
        reports += r.reports;
      }
      summary["finetune"] = r.evaluation;
      dist.barrier();
    }
  }

  // metrics.json: the final evaluation per split, also flattened ("validation.risk_resistance").
  const nlohmann::json& final_eval = summary.contains("finetune") ? summary["finetune"]
                                     : summary.contains("pretrain") ? summary["pretrain"]
                                                                    : nlohmann::json::object();
  nlohmann::json flat = nlohmann::json::object();
  for (const auto& [split, m] : final_eval.items())
    for (const char* k : {"loss", "risk_resistance", "safety_awareness", "macro_f1", "binary_macro_f1", "examples"})
      if (m.contains(k)) flat[split + "." + k] = m[k];
  // Splits at the top level so a dotted path (validation.risk_resistance) walks straight to a number.
  nlohmann::json out = {{"schema_version", 1}, {"flat", flat}, {"phases", summary}};
  for (const auto& [split, m] : final_eval.items()) out[split] = m;
  if (main) {
    write_file_atomic(c.output_dir / "metrics.json", out.dump(2) + "\n");
    if (!reports.empty()) log << "\n" << reports;
    log << fmt::format("wrote {}\n", (c.output_dir / "metrics.json").string());
  }
  return out;
}

}  // namespace mcip::train
