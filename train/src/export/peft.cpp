// PEFT adapter directories: names and config keys follow huggingface/peft save_pretrained
// (utils/save_and_load.py): the adapter name is dropped on disk, the classification head is
// saved whole under its module path because it is in modules_to_save.
#include "mcip/export_peft.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "mcip/atomic_file.h"
#include "mcip/checkpoint.h"
#include "mcip/error.h"
#include "mcip/safetensors.h"

namespace mcip::guard {
namespace fs = std::filesystem;
using train::Decoder;
using train::LoraConfig;

namespace {

const std::vector<std::string>& all_linear_modules() {
  static const std::vector<std::string> m{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  return m;
}

std::vector<std::string> expand_targets(const std::vector<std::string>& targets) {
  if (targets.size() == 1 && targets[0] == "all-linear") return all_linear_modules();
  return targets;
}

// HF module path of each linear in a layer, keyed by its short name.
std::string module_path(std::int64_t layer, const std::string& short_name) {
  const bool mlp = short_name == "gate_proj" || short_name == "up_proj" || short_name == "down_proj";
  return fmt::format("model.layers.{}.{}.{}", layer, mlp ? "mlp" : "self_attn", short_name);
}

// [out, in] of each targetable linear for the base config.
std::pair<std::int64_t, std::int64_t> linear_shape(const train::ModelConfig& c, const std::string& m) {
  if (m == "q_proj") return {c.q_dim(), c.hidden_size};
  if (m == "k_proj" || m == "v_proj") return {c.kv_dim(), c.hidden_size};
  if (m == "o_proj") return {c.hidden_size, c.q_dim()};
  if (m == "gate_proj" || m == "up_proj") return {c.intermediate_size, c.hidden_size};
  return {c.hidden_size, c.intermediate_size};  // down_proj
}

const nlohmann::json& require(const nlohmann::json& cfg, const std::string& file, const char* key) {
  if (!cfg.contains(key)) throw InputError(file, 0, key, "missing key");
  return cfg[key];
}

}  // namespace

nlohmann::json peft_adapter_config(const Decoder& model, const LoraConfig& lora, const std::string& base_model_id) {
  const bool seq_cls = model.score_weight.defined();
  // Every key PEFT's LoraConfig serialises, with PEFT's defaults where we have no choice to record.
  return {{"alpha_pattern", nlohmann::json::object()},
          {"auto_mapping", nullptr},
          {"base_model_name_or_path", base_model_id},
          {"bias", "none"},
          {"fan_in_fan_out", false},
          {"inference_mode", true},
          {"init_lora_weights", true},
          {"layer_replication", nullptr},
          {"layers_pattern", nullptr},
          {"layers_to_transform", nullptr},
          {"loftq_config", nlohmann::json::object()},
          {"lora_alpha", lora.alpha},
          {"lora_dropout", lora.dropout},
          {"megatron_config", nullptr},
          {"megatron_core", "megatron.core"},
          {"modules_to_save", seq_cls ? nlohmann::json::array({"score"}) : nlohmann::json(nullptr)},
          {"peft_type", "LORA"},
          {"r", lora.rank},
          {"rank_pattern", nlohmann::json::object()},
          {"revision", nullptr},
          {"target_modules", expand_targets(lora.target_modules)},
          {"task_type", seq_cls ? "SEQ_CLS" : "CAUSAL_LM"},
          {"use_dora", false},
          {"use_rslora", lora.use_rslora}};
}

void write_peft_adapter(Decoder& model, const LoraConfig& lora, const std::string& base_model_id, const fs::path& dir) {
  if (base_model_id.empty() || fs::path(base_model_id).is_absolute())
    throw InputError("", 0, "base_model_name_or_path",
                     fmt::format("'{}' is not portable: give a hub-style id (--base-model-id)", base_model_id));
  auto lora_tensors = model.named_lora_tensors();
  if (lora_tensors.empty()) throw InputError("", 0, "adapter", "the model carries no LoRA adapters to export");
  for (auto& [name, lin] : model.named_linears())
    if (lin->lora && lin->lora->merged)
      throw InputError("", 0, name, "LoRA adapter is merged into the base weight; export before merging");
  fs::create_directories(dir);
  std::vector<at::Tensor> keep;
  std::vector<safetensors::TensorView> views;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    keep.push_back(t.detach().to(at::kCPU, at::kFloat).contiguous());
    const at::Tensor& c = keep.back();
    views.push_back({name, safetensors::Dtype::F32, c.sizes().vec(), c.data_ptr(), static_cast<size_t>(c.nbytes())});
  };
  for (auto& [n, t] : lora_tensors) add(n, *t);
  if (model.score_weight.defined()) add("base_model.model.score.weight", model.score_weight);
  safetensors::write(dir / "adapter_model.safetensors", views);
  write_file_atomic(dir / "adapter_config.json", peft_adapter_config(model, lora, base_model_id).dump(2) + "\n");
}

std::vector<std::string> check_peft_adapter(const fs::path& dir, const train::ModelConfig& base) {
  std::vector<std::string> problems;
  auto problem = [&](std::string s) { problems.push_back(std::move(s)); };
  const fs::path cfg_path = dir / "adapter_config.json", st_path = dir / "adapter_model.safetensors";
  if (!fs::exists(cfg_path)) problem("adapter_config.json is missing");
  if (!fs::exists(st_path)) problem("adapter_model.safetensors is missing");
  if (!problems.empty()) return problems;
  nlohmann::json cfg = nlohmann::json::parse(read_file(cfg_path), nullptr, false);
  if (!cfg.is_object()) return {"adapter_config.json is not a JSON object"};
  auto typed = [&](const char* key, bool ok, const char* what) {
    if (!cfg.contains(key)) problem(fmt::format("adapter_config.json: {} missing", key));
    else if (!ok) problem(fmt::format("adapter_config.json: {} must be {}", key, what));
  };
  typed("peft_type", cfg.value("peft_type", nlohmann::json()) == "LORA", "\"LORA\"");
  typed("r", cfg.contains("r") && cfg["r"].is_number_integer() && cfg["r"].get<long>() > 0, "a positive integer");
  typed("lora_alpha", cfg.contains("lora_alpha") && cfg["lora_alpha"].is_number(), "a number");
  typed("lora_dropout", cfg.contains("lora_dropout") && cfg["lora_dropout"].is_number(), "a number");
  typed("use_rslora", cfg.contains("use_rslora") && cfg["use_rslora"].is_boolean(), "a boolean");
  typed("target_modules", cfg.contains("target_modules") && cfg["target_modules"].is_array() &&
                              !cfg["target_modules"].empty(), "a non-empty list");
  typed("task_type", cfg.contains("task_type") && cfg["task_type"].is_string(), "a string");
  typed("bias", cfg.value("bias", nlohmann::json()) == "none", "\"none\" (no bias tensors are exported)");
  typed("base_model_name_or_path",
        cfg.contains("base_model_name_or_path") && cfg["base_model_name_or_path"].is_string() &&
            !cfg["base_model_name_or_path"].get<std::string>().empty() &&
            !fs::path(cfg["base_model_name_or_path"].get<std::string>()).is_absolute(),
        "a portable (non-absolute) model id");
  if (!problems.empty()) return problems;
  const bool seq_cls = cfg["task_type"] == "SEQ_CLS";
  if (seq_cls) {
    bool has_score = false;
    if (cfg.contains("modules_to_save") && cfg["modules_to_save"].is_array())
      for (const auto& m : cfg["modules_to_save"]) has_score |= m == "score";
    if (!has_score) problem("adapter_config.json: SEQ_CLS adapter without \"score\" in modules_to_save (the head would reload random)");
  }
  const std::int64_t r = cfg["r"].get<std::int64_t>();
  std::set<std::string> targets;
  for (const auto& t : cfg["target_modules"]) {
    if (!t.is_string()) { problem("adapter_config.json: target_modules entries must be strings"); continue; }
    const auto s = t.get<std::string>();
    if (std::find(all_linear_modules().begin(), all_linear_modules().end(), s) == all_linear_modules().end())
      problem(fmt::format("adapter_config.json: target module '{}' is not a Llama linear", s));
    targets.insert(s);
  }
  // Expected tensors and shapes.
  std::map<std::string, std::vector<std::int64_t>> expected;
  for (std::int64_t l = 0; l < base.num_hidden_layers; ++l)
    for (const auto& m : targets) {
      const auto [out, in] = linear_shape(base, m);
      const std::string p = "base_model.model." + module_path(l, m);
      expected[p + ".lora_A.weight"] = {r, in};
      expected[p + ".lora_B.weight"] = {out, r};
    }
  if (seq_cls) expected["base_model.model.score.weight"] = {base.num_labels, base.hidden_size};
  safetensors::File file = safetensors::File::open(st_path);
  static const std::regex kAdapterName(R"(\.lora_[AB]\.[^.]+\.weight$)");
  std::set<std::string> seen;
  for (const auto& t : file.header().tensors) {
    seen.insert(t.name);
    if (t.name.rfind("base_model.model.", 0) != 0) problem(fmt::format("{}: missing the base_model.model. prefix", t.name));
    if (std::regex_search(t.name, kAdapterName))
      problem(fmt::format("{}: carries an adapter name (PEFT drops '.default' on disk)", t.name));
    auto it = expected.find(t.name);
    if (it == expected.end()) {
      problem(fmt::format("{}: unexpected tensor", t.name));
      continue;
    }
    if (t.shape != it->second)
      problem(fmt::format("{}: shape [{}] but expected [{}]", t.name, fmt::join(t.shape, ", "), fmt::join(it->second, ", ")));
    if (t.dtype != safetensors::Dtype::F32 && t.dtype != safetensors::Dtype::F16 && t.dtype != safetensors::Dtype::BF16)
      problem(fmt::format("{}: dtype {} is not a float type", t.name, safetensors::dtype_name(t.dtype)));
  }
  for (const auto& [name, shape] : expected)
    if (!seen.count(name)) problem(fmt::format("{}: missing", name));
  return problems;
}

LoraConfig read_peft_lora_config(const fs::path& adapter_config_json) {
  const std::string file = adapter_config_json.string();
  nlohmann::json cfg = nlohmann::json::parse(read_file(adapter_config_json), nullptr, false);
  if (!cfg.is_object()) throw InputError(file, 0, "", "not a JSON object");
  if (require(cfg, file, "peft_type") != "LORA") throw InputError(file, 0, "peft_type", "only LORA adapters are supported");
  LoraConfig lc;
  const auto& r = require(cfg, file, "r");
  if (!r.is_number_integer()) throw InputError(file, 0, "r", "expected an integer");
  lc.rank = r.get<std::int64_t>();
  const auto& alpha = require(cfg, file, "lora_alpha");
  if (!alpha.is_number()) throw InputError(file, 0, "lora_alpha", "expected a number");
  lc.alpha = alpha.get<double>();
  if (cfg.contains("lora_dropout") && cfg["lora_dropout"].is_number()) lc.dropout = cfg["lora_dropout"].get<double>();
  if (cfg.contains("use_rslora") && cfg["use_rslora"].is_boolean()) lc.use_rslora = cfg["use_rslora"].get<bool>();
  if (cfg.value("use_dora", false)) throw InputError(file, 0, "use_dora", "DoRA adapters are not supported");
  const auto& tm = require(cfg, file, "target_modules");
  if (tm.is_string()) {
    lc.target_modules = {tm.get<std::string>()};
  } else if (tm.is_array()) {
    lc.target_modules.clear();
    for (const auto& t : tm) {
      if (!t.is_string()) throw InputError(file, 0, "target_modules", "expected strings");
      lc.target_modules.push_back(t.get<std::string>());
    }
  } else {
    throw InputError(file, 0, "target_modules", "expected a list of module names");
  }
  lc.validate(file);
  return lc;
}

void load_peft_adapter(Decoder& base, const fs::path& dir) {
  const LoraConfig lc = read_peft_lora_config(dir / "adapter_config.json");
  const fs::path st_path = dir / "adapter_model.safetensors";
  safetensors::File file = safetensors::File::open(st_path);
  const bool has_head = file.header().find("base_model.model.score.weight") != nullptr;
  if (has_head && !base.score_weight.defined())
    throw InputError(st_path.string(), 0, "base_model.model.score.weight",
                     "the adapter has a score head but the base model was loaded without one (set num_labels)");
  train::apply_lora(base, lc);
  c10::NoGradGuard no_grad;
  std::set<std::string> used;
  auto copy_into = [&](const std::string& name, at::Tensor& dst) {
    const auto* info = file.header().find(name);
    if (!info) throw InputError(st_path.string(), 0, name, "missing tensor");
    at::Tensor src = train::read_tensor(file, *info);
    if (src.sizes() != dst.sizes())
      throw InputError(st_path.string(), 0, name,
                       fmt::format("shape [{}] does not match the model's [{}]", fmt::join(src.sizes(), ", "),
                                   fmt::join(dst.sizes(), ", ")));
    dst.copy_(src.to(dst.device(), dst.scalar_type()));
    used.insert(name);
  };
  for (auto& [name, t] : base.named_lora_tensors()) copy_into(name, *t);
  if (has_head) copy_into("base_model.model.score.weight", base.score_weight);
  for (const auto& t : file.header().tensors)
    if (!used.count(t.name))
      throw InputError(st_path.string(), 0, t.name, "tensor not used by the adapter config (wrong target_modules?)");
  base.freeze_all();
}

}  // namespace mcip::guard
