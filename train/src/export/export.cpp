// The guardian export: every format staged in one temporary directory, checked, then renamed
// into place so readers never see half an export.
#include "mcip/export.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <unistd.h>

#include <optional>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/checkpoint.h"
#include "mcip/error.h"
#include "mcip/export_gguf_lora.h"
#include "mcip/export_peft.h"
#include "mcip/gguf_export.h"
#include "mcip/hash.h"
#include "mcip/lora.h"
#include "mcip/safetensors.h"
#include "mcip/taxonomy.h"
#include "mcip/tokenizer.h"

namespace mcip::guard {
namespace fs = std::filesystem;
using train::Decoder;

namespace {

nlohmann::json read_json(const fs::path& p) {
  nlohmann::json j = nlohmann::json::parse(read_file(p), nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw InputError(p.string(), 0, "", "not a JSON object");
  return j;
}

// The checkpoint the LoRA adapter was trained on: --base, else the run's pretrain/final, else
// the config's model.base.
fs::path resolve_base(const fs::path& final_dir, const nlohmann::json& record, const ExportOptions& o) {
  if (!o.base.empty()) return o.base;
  const auto& cfg = record.value("config", nlohmann::json::object());
  // The effective config keeps YAML scalars as strings; a present pretrain section is enabled
  // unless it says otherwise.
  bool pretrain = cfg.contains("pretrain") && cfg["pretrain"].is_object();
  if (pretrain && cfg["pretrain"].contains("enabled")) {
    const auto& e = cfg["pretrain"]["enabled"];
    pretrain = e.is_boolean() ? e.get<bool>() : !(e.is_string() && (e == "false" || e == "False" || e == "no"));
  }
  const fs::path run_pretrain = final_dir.parent_path().parent_path() / "pretrain" / "final";
  if (pretrain && fs::exists(run_pretrain / "config.json")) return run_pretrain;
  if (cfg.contains("model") && cfg["model"].contains("base") && cfg["model"]["base"].is_string())
    return cfg["model"]["base"].get<std::string>();
  return {};
}

// Hub-style id for PEFT's base_model_name_or_path: --base-model-id, else the base config's
// _name_or_path when it is not a local absolute path, else a name for the copy shipped in base/.
std::pair<std::string, bool> base_model_id(const fs::path& base, const ExportOptions& o) {
  if (!o.base_model_id.empty()) return {o.base_model_id, false};
  nlohmann::json cfg = read_json(base / "config.json");
  const std::string n = cfg.value("_name_or_path", "");
  if (!n.empty() && !fs::path(n).is_absolute() && !fs::exists(n)) return {n, false};
  return {o.name + "-base", true};
}

double max_logit_difference(Decoder& a, Decoder& b, std::uint64_t seed) {
  c10::InferenceMode guard;
  at::manual_seed(static_cast<std::int64_t>(seed));
  const std::int64_t vocab = a.config().vocab_size;
  const std::int64_t t = std::min<std::int64_t>(24, a.config().max_position_embeddings);
  at::Tensor ids = at::randint(std::min<std::int64_t>(3, vocab - 1), vocab, {3, t}, at::kLong);
  train::Batch batch{ids, at::ones({3, t}, at::kLong), {}, {}};
  return (a.classify(batch) - b.classify(batch)).abs().max().item<double>();
}

nlohmann::json labels_json(const taxonomy::Taxonomy& tax) {
  nlohmann::json labels = nlohmann::json::array();
  for (const auto* l : tax.benchmark_labels())
    labels.push_back({{"index", l->index},
                      {"letter", std::string(1, l->letter)},
                      {"id", l->id},
                      {"name", l->name},
                      {"bench_label", l->bench_label},
                      {"safe", l->safe()},
                      {"verdict", l->safe() ? "safe" : "unsafe"}});
  return labels;
}

// How each rendering becomes model input, word for word what segments_for/encode_segments do.
nlohmann::json input_spec(const nlohmann::json& record_input) {
  const std::string rendering = record_input.value("rendering", "glaive");
  std::string segments;
  if (rendering == "glaive" && record_input.value("tool_view", "verbatim") == "signatures")
    segments = "context = one line per function (the constant SYSTEM preamble dropped) 'name(required, optional?): description', the "
               "functions the chat calls (<functioncall> names, first-call order) first, then the others; the "
               "'Caller:' line kept whole; conversation = chat (from the first USER: turn)";
  else if (rendering == "glaive")
    segments = "context = SYSTEM part (preamble + tool definitions) + \"\\n\", conversation = chat (from the first USER: turn)";
  else if (rendering == "jsonrpc")
    segments = "context = messages before the first tools/call, conversation = the rest; one compact JSON entry per line";
  else
    segments = "flows (a JSON list, or text lines 'SENDER sends TYPE about SUBJECT to RECIPIENT under TP: content') "
               "rewritten one short line per flow, 'TYPE SENDER > RECIPIENT (TP)[ re SUBJECT]: content' with TYPE "
               "tools/query/call/result/answer, 'client'/'user' for the session caller named on a first line 'caller "
               "ID role ROLE' (kept whole), 'server ' dropped, the subject written only when unusual, function results "
               "cut to max_result_chars bytes (0 = whole); with flow_checks, a second kept line 'checks: NAME CHECK, CHECK | NAME ok | ...' "
               "(every call in order, the first eight, or 'checks: no calls'; CHECK = new ARGS / unasked / like TOOL "
               "here|elsewhere / also on SERVER / repeat [after query] / prerequisite late, computed from the flows "
               "before the call); context = the tools lines, conversation = the other flows";
  nlohmann::json j = record_input;
  j["template"] = "[BOS] {context} {conversation} [EOS]; each segment tokenized separately; the score head reads the "
                  "last token (EOS)";
  j["segments_detail"] = segments;
  j["truncation"] = "when longer than max_length: the conversation has priority; the context keeps at least a third of "
                    "the budget and loses its tail; a too-long conversation loses its middle (keep_head_tokens from the "
                    "start, the rest from the end)";
  return j;
}

void copy_checkpoint_files(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& e : fs::directory_iterator(from)) {
    const std::string n = e.path().filename().string();
    const bool weights = n.rfind("model", 0) == 0 && (e.path().extension() == ".safetensors" || n == "model.safetensors.index.json");
    if (weights || n == "config.json" || n == "tokenizer.model") fs::copy_file(e.path(), to / n);
  }
}

std::string relative_to(const fs::path& p, const fs::path& root) { return fs::relative(p, root).generic_string(); }

}  // namespace

std::string gguf_type_name(gguf::TensorType t) {
  switch (t) {
    case gguf::TensorType::F32: return "f32";
    case gguf::TensorType::F16: return "f16";
    case gguf::TensorType::BF16: return "bf16";
  }
  return "?";
}

gguf::TensorType parse_gguf_type(const std::string& name) {
  if (name == "f32") return gguf::TensorType::F32;
  if (name == "f16") return gguf::TensorType::F16;
  if (name == "bf16") return gguf::TensorType::BF16;
  throw InputError("", 0, "--gguf-types", fmt::format("unknown GGUF tensor type '{}' (f32, f16, bf16)", name));
}

fs::path find_trained_guardian(const fs::path& trained) {
  fs::path final_dir = trained;
  if (!fs::exists(final_dir / "mcip_training.json") && fs::exists(trained / "finetune" / "final" / "mcip_training.json"))
    final_dir = trained / "finetune" / "final";
  if (!fs::exists(final_dir / "mcip_training.json"))
    throw InputError((trained / "mcip_training.json").string(), 0, "",
                     "missing: expected mcip-train's finetune/final directory (or the run directory holding it)");
  if (!fs::exists(final_dir / "DONE"))
    throw InputError((final_dir / "DONE").string(), 0, "", "missing: the training output is incomplete");
  return final_dir;
}

nlohmann::json export_guardian(const fs::path& trained, const ExportOptions& o, std::ostream& log) {
  const fs::path final_dir = find_trained_guardian(trained);
  const nlohmann::json record = read_json(final_dir / "mcip_training.json");
  const std::string record_file = (final_dir / "mcip_training.json").string();
  if (o.out.empty()) throw InputError("", 0, "--out", "no output directory given");
  const taxonomy::Taxonomy tax = taxonomy::Taxonomy::embedded();

  Decoder merged = train::load_checkpoint(final_dir);
  auto sp_opt = train::load_checkpoint_tokenizer(final_dir, merged.config());
  if (!sp_opt) throw InputError((final_dir / "tokenizer.model").string(), 0, "", "missing: the guardian has no tokenizer");
  const tokenizer::SentencePiece& sp = *sp_opt;
  if (merged.config().num_labels != static_cast<std::int64_t>(tax.benchmark_labels().size()))
    throw InputError((final_dir / "config.json").string(), 0, "num_labels",
                     fmt::format("{} labels; a guardian classifier has {}", merged.config().num_labels,
                                 tax.benchmark_labels().size()));

  const fs::path out = fs::absolute(o.out);
  fs::create_directories(out.parent_path());
  const fs::path staging = out.parent_path() / fmt::format(".tmp-{}-{}", out.filename().string(), ::getpid());
  fs::remove_all(staging);
  fs::create_directories(staging);
  try {
    nlohmann::json files = nlohmann::json::object();
    // 1. Merged Hugging Face checkpoint.
    train::SaveOptions so;
    so.max_shard_bytes = o.max_shard_bytes;
    so.tokenizer = &sp;
    if (merged.config().torch_dtype == "bfloat16") so.dtype = at::kBFloat16;
    train::save_checkpoint(merged, staging / "merged", so);
    files["merged"] = "merged";
    log << fmt::format("[export] merged checkpoint: {} ({} labels)\n", (out / "merged").string(), merged.config().num_labels);

    // 2. PEFT adapter, reloaded onto the base and checked against the merged model first.
    nlohmann::json base_info = {{"model_type", merged.config().model_type},
                                {"hidden_size", merged.config().hidden_size},
                                {"num_hidden_layers", merged.config().num_hidden_layers},
                                {"num_attention_heads", merged.config().num_attention_heads},
                                {"num_key_value_heads", merged.config().num_key_value_heads},
                                {"intermediate_size", merged.config().intermediate_size},
                                {"vocab_size", merged.config().vocab_size},
                                {"max_position_embeddings", merged.config().max_position_embeddings}};
    files["peft"] = nullptr;
    files["base"] = nullptr;
    fs::path base_dir;
    std::optional<Decoder> base_with_adapter;
    train::LoraConfig adapter_config;
    const bool lora = record.value("mode", "") == "lora" && fs::exists(final_dir / "adapter" / "adapter_config.json");
    if (lora) {
      base_dir = resolve_base(final_dir, record, o);
      if (base_dir.empty() || !fs::exists(base_dir / "config.json"))
        throw InputError((base_dir / "config.json").string(), 0, "--base",
                         "the LoRA base checkpoint is not found; give it with --base DIR");
      train::LoadOptions lo;
      lo.num_labels = merged.config().num_labels;
      Decoder base = train::load_checkpoint(base_dir, lo);
      load_peft_adapter(base, final_dir / "adapter");
      const double diff = max_logit_difference(base, merged, 7);
      if (!(diff < 1e-3))
        throw std::runtime_error(fmt::format("{}: base + adapter differs from the merged checkpoint by {:.3g} in the "
                                             "logits (is --base the checkpoint the adapter was trained on?)",
                                             (final_dir / "adapter").string(), diff));
      const auto [id, ship_base] = base_model_id(base_dir, o);
      const train::LoraConfig lc = read_peft_lora_config(final_dir / "adapter" / "adapter_config.json");
      write_peft_adapter(base, lc, id, staging / "peft");
      train::ModelConfig check_cfg = base.config();
      const auto problems = check_peft_adapter(staging / "peft", check_cfg);
      if (!problems.empty())
        throw std::runtime_error("PEFT adapter failed its structural check: " + problems.front());
      files["peft"] = "peft";
      if (ship_base) {
        copy_checkpoint_files(base_dir, staging / "base");
        files["base"] = "base";
      }
      adapter_config = lc;
      base_with_adapter.emplace(std::move(base));
      base_info["id"] = id;
      base_info["shipped_in"] = ship_base ? nlohmann::json("base") : nlohmann::json(nullptr);
      log << fmt::format("[export] PEFT adapter: {} (base_model_name_or_path '{}', reproduces the merged logits to {:.2g})\n",
                         (out / "peft").string(), id, diff);
    }

    // 3. GGUF of the merged decoder, plus the head llama.cpp cannot hold.
    nlohmann::json ggufs = nlohmann::json::array();
    if (!o.gguf_types.empty()) {
      fs::create_directories(staging / "gguf");
      for (const auto t : o.gguf_types) {
        train::GgufExportOptions go;
        go.type = t;
        go.name = o.name;
        const fs::path p = staging / "gguf" / fmt::format("{}-{}.gguf", o.name, gguf_type_name(t));
        train::export_gguf(merged, sp, p, go);
        ggufs.push_back({{"file", relative_to(p, staging)}, {"type", gguf_type_name(t)}});
        log << fmt::format("[export] GGUF {}: {}\n", gguf_type_name(t), (out / relative_to(p, staging)).string());
      }
      // The LoRA adapter as a llama.cpp adapter over the base decoder (in the first requested type).
      if (base_with_adapter) {
        const auto t = o.gguf_types.front();
        train::Decoder plain_base = train::load_checkpoint(base_dir);
        train::GgufExportOptions go;
        go.type = t;
        go.name = o.name + "-base";
        const fs::path bp = staging / "gguf" / fmt::format("{}-base-{}.gguf", o.name, gguf_type_name(t));
        train::export_gguf(plain_base, sp, bp, go);
        const fs::path lp = staging / "gguf" / fmt::format("{}-LoRA-f32.gguf", o.name);
        export_gguf_lora(*base_with_adapter, adapter_config, lp, o.name);
        files["gguf_base"] = relative_to(bp, staging);
        files["gguf_lora"] = relative_to(lp, staging);
        log << fmt::format("[export] GGUF LoRA adapter: {} over {}\n", (out / relative_to(lp, staging)).string(),
                           (out / relative_to(bp, staging)).string());
      }
      at::Tensor head = merged.score_weight.detach().to(at::kCPU, at::kFloat).contiguous();
      safetensors::write(staging / "gguf" / "score_head.safetensors",
                         {{"score.weight", safetensors::Dtype::F32, head.sizes().vec(), head.data_ptr(),
                           static_cast<size_t>(head.nbytes())}});
      files["gguf_score_head"] = "gguf/score_head.safetensors";
    }
    files["gguf"] = ggufs;

    // 4. guardian.json with content hashes of everything written.
    nlohmann::json hashes = nlohmann::json::object();
    for (const auto& e : fs::recursive_directory_iterator(staging))
      if (e.is_regular_file()) hashes[relative_to(e.path(), staging)] = hash_file_hex(e.path().string());
    const auto& ds = record.value("dataset", nlohmann::json::object());
    nlohmann::json manifest = {
        {"schema_version", 1},
        {"name", o.name},
        {"mcip_version", MCIP_VERSION},
        {"objective", record.value("objective", "classify")},
        {"mode", record.value("mode", "")},
        {"labels", labels_json(tax)},
        {"safe_label", tax.safe_label().bench_label},
        {"verdict", "safe when the predicted label is the safe label (A), unsafe otherwise; p_unsafe = 1 - p(A)"},
        {"taxonomy_hash", tax.hash()},
        {"input", input_spec(record.value("input", nlohmann::json::object()))},
        {"tokenizer",
         {{"file", "merged/tokenizer.model"},
          {"type", "sentencepiece"},
          {"hash", sp.hash()},
          {"vocab_size", sp.vocab_size()},
          {"bos", sp.bos_id()},
          {"eos", sp.eos_id()},
          {"pad", sp.pad_id()},
          {"unk", sp.unk_id()}}},
        {"base_model", base_info},
        {"lora", record.value("lora", nlohmann::json(nullptr))},
        {"dataset",
         {{"name", ds.contains("dir") ? fs::path(ds["dir"].get<std::string>()).filename().string() : ""},
          {"manifest_hash", ds.contains("manifest") && ds["manifest"].is_object() ? ds["manifest"].value("hash", "") : ""}}},
        {"training", {{"steps", record.value("steps", 0)}, {"best_step", record.value("best_step", 0)}}},
        {"metrics", record.value("metrics", nlohmann::json::object())},
        {"files", files},
        {"hashes", hashes}};
    write_file_atomic(staging / "guardian.json", manifest.dump(2) + "\n");

    // 5. Into place: the previous export (if any) is replaced only now.
    fs::path old;
    if (fs::exists(out)) {
      old = out.parent_path() / fmt::format(".old-{}-{}", out.filename().string(), ::getpid());
      fs::remove_all(old);
      fs::rename(out, old);
    }
    fs::rename(staging, out);
    fsync_directory(out.parent_path());
    if (!old.empty()) fs::remove_all(old);
    log << fmt::format("[export] wrote {}\n", (out / "guardian.json").string());
    (void)record_file;
    return manifest;
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw;
  }
}

}  // namespace mcip::guard
