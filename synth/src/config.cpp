#include "mcip/synth/config.h"

#include <fmt/format.h>

#include "mcip/error.h"
#include "mcip/taxonomy.h"

extern "C" {
extern const unsigned char mcip_synth_default_config[];
extern const unsigned long mcip_synth_default_config_size;
}

namespace mcip::synth {
namespace {

const char* type_name(const ojson& v) {
  if (v.is_number()) return "a number";
  if (v.is_boolean()) return "true or false";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "a list";
  if (v.is_object()) return "a mapping";
  return "null";
}

bool same_kind(const ojson& a, const ojson& b) {
  if (a.is_number() && b.is_number()) return true;
  return a.type() == b.type();
}

// Merges `user` into `base`, requiring every user key to exist in the defaults with the same
// kind of value. `free_maps` are pointers whose keys are open (e.g. label weights).
void merge(ojson& base, const ojson& user, const Document& doc, const std::string& ptr) {
  if (!user.is_object()) doc.fail(ptr, "expected a mapping");
  for (auto it = user.begin(); it != user.end(); ++it) {
    const std::string child = ptr + "/" + pointer_token(it.key());
    if (ptr == "/labels/weights") {
      if (!it.value().is_number() || it.value().get<double>() < 0) doc.fail(child, "expected a non-negative number");
      base[it.key()] = it.value();
      continue;
    }
    if (!base.contains(it.key())) {
      std::string list;
      for (auto b = base.begin(); b != base.end(); ++b) list += (list.empty() ? "" : ", ") + b.key();
      doc.fail(child, fmt::format("unknown key (allowed: {})", list));
    }
    ojson& target = base[it.key()];
    if (!same_kind(target, it.value())) doc.fail(child, fmt::format("expected {}", type_name(target)));
    if (target.is_object()) merge(target, it.value(), doc, child);
    else target = it.value();
  }
}

double num(const Document& doc, const ojson& root, const std::string& ptr, double lo, double hi) {
  const ojson& v = root.at(ojson::json_pointer(ptr));
  const double d = v.get<double>();
  if (d < lo || d > hi) doc.fail(ptr, fmt::format("must be between {} and {}", lo, hi));
  return d;
}

}  // namespace

std::string_view embedded_default_config() {
  return {reinterpret_cast<const char*>(mcip_synth_default_config), mcip_synth_default_config_size};
}

SynthConfig load_config(const std::string& file) {
  Document defaults = Document::parse(embedded_default_config(), "<embedded configs/synth.yaml>");
  ojson merged = defaults.root();
  Document user;
  const Document* where = &defaults;
  if (!file.empty()) {
    user = Document::load(file);
    if (user.root().is_null()) user.root() = ojson::object();
    merge(merged, user.root(), user, "");
    where = &user;
  }
  // Range checks report against the user's file when it set the key, else the defaults.
  const Document& doc = *where;
  SynthConfig c;
  auto integer = [&](const std::string& ptr, double lo, double hi) {
    const double d = num(doc, merged, ptr, lo, hi);
    if (d != static_cast<double>(static_cast<long long>(d))) doc.fail(ptr, "must be a whole number");
    return static_cast<long long>(d);
  };
  if (merged["schema_version"] != 1) doc.fail("/schema_version", "must be 1");
  c.seed = static_cast<std::uint64_t>(integer("/seed", 0, 9.0e15));
  c.count = static_cast<std::uint64_t>(integer("/count", 1, 1.0e10));
  c.threads = static_cast<int>(integer("/threads", 0, 1024));
  c.protocol_version = merged["protocol_version"].get<std::string>();
  if (c.protocol_version.empty()) doc.fail("/protocol_version", "must not be empty");
  for (size_t i = 0; i < merged["catalogs"].size(); ++i) {
    if (!merged["catalogs"][i].is_string()) doc.fail(fmt::format("/catalogs/{}", i), "expected a path or glob");
    c.catalogs.push_back(merged["catalogs"][i].get<std::string>());
  }
  if (c.catalogs.empty()) doc.fail("/catalogs", "must list at least one catalog path");
  for (size_t i = 0; i < merged["recorded_traces"]["files"].size(); ++i) {
    const auto& f = merged["recorded_traces"]["files"][i];
    if (!f.is_string() || f.get_ref<const std::string&>().empty())
      doc.fail(fmt::format("/recorded_traces/files/{}", i), "expected a path or glob");
    c.recorded_trace_files.push_back(f.get<std::string>());
  }
  c.recorded_share = num(doc, merged, "/recorded_traces/share", 0, 1);
  if (c.recorded_share > 0 && c.recorded_trace_files.empty())
    doc.fail("/recorded_traces/files", "must list at least one trace file when share is above 0");
  c.value_pools_file = merged["data"]["value_pools"].get<std::string>();
  c.phrasing_file = merged["data"]["phrasing"].get<std::string>();
  c.prompt_template_file = merged["data"]["prompt_template"].get<std::string>();
  c.balance = merged["labels"]["balance"].get<std::string>();
  if (c.balance != "balanced" && c.balance != "weights") doc.fail("/labels/balance", "must be 'balanced' or 'weights'");
  c.label_weight_spec = merged["labels"]["weights"];
  if (c.balance == "weights" && c.label_weight_spec.empty()) doc.fail("/labels/weights", "balance 'weights' needs at least one label weight");
  c.hard_negative_share = num(doc, merged, "/hard_negative_share", 0, 1);
  c.validation_share = num(doc, merged, "/splits/validation", 0, 0.5);
  c.test_share = num(doc, merged, "/splits/test", 0, 0.5);
  c.unseen_server_share = num(doc, merged, "/splits/unseen_servers", 0, 0.5);
  c.unseen_from = merged["splits"]["unseen_from"].get<std::string>();
  if (c.unseen_from != "any" && c.unseen_from != "harvested") doc.fail("/splits/unseen_from", "must be 'any' or 'harvested'");
  c.episode.min_tools_offered = static_cast<int>(integer("/episode/min_tools_offered", 1, 64));
  c.episode.max_tools_offered = static_cast<int>(integer("/episode/max_tools_offered", 1, 64));
  if (c.episode.max_tools_offered < c.episode.min_tools_offered)
    doc.fail("/episode/max_tools_offered", "must be at least min_tools_offered");
  c.episode.multi_server = num(doc, merged, "/episode/multi_server", 0, 1);
  c.episode.multi_request = num(doc, merged, "/episode/multi_request", 0, 1);
  c.episode.chitchat = num(doc, merged, "/episode/chitchat", 0, 1);
  c.episode.optional_args = num(doc, merged, "/episode/optional_args", 0, 1);
  c.episode.tool_error = num(doc, merged, "/episode/tool_error", 0, 0.5);
  c.episode.plain_text_results = num(doc, merged, "/episode/plain_text_results", 0, 1);
  c.episode.error_recovery = num(doc, merged, "/episode/error_recovery", 0, 1);
  c.max_attempts = static_cast<int>(integer("/mutators/max_attempts", 1, 1000));
  c.exact_dedup = merged["dedup"]["exact"].get<bool>();
  c.max_resamples = static_cast<int>(integer("/dedup/max_resamples", 0, 100));
  c.near.enabled = merged["dedup"]["near"]["enabled"].get<bool>();
  c.near.shingle = static_cast<int>(integer("/dedup/near/shingle", 2, 32));
  c.near.hashes = static_cast<int>(integer("/dedup/near/hashes", 8, 512));
  c.near.bands = static_cast<int>(integer("/dedup/near/bands", 1, 512));
  if (c.near.hashes % c.near.bands != 0) doc.fail("/dedup/near/bands", "must divide dedup.near.hashes");
  c.near.threshold = num(doc, merged, "/dedup/near/threshold", 0.05, 1);
  c.near.index_cap = static_cast<std::uint64_t>(integer("/dedup/near/index_cap", 0, 1.0e9));
  c.near.drop_cross_split = merged["dedup"]["near"]["drop_cross_split"].get<bool>();
  c.effective = merged;
  return c;
}

void SynthConfig::resolve_labels(const taxonomy::Taxonomy& tax, const std::string& origin) {
  const auto bench = tax.benchmark_labels();
  label_weights.assign(tax.labels().size(), 0.0);
  if (balance == "balanced") {
    for (const auto* l : bench) label_weights[static_cast<size_t>(l->index)] = 1.0;
  }
  for (auto it = label_weight_spec.begin(); it != label_weight_spec.end(); ++it) {
    const auto* l = tax.find_label(it.key());
    if (!l) throw InputError(origin, 0, "labels.weights." + it.key(), "not a label of the taxonomy");
    label_weights[static_cast<size_t>(l->index)] = it.value().get<double>();
  }
  double total = 0;
  for (double w : label_weights) total += w;
  if (total <= 0) throw InputError(origin, 0, "labels.weights", "all label weights are zero");
  for (double& w : label_weights) w /= total;
}

}  // namespace mcip::synth
