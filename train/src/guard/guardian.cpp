// A guardian loaded for inference: manifest, tokenizer (hash-checked), merged checkpoint.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/checkpoint.h"
#include "mcip/error.h"
#include "mcip/guard.h"
#include "mcip/taxonomy.h"

namespace mcip::guard {
namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const fs::path& p) {
  nlohmann::json j = nlohmann::json::parse(read_file(p), nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw InputError(p.string(), 0, "", "not a JSON object");
  return j;
}

const nlohmann::json& at_path(const nlohmann::json& j, const std::string& file, const std::string& dotted) {
  const nlohmann::json* cur = &j;
  std::string::size_type start = 0;
  while (start <= dotted.size()) {
    const auto dot = dotted.find('.', start);
    const std::string key = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object() || !cur->contains(key)) throw InputError(file, 0, dotted, "missing key");
    cur = &(*cur)[key];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *cur;
}

train::Rendering parse_rendering(const std::string& s, const std::string& file) {
  if (s == "glaive") return train::Rendering::Glaive;
  if (s == "jsonrpc") return train::Rendering::JsonRpc;
  if (s == "mci") return train::Rendering::Mci;
  throw InputError(file, 0, "input.rendering", fmt::format("unknown rendering '{}'", s));
}

void require_model_files(const fs::path& model_dir, const std::string& what) {
  for (const char* f : {"config.json", "tokenizer.model"})
    if (!fs::exists(model_dir / f))
      throw InputError((model_dir / f).string(), 0, "", fmt::format("missing: {} needs {}", what, f));
  if (!fs::exists(model_dir / "model.safetensors") && !fs::exists(model_dir / "model.safetensors.index.json"))
    throw InputError((model_dir / "model.safetensors").string(), 0, "",
                     fmt::format("missing: {} needs model.safetensors or model.safetensors.index.json", what));
}

}  // namespace

GuardianSpec read_guardian_spec(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw InputError(dir.string(), 0, "", "model directory not found");
  GuardianSpec s;
  s.dir = dir;
  fs::path manifest_path = dir / "guardian.json";
  const bool exported = fs::exists(manifest_path);
  if (!exported) manifest_path = dir / "mcip_training.json";
  if (!fs::exists(manifest_path))
    throw InputError((dir / "guardian.json").string(), 0, "",
                     "missing: a guardian directory holds guardian.json (mcip-guard export) or mcip_training.json "
                     "(mcip-train's finetune/final)");
  const std::string file = manifest_path.string();
  s.manifest = read_json(manifest_path);
  const auto& m = s.manifest;
  s.model_dir = exported ? dir / at_path(m, file, "files.merged").get<std::string>() : dir;
  require_model_files(s.model_dir, "the guardian model");
  s.objective = at_path(m, file, "objective").get<std::string>();
  s.rendering = parse_rendering(at_path(m, file, "input.rendering").get<std::string>(), file);
  if (m.contains("input") && m["input"].is_object() && m["input"].contains("tool_view")) {
    const auto& v = m["input"]["tool_view"];
    if (v == "signatures") s.view.tool_view = train::ToolView::Signatures;
    else if (v != "verbatim") throw InputError(file, 0, "input.tool_view", "expected \"verbatim\" or \"signatures\"");
  }
  if (m.contains("input") && m["input"].is_object() && m["input"].contains("max_result_chars")) {
    const auto& v = m["input"]["max_result_chars"];
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0)
      throw InputError(file, 0, "input.max_result_chars", "expected an integer >= 0");
    s.view.max_result_chars = v.get<std::int64_t>();
  }
  if (m.contains("input") && m["input"].is_object() && m["input"].contains("flow_checks")) {
    const auto& v = m["input"]["flow_checks"];
    if (!v.is_boolean()) throw InputError(file, 0, "input.flow_checks", "expected true or false");
    s.view.flow_checks = v.get<bool>();
  }
  s.max_length = at_path(m, file, "input.max_length").get<std::int64_t>();
  s.keep_head_tokens = at_path(m, file, "input.keep_head_tokens").get<std::int64_t>();
  s.tokenizer_hash = at_path(m, file, "tokenizer.hash").get<std::string>();
  const auto tax = taxonomy::Taxonomy::embedded();
  const auto& labels = at_path(m, file, "labels");
  if (!labels.is_array() || labels.empty()) throw InputError(file, 0, "labels", "expected a non-empty list");
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto& l = labels[i];
    LabelInfo li;
    li.index = static_cast<int>(i);
    const std::string field = fmt::format("labels[{}]", i);
    if (!l.is_object() || !l.contains("bench_label") || !l.contains("letter") || !l.contains("name"))
      throw InputError(file, 0, field, "expected {letter, name, bench_label}");
    li.bench_label = l["bench_label"].get<std::string>();
    li.letter = l["letter"].get<std::string>().at(0);
    li.name = l["name"].get<std::string>();
    if (l.contains("safe")) li.safe = l["safe"].get<bool>();
    else if (const auto* tl = tax.find_label(li.bench_label)) li.safe = tl->safe();
    if (li.safe) s.safe_index = li.index;
    s.labels.push_back(li);
  }
  if (s.objective != "classify")
    throw InputError(file, 0, "objective",
                     fmt::format("'{}' guardians are not supported by mcip-guard yet: it classifies with the score "
                                 "head (train with finetune.objective=classify)",
                                 s.objective));
  return s;
}

Guardian::Guardian(GuardianSpec spec, tokenizer::SentencePiece sp, train::Decoder model)
    : spec_(std::move(spec)), sp_(std::move(sp)), model_(std::move(model)) {}

Guardian Guardian::load(const fs::path& dir, int threads) {
  if (threads > 0) at::set_num_threads(threads);
  GuardianSpec spec = read_guardian_spec(dir);
  auto sp = tokenizer::SentencePiece::load((spec.model_dir / "tokenizer.model").string());
  if (!spec.tokenizer_hash.empty() && sp.hash() != spec.tokenizer_hash)
    throw InputError((spec.model_dir / "tokenizer.model").string(), 0, "tokenizer.hash",
                     fmt::format("tokenizer hash {} differs from the one the guardian was trained with ({})", sp.hash(),
                                 spec.tokenizer_hash));
  train::Decoder model = train::load_checkpoint(spec.model_dir);
  train::check_tokenizer_matches(sp, model.config(), spec.model_dir.string());
  if (model.config().num_labels != static_cast<std::int64_t>(spec.labels.size()))
    throw InputError((spec.model_dir / "config.json").string(), 0, "num_labels",
                     fmt::format("{} labels in the model but {} in the manifest", model.config().num_labels,
                                 spec.labels.size()));
  model.freeze_all();
  model.train(false);
  return Guardian(std::move(spec), std::move(sp), std::move(model));
}

train::EncodedExample Guardian::encode(const std::vector<train::Segment>& segments, std::int64_t* original_tokens) const {
  train::EncodeOptions eo;
  eo.max_length = spec_.max_length;
  eo.keep_head_tokens = spec_.keep_head_tokens;
  train::EncodedExample ex = train::encode_segments(segments, sp_, eo);
  if (original_tokens) {
    if (!ex.truncated) {
      *original_tokens = static_cast<std::int64_t>(ex.ids.size());
    } else {
      std::int64_t n = 2;
      for (const auto& s : segments) n += static_cast<std::int64_t>(sp_.encode(s.text).size());
      *original_tokens = n;
    }
  }
  return ex;
}

std::vector<std::vector<double>> Guardian::classify_ids(const std::vector<std::vector<std::int32_t>>& ids) {
  std::vector<std::vector<double>> out;
  if (ids.empty()) return out;
  std::size_t t = 0;
  for (const auto& r : ids) t = std::max(t, r.size());
  const auto b = static_cast<std::int64_t>(ids.size());
  const std::int64_t pad = sp_.pad_id() >= 0 ? sp_.pad_id() : 0;
  at::Tensor input = at::full({b, static_cast<std::int64_t>(t)}, pad, at::kLong);
  at::Tensor mask = at::zeros({b, static_cast<std::int64_t>(t)}, at::kLong);
  auto in_a = input.accessor<std::int64_t, 2>();
  auto m_a = mask.accessor<std::int64_t, 2>();
  for (std::int64_t i = 0; i < b; ++i)
    for (std::size_t j = 0; j < ids[i].size(); ++j) {
      in_a[i][static_cast<std::int64_t>(j)] = ids[i][j];
      m_a[i][static_cast<std::int64_t>(j)] = 1;
    }
  c10::InferenceMode guard;
  train::Batch batch{input, mask, {}, {}};
  at::Tensor probs = at::softmax(model_.classify(batch).to(at::kDouble), -1).contiguous();
  auto p = probs.accessor<double, 2>();
  for (std::int64_t i = 0; i < b; ++i) {
    std::vector<double> row(static_cast<size_t>(probs.size(1)));
    for (std::int64_t k = 0; k < probs.size(1); ++k) row[static_cast<size_t>(k)] = p[i][k];
    out.push_back(std::move(row));
  }
  return out;
}

Classification Guardian::classify_text(const std::string& text, const std::string& origin) {
  const auto start = std::chrono::steady_clock::now();
  DetectedInput in = detect_input(text, origin, std::nullopt);
  if (rendering_of(in.format) != spec_.rendering) {
    // A record carrying several renderings: take the one the model was trained on.
    DetectedInput again = detect_input(text, origin, spec_.rendering == train::Rendering::Glaive   ? InputFormat::Glaive
                                                     : spec_.rendering == train::Rendering::JsonRpc ? InputFormat::JsonRpc
                                                                                                   : InputFormat::Mci);
    if (rendering_of(again.format) != spec_.rendering)
      throw InputError(origin, 0, "format",
                       fmt::format("input is {} ({}) but this guardian was trained on the {} rendering; give it the "
                                   "interaction in that form (or train a guardian with data.rendering={})",
                                   to_string(in.format), in.how, train::to_string(spec_.rendering), to_string(in.format)));
    in = std::move(again);
  }
  Classification c;
  c.format = to_string(in.format);
  c.format_how = in.how;
  auto segments = train::segments_for(spec_.rendering, in.value, origin, 0, spec_.view);
  train::EncodedExample ex = encode(segments, &c.original_tokens);
  c.tokens = static_cast<std::int64_t>(ex.ids.size());
  c.truncated = ex.truncated;
  c.probabilities = classify_ids({ex.ids}).at(0);
  c.label = static_cast<int>(std::max_element(c.probabilities.begin(), c.probabilities.end()) - c.probabilities.begin());
  c.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return c;
}

}  // namespace mcip::guard
