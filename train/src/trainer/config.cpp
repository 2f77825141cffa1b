#include <fmt/format.h>

#include <algorithm>
#include <thread>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/trainer_config.h"
#include "mcip/yaml_strict.h"

namespace mcip::train {
namespace {

const char* const kOverrideOrigin = "command line";

// "a.b.c=value" -> node[a][b][c] = YAML(value). Creates intermediate maps; the strict pass
// afterwards rejects keys the schema does not know, so a typo in an override fails loudly.
void apply_override(YAML::Node& root, const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError(kOverrideOrigin, 0, text, "override must look like key.path=value");
  const std::string key = text.substr(0, eq), value = text.substr(eq + 1);
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const auto dot = key.find('.', start);
    parts.push_back(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  for (const auto& p : parts)
    if (p.empty()) throw InputError(kOverrideOrigin, 0, key, "empty component in key path");
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    throw InputError(kOverrideOrigin, 0, key, fmt::format("value is not valid YAML: {}", e.msg));
  }
  if (!root.IsMap()) root = YAML::Node(YAML::NodeType::Map);
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node child = chain.back()[parts[i]];
    if (!child.IsMap()) {
      if (child.IsDefined() && !child.IsNull())
        throw InputError(kOverrideOrigin, 0, key, fmt::format("'{}' is not a mapping", parts[i]));
      chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
      child = chain.back()[parts[i]];
    }
    chain.push_back(child);
  }
  chain.back()[parts.back()] = parsed.IsNull() && value.empty() ? YAML::Node(std::string()) : parsed;
}

nlohmann::json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json j = nlohmann::json::object();
      for (auto it = n.begin(); it != n.end(); ++it) j[it->first.as<std::string>()] = to_json(it->second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& c : n) j.push_back(to_json(c));
      return j;
    }
    case YAML::NodeType::Scalar: return n.Scalar();
    default: return nullptr;
  }
}

template <class E>
E enum_value(const StrictYaml& n, std::initializer_list<std::pair<const char*, E>> options) {
  const std::string s = n.str();
  std::string list;
  for (const auto& [name, value] : options) {
    if (s == name) return value;
    list += (list.empty() ? "" : ", ") + std::string(name);
  }
  n.fail(fmt::format("'{}' is not one of: {}", s, list));
}

std::int64_t positive(const StrictYaml& parent, const char* key, std::int64_t fallback, std::int64_t min = 1) {
  if (!parent.has(key)) return fallback;
  const long long v = parent[key].integer();
  if (v < min) parent[key].fail(fmt::format("must be >= {}, got {}", min, v));
  return v;
}

double number_in(const StrictYaml& parent, const char* key, double fallback, double lo, double hi) {
  if (!parent.has(key)) return fallback;
  const double v = parent[key].number();
  if (!(v >= lo && v <= hi)) parent[key].fail(fmt::format("must be in [{}, {}], got {}", lo, hi, v));
  return v;
}

OptimConfig read_optim(const StrictYaml& n, OptimConfig o) {
  if (!n.has("optim") && !n.raw()["optim"].IsDefined()) return o;
  const StrictYaml s = n["optim"];
  s.expect_map({"lr", "min_lr_ratio", "weight_decay", "beta1", "beta2", "eps", "warmup_steps", "grad_clip"});
  o.lr = number_in(s, "lr", o.lr, 1e-12, 10);
  o.min_lr_ratio = number_in(s, "min_lr_ratio", o.min_lr_ratio, 0, 1);
  o.weight_decay = number_in(s, "weight_decay", o.weight_decay, 0, 10);
  o.beta1 = number_in(s, "beta1", o.beta1, 0, 0.999999);
  o.beta2 = number_in(s, "beta2", o.beta2, 0, 0.999999);
  o.eps = number_in(s, "eps", o.eps, 1e-30, 1);
  o.warmup_steps = positive(s, "warmup_steps", o.warmup_steps, 0);
  o.grad_clip = number_in(s, "grad_clip", o.grad_clip, 0, 1e9);
  return o;
}

LoraConfig read_lora(const StrictYaml& n, LoraConfig l, const std::string& origin) {
  if (!n.raw()["lora"].IsDefined()) return l;
  const StrictYaml s = n["lora"];
  s.expect_map({"rank", "alpha", "dropout", "use_rslora", "target_modules"});
  l.rank = positive(s, "rank", l.rank);
  l.alpha = number_in(s, "alpha", l.alpha, 1e-9, 1e9);
  l.dropout = number_in(s, "dropout", l.dropout, 0, 0.999);
  l.use_rslora = s.optional_bool("use_rslora", l.use_rslora);
  if (s.has("target_modules")) l.target_modules = s["target_modules"].str_list();
  try {
    l.validate(origin);
  } catch (const InputError& e) {
    s.fail(e.what());
  }
  return l;
}

PhaseConfig read_phase(const StrictYaml& root, const char* name, PhaseConfig p) {
  if (!root.raw()[name].IsDefined() || root.raw()[name].IsNull()) return p;
  const StrictYaml n = root[name];
  n.expect_map({"enabled", "mode", "objective", "steps", "epochs", "batch_size", "grad_accum", "max_length", "optim",
                "lora", "log_every", "eval_every", "checkpoint_every", "keep_last", "best_metric",
                "early_stopping_patience", "generate_max_new_tokens", "max_eval_examples",
                "final_eval_examples"});
  p.enabled = n.optional_bool("enabled", true);
  if (n.has("mode")) p.mode = enum_value<PhaseMode>(n["mode"], {{"full", PhaseMode::Full}, {"lora", PhaseMode::Lora}});
  if (n.has("objective"))
    p.objective = enum_value<Objective>(
        n["objective"], {{"lm", Objective::LanguageModel}, {"classify", Objective::Classify}, {"generate", Objective::Generate}});
  p.steps = positive(n, "steps", p.steps, 0);
  p.epochs = number_in(n, "epochs", p.epochs, 0, 1e6);
  p.batch_size = positive(n, "batch_size", p.batch_size);
  p.grad_accum = positive(n, "grad_accum", p.grad_accum);
  p.max_length = positive(n, "max_length", p.max_length, 0);
  p.optim = read_optim(n, p.optim);
  p.lora = read_lora(n, p.lora, root.origin());
  p.log_every = positive(n, "log_every", p.log_every);
  p.eval_every = positive(n, "eval_every", p.eval_every, 0);
  p.checkpoint_every = positive(n, "checkpoint_every", p.checkpoint_every, 0);
  p.keep_last = positive(n, "keep_last", p.keep_last);
  p.best_metric = n.optional_str("best_metric", p.best_metric);
  {
    const auto dot = p.best_metric.find('.');
    const std::string metric = dot == std::string::npos ? "" : p.best_metric.substr(dot + 1);
    static const char* known[] = {"loss", "risk_resistance", "safety_awareness", "macro_f1", "binary_macro_f1"};
    bool ok = false;
    for (const char* k : known) ok = ok || metric == k;
    if (!ok) n["best_metric"].fail("expected <split>.<loss|risk_resistance|safety_awareness|macro_f1|binary_macro_f1>");
  }
  p.early_stopping_patience = positive(n, "early_stopping_patience", p.early_stopping_patience, 0);
  p.generate_max_new_tokens = positive(n, "generate_max_new_tokens", p.generate_max_new_tokens);
  p.max_eval_examples = positive(n, "max_eval_examples", p.max_eval_examples, 0);
  p.final_eval_examples = positive(n, "final_eval_examples", p.final_eval_examples, 0);
  if (p.steps == 0 && !(p.epochs > 0)) n.fail("set steps or a positive epochs");
  if (p.mode == PhaseMode::Lora && p.objective == Objective::LanguageModel)
    n["objective"].fail("objective 'lm' trains all weights: use mode 'full'");
  return p;
}

}  // namespace

std::string to_string(Rendering r) {
  switch (r) {
    case Rendering::Glaive: return "glaive";
    case Rendering::JsonRpc: return "jsonrpc";
    case Rendering::Mci: return "mci";
  }
  return "?";
}

std::int64_t periodic_eval_examples(const PhaseConfig& p, const DataConfig& d) {
  return p.max_eval_examples >= 0 ? p.max_eval_examples : d.max_eval_examples;
}

std::int64_t final_eval_examples(const PhaseConfig& p, const DataConfig& d) {
  return p.final_eval_examples >= 0 ? p.final_eval_examples : periodic_eval_examples(p, d);
}

std::int64_t eval_examples_to_load(const PhaseConfig& p, const DataConfig& d) {
  const std::int64_t a = periodic_eval_examples(p, d), b = final_eval_examples(p, d);
  return a == 0 || b == 0 ? 0 : std::max(a, b);
}

std::string to_string(ToolView v) { return v == ToolView::Signatures ? "signatures" : "verbatim"; }

std::string to_string(Objective o) {
  switch (o) {
    case Objective::LanguageModel: return "lm";
    case Objective::Classify: return "classify";
    case Objective::Generate: return "generate";
  }
  return "?";
}

TrainerConfig TrainerConfig::load(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  TrainerConfig c = parse(read_file(path), path.string(), overrides);
  c.config_file = path;
  return c;
}

TrainerConfig TrainerConfig::parse(const std::string& yaml_text, const std::string& origin,
                                   const std::vector<std::string>& overrides) {
  StrictYaml parsed = StrictYaml::parse(yaml_text, origin);
  YAML::Node node = parsed.raw();
  if (node.IsNull() || !node.IsDefined()) node = YAML::Node(YAML::NodeType::Map);
  for (const auto& o : overrides) apply_override(node, o);
  const StrictYaml root(node, "", std::make_shared<const std::string>(origin));
  root.expect_map({"schema_version", "output_dir", "seed", "device", "threads", "bf16_autocast", "recompute", "resume",
                   "data", "tokenizer", "model", "pretrain", "finetune"});
  if (root.optional_int("schema_version", 1) != 1) root["schema_version"].fail("only schema_version 1 is supported");

  TrainerConfig c;
  c.output_dir = root.required_str("output_dir");
  if (root.has("seed")) {
    const long long s = root["seed"].integer();
    if (s < 0) root["seed"].fail("must be >= 0");
    c.seed = static_cast<std::uint64_t>(s);
  }
  c.device = root.optional_str("device", c.device);
  if (c.device != "auto" && c.device != "cpu" && c.device.rfind("cuda", 0) != 0)
    root["device"].fail("expected auto, cpu, cuda or cuda:N");
  c.threads = positive(root, "threads", 0, 0);
  if (c.threads == 0) c.threads = std::max(1u, std::thread::hardware_concurrency());
  c.bf16_autocast = root.optional_bool("bf16_autocast", c.bf16_autocast);
  c.recompute = root.optional_bool("recompute", c.recompute);
  c.resume = root.optional_bool("resume", c.resume);

  {
    const StrictYaml d = root.required("data");
    d.expect_map({"dir", "rendering", "tool_view", "max_result_chars", "flow_checks", "max_length", "keep_head_tokens", "cache_dir", "tokenize_threads", "bucket_batches",
                  "class_weighting", "max_train_examples", "max_eval_examples", "eval_splits"});
    c.data.dir = d.required_str("dir");
    if (d.has("rendering"))
      c.data.rendering = enum_value<Rendering>(
          d["rendering"], {{"glaive", Rendering::Glaive}, {"jsonrpc", Rendering::JsonRpc}, {"mci", Rendering::Mci}});
    if (d.has("tool_view"))
      c.data.tool_view = enum_value<ToolView>(d["tool_view"], {{"verbatim", ToolView::Verbatim}, {"signatures", ToolView::Signatures}});
    c.data.max_result_chars = positive(d, "max_result_chars", c.data.max_result_chars, 0);
    c.data.flow_checks = d.optional_bool("flow_checks", c.data.flow_checks);
    c.data.max_length = positive(d, "max_length", c.data.max_length, 16);
    c.data.keep_head_tokens = positive(d, "keep_head_tokens", c.data.keep_head_tokens, 0);
    c.data.cache_dir = d.optional_str("cache_dir", "");
    if (c.data.cache_dir.empty()) c.data.cache_dir = c.output_dir / "cache";
    c.data.tokenize_threads = positive(d, "tokenize_threads", 0, 0);
    if (c.data.tokenize_threads == 0) c.data.tokenize_threads = c.threads;
    c.data.bucket_batches = positive(d, "bucket_batches", c.data.bucket_batches);
    if (d.has("class_weighting"))
      c.data.class_weighting = enum_value<ClassWeighting>(d["class_weighting"],
                                                          {{"none", ClassWeighting::None},
                                                           {"inverse_frequency", ClassWeighting::InverseFrequency},
                                                           {"sqrt_inverse_frequency", ClassWeighting::SqrtInverseFrequency}});
    c.data.max_train_examples = positive(d, "max_train_examples", 0, 0);
    c.data.max_eval_examples = positive(d, "max_eval_examples", 0, 0);
    if (d.has("eval_splits")) {
      c.data.eval_splits = d["eval_splits"].str_list();
      for (size_t i = 0; i < c.data.eval_splits.size(); ++i) {
        const auto& s = c.data.eval_splits[i];
        if (s != "validation" && s != "test" && s != "test_unseen_tools")
          d["eval_splits"].at(i).fail("expected validation, test or test_unseen_tools");
      }
    }
  }
  if (root.raw()["tokenizer"].IsDefined()) {
    const StrictYaml t = root["tokenizer"];
    t.expect_map({"model", "vocab_size", "train_sentences", "corpus"});
    c.tokenizer.model = t.optional_str("model", "");
    c.tokenizer.vocab_size = positive(t, "vocab_size", c.tokenizer.vocab_size, 64);
    c.tokenizer.train_sentences = positive(t, "train_sentences", c.tokenizer.train_sentences, 100);
    if (t.has("corpus"))
      c.tokenizer.corpus_all_renderings = enum_value<bool>(t["corpus"], {{"rendering", false}, {"all", true}});
  }
  if (root.raw()["model"].IsDefined()) {
    const StrictYaml m = root["model"];
    m.expect_map({"base", "architecture", "dtype"});
    c.model.base = m.optional_str("base", "");
    c.model.dtype = m.optional_str("dtype", c.model.dtype);
    if (c.model.dtype != "float32" && c.model.dtype != "bfloat16") m["dtype"].fail("expected float32 or bfloat16");
    if (m.raw()["architecture"].IsDefined()) {
      const StrictYaml a = m["architecture"];
      a.expect_map({"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                    "max_position_embeddings", "rope_theta", "rms_norm_eps", "tie_word_embeddings"});
      auto& A = c.model.architecture;
      A.hidden_size = positive(a, "hidden_size", A.hidden_size, 8);
      A.intermediate_size = positive(a, "intermediate_size", A.intermediate_size, 8);
      A.num_hidden_layers = positive(a, "num_hidden_layers", A.num_hidden_layers);
      A.num_attention_heads = positive(a, "num_attention_heads", A.num_attention_heads);
      A.num_key_value_heads = positive(a, "num_key_value_heads", A.num_key_value_heads);
      A.max_position_embeddings = positive(a, "max_position_embeddings", A.max_position_embeddings, 16);
      A.rope_theta = number_in(a, "rope_theta", A.rope_theta, 1, 1e9);
      A.rms_norm_eps = number_in(a, "rms_norm_eps", A.rms_norm_eps, 1e-12, 1e-1);
      A.tie_word_embeddings = a.optional_bool("tie_word_embeddings", A.tie_word_embeddings);
      if (A.hidden_size % A.num_attention_heads != 0)
        a["num_attention_heads"].fail("must divide hidden_size");
      if (A.num_attention_heads % A.num_key_value_heads != 0)
        a["num_key_value_heads"].fail("must divide num_attention_heads");
    }
  }

  PhaseConfig pre;
  pre.mode = PhaseMode::Full;
  pre.objective = Objective::LanguageModel;
  pre.best_metric = "validation.loss";
  c.pretrain = read_phase(root, "pretrain", pre);
  c.finetune = read_phase(root, "finetune", PhaseConfig{});
  if (c.pretrain.enabled && c.pretrain.objective != Objective::LanguageModel)
    root["pretrain"]["objective"].fail("the pretrain phase trains the causal LM: objective must be 'lm'");
  if (c.finetune.enabled && c.finetune.objective == Objective::LanguageModel)
    root["finetune"]["objective"].fail("the finetune phase trains the guardian: objective classify or generate");
  if (!c.pretrain.enabled && !c.finetune.enabled) root.fail("enable at least one of pretrain and finetune");
  if (c.model.base.empty() && !c.pretrain.enabled)
    root["model"].fail("model.base is empty: give a Hugging Face checkpoint or enable the pretrain phase");
  if (c.model.base.empty() && c.tokenizer.model.empty() && !c.pretrain.enabled)
    root["tokenizer"].fail("no tokenizer: set tokenizer.model or model.base");
  for (const auto* p : {&c.pretrain, &c.finetune}) {
    const std::string split = p->best_metric.substr(0, p->best_metric.find('.'));
    if (p->enabled && std::find(c.data.eval_splits.begin(), c.data.eval_splits.end(), split) == c.data.eval_splits.end())
      root[p == &c.pretrain ? "pretrain" : "finetune"]["best_metric"].fail(
          fmt::format("split '{}' is not in data.eval_splits", split));
  }
  c.effective = to_json(node);
  return c;
}

}  // namespace mcip::train
