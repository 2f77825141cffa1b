// Loading and validating configs/refresh.yaml. Everything a run needs is checked here,
// before any stage starts, so a typo fails in milliseconds rather than after training.
#include <regex>
#include <set>

#include <fmt/format.h>

#include "mcip/error.h"
#include "mcip/pipeline.h"
#include "mcip/yaml_strict.h"
#include "template.h"

namespace fs = std::filesystem;

namespace mcip::pipeline {
namespace {

const std::set<std::string> kBuiltinPlaceholders = {"bin", "out", "work", "config_dir", "run_id"};

// Where a template appears decides which stage-local placeholders it may use.
enum class Context {
  Run,          // a stage's run line: {out}
  ShardedRun,   // a sharded stage's run line: {out}, {shard}, {shards}
  Merge,        // a sharded stage's merge line: {out}, {shards}, {shard_outs}
  ShardedEnv,   // a sharded stage's env values: {shard}, {shards}
  Other,        // env, inputs, publish
};

// Checks that every placeholder in `text` is known. `upstream` collects {stage.out} references.
void check_placeholders(const StrictYaml& node, const std::string& text, const RefreshConfig& cfg,
                        const std::set<std::string>& earlier_stages, std::vector<std::string>* upstream,
                        Context context) {
  std::vector<std::string> names;
  try {
    names = placeholders(text);
  } catch (const std::invalid_argument& e) {
    node.fail(e.what());
  }
  for (const auto& name : names) {
    if (kBuiltinPlaceholders.count(name)) {
      if (name == "out" && context != Context::Run && context != Context::ShardedRun && context != Context::Merge)
        node.fail("'{out}' is only meaningful in a stage's run or merge line");
      continue;
    }
    if (name == "shard" || name == "shards") {
      if (context == Context::ShardedRun || context == Context::ShardedEnv || (name == "shards" && context == Context::Merge))
        continue;
      node.fail(fmt::format("'{{{}}}' is only meaningful in the run line or env of a stage with 'shards'", name));
    }
    if (name == "shard_outs") {
      if (context != Context::Merge) node.fail("'{shard_outs}' is only meaningful in a sharded stage's merge line");
      if (text != "{shard_outs}") node.fail("'{shard_outs}' must be a whole argument (it becomes one argument per shard)");
      continue;
    }
    if (name.rfind("var.", 0) == 0) {
      if (!cfg.vars.count(name.substr(4))) node.fail(fmt::format("'{{{}}}' names no entry of 'vars'", name));
      continue;
    }
    const auto dot = name.find('.');
    if (dot != std::string::npos && name.substr(dot) == ".out") {
      const std::string stage = name.substr(0, dot);
      if (!earlier_stages.count(stage))
        node.fail(fmt::format("'{{{}}}' must name a stage declared earlier", name));
      if (upstream && std::find(upstream->begin(), upstream->end(), stage) == upstream->end())
        upstream->push_back(stage);
      continue;
    }
    node.fail(fmt::format("unknown placeholder '{{{}}}' (known: bin, out, work, config_dir, run_id, var.NAME, STAGE.out; "
                          "shard, shards, shard_outs in sharded stages)", name));
  }
}

}  // namespace

RefreshConfig load_refresh_config(const std::string& path) {
  auto root = StrictYaml::parse_file(path);
  root.expect_map({"name", "releases_dir", "work_dir", "keep_releases", "min_free_mb", "vars", "stages", "publish", "gate"});
  RefreshConfig cfg;
  cfg.origin = path;
  cfg.base_dir = fs::absolute(path).lexically_normal().parent_path();
  cfg.name = root.required_str("name");
  auto resolve = [&](const std::string& p) {
    return (fs::path(p).is_absolute() ? fs::path(p) : cfg.base_dir / p).lexically_normal();
  };
  cfg.releases_dir = resolve(root.required_str("releases_dir"));
  cfg.work_dir = resolve(root.required_str("work_dir"));
  cfg.keep_releases = static_cast<int>(root.optional_int("keep_releases", 5));
  if (cfg.keep_releases < 1) root["keep_releases"].fail("must be at least 1 (the latest release is always kept)");
  cfg.min_free_mb = root.optional_int("min_free_mb", 256);
  if (cfg.min_free_mb < 0) root["min_free_mb"].fail("must not be negative");

  if (root.has("vars")) {
    auto vars = root["vars"];
    for (const auto& key : vars.keys()) cfg.vars[key] = vars[key.c_str()].str();
  }

  static const std::regex kName("[a-z][a-z0-9_-]*");
  auto stages = root.required("stages");
  std::set<std::string> declared;
  for (size_t i = 0, n = stages.seq_size(); i < n; ++i) {
    auto s = stages.at(i);
    s.expect_map({"name", "enabled", "run", "inputs", "after", "env", "timeout_s", "shards", "max_parallel", "merge"});
    StageSpec st;
    st.name = s.required_str("name");
    if (!std::regex_match(st.name, kName)) s["name"].fail("stage names are lower-case letters, digits, '-' and '_'");
    if (declared.count(st.name)) s["name"].fail(fmt::format("duplicate stage '{}'", st.name));
    st.enabled = s.optional_bool("enabled", true);
    if (s.has("shards")) {
      st.shards = static_cast<int>(s["shards"].integer());
      if (st.shards < 1 || st.shards > 1024) s["shards"].fail("must be between 1 and 1024");
      if (!s.has("merge")) s["shards"].fail("a sharded stage needs a 'merge' command that joins the shard folders");
    } else if (s.has("merge")) {
      s["merge"].fail("'merge' belongs to a stage with 'shards'");
    } else if (s.has("max_parallel")) {
      s["max_parallel"].fail("'max_parallel' belongs to a stage with 'shards'");
    }
    st.max_parallel = static_cast<int>(s.optional_int("max_parallel", 0));
    if (st.max_parallel < 0) s["max_parallel"].fail("must not be negative (0 = all shards at once)");
    const bool sharded = st.shards > 0;
    st.run = s.required("run").str_list();
    if (st.run.empty()) s["run"].fail("a stage needs a command");
    for (size_t j = 0; j < st.run.size(); ++j)
      check_placeholders(s["run"].at(j), st.run[j], cfg, declared, &st.after, sharded ? Context::ShardedRun : Context::Run);
    if (sharded) {
      bool uses_index = false;
      for (const auto& arg : st.run)
        for (const auto& name : placeholders(arg)) uses_index |= name == "shard";
      if (!uses_index) s["run"].fail("a sharded stage's run line must use '{shard}' (else every shard does the same work)");
      st.merge = s["merge"].str_list();
      if (st.merge.empty()) s["merge"].fail("a merge needs a command");
      bool lists_shards = false;
      for (size_t j = 0; j < st.merge.size(); ++j) {
        check_placeholders(s["merge"].at(j), st.merge[j], cfg, declared, &st.after, Context::Merge);
        lists_shards |= st.merge[j] == "{shard_outs}";
      }
      if (!lists_shards) s["merge"].fail("the merge command must take the shard folders: add '{shard_outs}'");
    }
    if (s.has("inputs")) {
      st.inputs = s["inputs"].str_list();
      for (size_t j = 0; j < st.inputs.size(); ++j)
        check_placeholders(s["inputs"].at(j), st.inputs[j], cfg, declared, nullptr, Context::Other);
    }
    if (s.has("after")) {
      auto after = s["after"].str_list();
      for (size_t j = 0; j < after.size(); ++j) {
        if (!declared.count(after[j])) s["after"].at(j).fail(fmt::format("'{}' is not a stage declared earlier", after[j]));
        if (std::find(st.after.begin(), st.after.end(), after[j]) == st.after.end()) st.after.push_back(after[j]);
      }
    }
    if (s.has("env"))
      for (const auto& key : s["env"].keys()) {
        st.env[key] = s["env"][key.c_str()].str();
        check_placeholders(s["env"][key.c_str()], st.env[key], cfg, declared, &st.after,
                           sharded ? Context::ShardedEnv : Context::Other);
      }
    st.timeout_s = static_cast<int>(s.optional_int("timeout_s", 0));
    if (st.timeout_s < 0) s["timeout_s"].fail("must not be negative");
    declared.insert(st.name);
    cfg.stages.push_back(std::move(st));
  }
  if (cfg.stages.empty()) stages.fail("at least one stage is required");
  // A disabled stage cannot feed an enabled one: its output would not exist.
  for (size_t i = 0; i < cfg.stages.size(); ++i)
    for (const auto& up : cfg.stages[i].after)
      for (const auto& other : cfg.stages)
        if (other.name == up && !other.enabled && cfg.stages[i].enabled)
          stages.at(i).fail(fmt::format("stage '{}' depends on disabled stage '{}'", cfg.stages[i].name, up));

  auto publish = root.required("publish");
  std::set<std::string> targets;
  for (size_t i = 0, n = publish.seq_size(); i < n; ++i) {
    auto p = publish.at(i);
    p.expect_map({"from", "to"});
    PublishItem item{p.required_str("from"), p.required_str("to")};
    check_placeholders(p["from"], item.from, cfg, declared, nullptr, Context::Other);
    if (fs::path(item.to).is_absolute() || item.to.find("..") != std::string::npos)
      p["to"].fail("must be a relative path inside the release");
    if (item.to == "release.json" || item.to == "report.json") p["to"].fail("reserved name inside a release");
    if (!targets.insert(item.to).second) p["to"].fail(fmt::format("'{}' is published twice", item.to));
    cfg.publish.push_back(std::move(item));
  }

  if (root.has("gate")) {
    auto g = root["gate"];
    g.expect_map({"metrics", "keys", "max_drop"});
    cfg.gate.metrics = g.required_str("metrics");
    if (!targets.count(cfg.gate.metrics)) g["metrics"].fail(fmt::format("'{}' is not a published path", cfg.gate.metrics));
    cfg.gate.keys = g.required("keys").str_list();
    if (cfg.gate.keys.empty()) g["keys"].fail("name at least one metric");
    cfg.gate.max_drop = g.optional_number("max_drop", 0.0);
    if (cfg.gate.max_drop < 0) g["max_drop"].fail("must not be negative");
  }
  return cfg;
}

}  // namespace mcip::pipeline
