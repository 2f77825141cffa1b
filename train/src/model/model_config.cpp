#include "mcip/model_config.h"

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"

namespace mcip::train {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& origin, const std::string& key, const std::string& what) {
  throw InputError(origin, 0, key, what);
}

const json* find(const json& doc, const char* key) {
  auto it = doc.find(key);
  return it == doc.end() || it->is_null() ? nullptr : &*it;
}

std::int64_t get_int(const json& doc, const char* key, const std::string& origin, std::optional<std::int64_t> fallback,
                     std::int64_t min_value = 1) {
  const json* v = find(doc, key);
  if (!v) {
    if (!fallback) fail(origin, key, "required key missing");
    return *fallback;
  }
  if (!v->is_number_integer()) fail(origin, key, fmt::format("expected an integer, got {}", v->dump()));
  std::int64_t x = v->get<std::int64_t>();
  if (x < min_value) fail(origin, key, fmt::format("must be >= {}, got {}", min_value, x));
  return x;
}

double get_double(const json& doc, const char* key, const std::string& origin, double fallback) {
  const json* v = find(doc, key);
  if (!v) return fallback;
  if (!v->is_number()) fail(origin, key, fmt::format("expected a number, got {}", v->dump()));
  double x = v->get<double>();
  if (!(x > 0)) fail(origin, key, fmt::format("must be positive, got {}", x));
  return x;
}

bool get_bool(const json& doc, const char* key, const std::string& origin, bool fallback) {
  const json* v = find(doc, key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(origin, key, fmt::format("expected true or false, got {}", v->dump()));
  return v->get<bool>();
}

// eos_token_id may be a list in newer configs (e.g. Llama 3.1); the first entry is the primary one.
std::optional<std::int64_t> get_token_id(const json& doc, const char* key, const std::string& origin) {
  const json* v = find(doc, key);
  if (!v) return std::nullopt;
  if (v->is_array() && !v->empty()) v = &(*v)[0];
  if (!v->is_number_integer() || v->get<std::int64_t>() < 0)
    fail(origin, key, fmt::format("expected a non-negative token id, got {}", v->dump()));
  return v->get<std::int64_t>();
}

RopeScaling parse_rope_scaling(const json& rs, const std::string& origin, const std::string& key) {
  RopeScaling out;
  if (!rs.is_object()) fail(origin, key, "expected an object");
  std::string type;
  if (auto it = rs.find("rope_type"); it != rs.end() && it->is_string()) type = *it;
  else if (auto it2 = rs.find("type"); it2 != rs.end() && it2->is_string()) type = *it2;
  if (type.empty() || type == "default") return out;
  auto num = [&](const char* k, double fallback) {
    auto it = rs.find(k);
    if (it == rs.end() || it->is_null()) return fallback;
    if (!it->is_number()) fail(origin, key + "." + k, "expected a number");
    return it->get<double>();
  };
  if (type == "linear") {
    out.kind = RopeScaling::Kind::Linear;
    out.factor = num("factor", 0);
    if (!(out.factor > 0)) fail(origin, key + ".factor", "linear rope scaling needs a positive factor");
  } else if (type == "llama3") {
    out.kind = RopeScaling::Kind::Llama3;
    out.factor = num("factor", 0);
    out.low_freq_factor = num("low_freq_factor", 1.0);
    out.high_freq_factor = num("high_freq_factor", 4.0);
    out.original_max_position_embeddings = static_cast<std::int64_t>(num("original_max_position_embeddings", 8192));
    if (!(out.factor > 0) || !(out.high_freq_factor > out.low_freq_factor) || out.original_max_position_embeddings <= 0)
      fail(origin, key, "llama3 rope scaling needs factor > 0, high_freq_factor > low_freq_factor and a positive "
                        "original_max_position_embeddings");
  } else {
    fail(origin, key + ".rope_type", fmt::format("unsupported rope scaling '{}' (supported: linear, llama3)", type));
  }
  return out;
}

const char* architecture_class(const std::string& model_type, bool classifier) {
  if (model_type == "qwen2") return classifier ? "Qwen2ForSequenceClassification" : "Qwen2ForCausalLM";
  if (model_type == "mistral") return classifier ? "MistralForSequenceClassification" : "MistralForCausalLM";
  return classifier ? "LlamaForSequenceClassification" : "LlamaForCausalLM";
}

}  // namespace

ModelConfig ModelConfig::from_json(const json& doc, const std::string& origin) {
  if (!doc.is_object()) fail(origin, "", "config.json must be a JSON object");
  ModelConfig c;
  c.source = doc;
  const json* mt = find(doc, "model_type");
  if (!mt || !mt->is_string()) fail(origin, "model_type", "required string missing");
  c.model_type = mt->get<std::string>();
  if (c.model_type != "llama" && c.model_type != "mistral" && c.model_type != "qwen2")
    fail(origin, "model_type",
         fmt::format("unsupported architecture '{}' (supported: llama, mistral, qwen2)", c.model_type));
  if (const json* a = find(doc, "architectures")) {
    if (!a->is_array()) fail(origin, "architectures", "expected a list of class names");
    for (const auto& x : *a) {
      if (!x.is_string()) fail(origin, "architectures", "expected a list of class names");
      c.architectures.push_back(x.get<std::string>());
    }
  }
  if (const json* act = find(doc, "hidden_act"); act && *act != "silu")
    fail(origin, "hidden_act", fmt::format("only silu (SwiGLU) is supported, got {}", act->dump()));

  c.vocab_size = get_int(doc, "vocab_size", origin, std::nullopt);
  c.hidden_size = get_int(doc, "hidden_size", origin, std::nullopt);
  c.intermediate_size = get_int(doc, "intermediate_size", origin, std::nullopt);
  c.num_hidden_layers = get_int(doc, "num_hidden_layers", origin, std::nullopt);
  c.num_attention_heads = get_int(doc, "num_attention_heads", origin, std::nullopt);
  c.num_key_value_heads = get_int(doc, "num_key_value_heads", origin, c.num_attention_heads);
  if (c.hidden_size % c.num_attention_heads != 0 && !find(doc, "head_dim"))
    fail(origin, "num_attention_heads", "hidden_size is not divisible by num_attention_heads and head_dim is absent");
  c.head_dim = get_int(doc, "head_dim", origin, c.hidden_size / c.num_attention_heads);
  c.max_position_embeddings = get_int(doc, "max_position_embeddings", origin, 2048);
  c.rms_norm_eps = get_double(doc, "rms_norm_eps", origin, 1e-6);

  // Older files keep rope_theta/rope_scaling at the top level; newer transformers nest them in
  // rope_parameters. The nested form wins when both are present.
  c.rope_theta = get_double(doc, "rope_theta", origin, 10000.0);
  if (const json* rs = find(doc, "rope_scaling")) c.rope_scaling = parse_rope_scaling(*rs, origin, "rope_scaling");
  if (const json* rp = find(doc, "rope_parameters")) {
    if (!rp->is_object()) fail(origin, "rope_parameters", "expected an object");
    c.rope_theta = get_double(*rp, "rope_theta", origin + ": rope_parameters", c.rope_theta);
    c.rope_scaling = parse_rope_scaling(*rp, origin, "rope_parameters");
  }

  c.tie_word_embeddings = get_bool(doc, "tie_word_embeddings", origin, false);
  if (c.model_type == "qwen2") {
    c.qkv_bias = true;  // hard-coded in modeling_qwen2.py, not a config key
    if (get_bool(doc, "use_sliding_window", origin, false))
      c.sliding_window = get_int(doc, "sliding_window", origin, 4096);
  } else {
    c.qkv_bias = c.o_bias = get_bool(doc, "attention_bias", origin, false);
    c.mlp_bias = get_bool(doc, "mlp_bias", origin, false);
    if (c.model_type == "mistral" && find(doc, "sliding_window"))
      c.sliding_window = get_int(doc, "sliding_window", origin, std::nullopt);
  }
  c.bos_token_id = get_token_id(doc, "bos_token_id", origin);
  c.eos_token_id = get_token_id(doc, "eos_token_id", origin);
  c.pad_token_id = get_token_id(doc, "pad_token_id", origin);

  bool classifier = false;
  for (const auto& a : c.architectures) classifier |= a.find("ForSequenceClassification") != std::string::npos;
  if (const json* id2label = find(doc, "id2label")) {
    if (!id2label->is_object()) fail(origin, "id2label", "expected an object {\"0\": \"label\", ...}");
    c.id2label.resize(id2label->size());
    for (const auto& [k, v] : id2label->items()) {
      std::size_t pos = 0;
      long idx = -1;
      try {
        idx = std::stol(k, &pos);
      } catch (...) {
      }
      if (pos != k.size() || idx < 0 || idx >= static_cast<long>(c.id2label.size()) || !v.is_string())
        fail(origin, "id2label." + k, "keys must be 0..n-1 and values label strings");
      c.id2label[idx] = v.get<std::string>();
    }
  }
  // A score head exists for *ForSequenceClassification, or when a file without architectures
  // asks for labels; a *ForCausalLM keeps none whatever num_labels says (transformers ignores it).
  const bool causal_lm = !c.architectures.empty() && !classifier;
  if (causal_lm) c.num_labels = 0;
  else if (find(doc, "num_labels")) c.num_labels = get_int(doc, "num_labels", origin, std::nullopt, 0);
  else if (classifier) c.num_labels = static_cast<std::int64_t>(c.id2label.size());
  else c.num_labels = 0;
  if (!c.id2label.empty() && c.num_labels != static_cast<std::int64_t>(c.id2label.size())) {
    // transformers writes id2label with 2 default entries for plain LMs; only a classifier must agree.
    if (c.num_labels > 0) fail(origin, "id2label", fmt::format("{} labels but num_labels is {}", c.id2label.size(), c.num_labels));
    c.id2label.clear();
  }
  // Newer transformers write "dtype", older ones "torch_dtype".
  for (const char* key : {"torch_dtype", "dtype"})
    if (const json* dt = find(doc, key); dt && dt->is_string()) c.torch_dtype = *dt;
  c.validate(origin);
  return c;
}

void ModelConfig::validate(const std::string& origin) const {
  if (num_attention_heads % num_key_value_heads != 0)
    fail(origin, "num_key_value_heads",
         fmt::format("num_attention_heads ({}) must be a multiple of num_key_value_heads ({})", num_attention_heads,
                     num_key_value_heads));
  if (head_dim % 2 != 0) fail(origin, "head_dim", fmt::format("rotary embeddings need an even head_dim, got {}", head_dim));
  for (auto* id : {&bos_token_id, &eos_token_id, &pad_token_id})
    if (*id && **id >= vocab_size)
      fail(origin, id == &bos_token_id ? "bos_token_id" : id == &eos_token_id ? "eos_token_id" : "pad_token_id",
           fmt::format("token id {} is outside the vocabulary ({} entries)", **id, vocab_size));
  if (num_labels < 0) fail(origin, "num_labels", "must be >= 0");
}

ModelConfig ModelConfig::load(const std::filesystem::path& path) {
  const std::string text = read_file(path);
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    fail(path.string(), "", fmt::format("not valid JSON: {}", e.what()));
  }
  return from_json(doc, path.string());
}

json ModelConfig::to_json() const {
  json j = source.is_object() ? source : json::object();
  j["model_type"] = model_type;
  j["architectures"] = json::array({architecture_class(model_type, num_labels > 0)});
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["hidden_act"] = "silu";
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j.erase("rope_parameters");  // written back in the widely read top-level form
  j["rope_theta"] = rope_theta;
  if (rope_scaling.kind == RopeScaling::Kind::None) {
    j["rope_scaling"] = nullptr;
  } else if (rope_scaling.kind == RopeScaling::Kind::Linear) {
    j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", rope_scaling.factor}};
  } else {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", rope_scaling.factor},
                         {"low_freq_factor", rope_scaling.low_freq_factor},
                         {"high_freq_factor", rope_scaling.high_freq_factor},
                         {"original_max_position_embeddings", rope_scaling.original_max_position_embeddings}};
  }
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (model_type == "qwen2") {
    j["use_sliding_window"] = sliding_window.has_value();
    if (sliding_window) j["sliding_window"] = *sliding_window;
  } else {
    j["attention_bias"] = qkv_bias;
    j["mlp_bias"] = mlp_bias;
    if (model_type == "mistral") j["sliding_window"] = sliding_window ? json(*sliding_window) : json(nullptr);
  }
  auto put_id = [&](const char* key, const std::optional<std::int64_t>& v) { j[key] = v ? json(*v) : json(nullptr); };
  put_id("bos_token_id", bos_token_id);
  put_id("eos_token_id", eos_token_id);
  put_id("pad_token_id", pad_token_id);
  if (num_labels > 0) {
    j["num_labels"] = num_labels;
    json id2 = json::object(), l2id = json::object();
    for (std::int64_t i = 0; i < num_labels; ++i) {
      std::string name = i < static_cast<std::int64_t>(id2label.size()) ? id2label[i] : fmt::format("LABEL_{}", i);
      id2[std::to_string(i)] = name;
      l2id[name] = i;
    }
    j["id2label"] = id2;
    j["label2id"] = l2id;
  } else {
    j.erase("num_labels");
    j.erase("id2label");
    j.erase("label2id");
  }
  j["torch_dtype"] = torch_dtype;
  if (j.contains("dtype")) j["dtype"] = torch_dtype;
  return j;
}

}  // namespace mcip::train
