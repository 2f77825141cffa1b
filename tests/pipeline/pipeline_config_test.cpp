#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "common/test_support.h"
#include "mcip/error.h"
#include "mcip/pipeline.h"
#include "template.h"

namespace fs = std::filesystem;
using mcip::InputError;
using mcip::pipeline::load_refresh_config;

namespace {

std::string write_config(const std::string& text) {
  static const mcip::test::ScratchDir scratch("pipeline-config");  // removed when the test program ends
  const fs::path p = scratch.path / "refresh.yaml";
  std::ofstream(p) << text;
  return p.string();
}

const char* kGood =
    "name: t\nreleases_dir: r\nwork_dir: w\n"
    "stages:\n  - {name: a, run: ['{bin}/x', '{out}']}\n  - {name: b, run: ['{bin}/y', '{a.out}']}\n"
    "publish:\n  - {from: '{b.out}/m.json', to: m.json}\n"
    "gate: {metrics: m.json, keys: [acc]}\n";

void expect_error(const std::string& text, const std::string& part) {
  try {
    load_refresh_config(write_config(text));
    ADD_FAILURE() << "accepted: " << part;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(".yaml:"), std::string::npos) << e.what();
  }
}

std::string with(std::string text, const std::string& from, const std::string& to) {
  text.replace(text.find(from), from.size(), to);
  return text;
}

}  // namespace

TEST(RefreshConfig, LoadsAndInfersDependencies) {
  auto cfg = load_refresh_config(write_config(kGood));
  ASSERT_EQ(cfg.stages.size(), 2u);
  EXPECT_EQ(cfg.stages[1].after, std::vector<std::string>{"a"});
  EXPECT_TRUE(cfg.releases_dir.is_absolute());
  EXPECT_EQ(cfg.gate.keys, std::vector<std::string>{"acc"});
}

TEST(RefreshConfig, RejectsMistakesWithFileLineAndKey) {
  expect_error(std::string(kGood) + "colour: blue\n", "colour: unknown key");
  expect_error(with(kGood, "'{a.out}'", "'{c.out}'"), "must name a stage declared earlier");
  expect_error(with(kGood, "'{a.out}'", "'{nope}'"), "unknown placeholder '{nope}'");
  expect_error(with(kGood, "name: b", "name: a"), "duplicate stage 'a'");
  expect_error(with(kGood, "to: m.json", "to: ../m.json"), "relative path inside the release");
  expect_error(with(kGood, "metrics: m.json", "metrics: other.json"), "not a published path");
  expect_error(with(kGood, "'{bin}/x', '{out}'", "'{bin}/x', '{out'"), "unclosed '{'");
  expect_error(with(kGood, "name: t\n", ""), "missing required key 'name'");
  expect_error(with(kGood, "stages:", "stages: [\n"), "YAML syntax error");
}

TEST(RefreshConfig, ShardedStages) {
  const std::string sharded = with(kGood, "{name: a, run: ['{bin}/x', '{out}']}",
                                   "{name: a, shards: 4, max_parallel: 2, run: ['{bin}/x', '{shard}/{shards}', '{out}'], "
                                   "merge: ['{bin}/x', merge, '{out}', '{shard_outs}']}");
  auto cfg = load_refresh_config(write_config(sharded));
  EXPECT_EQ(cfg.stages[0].shards, 4);
  EXPECT_EQ(cfg.stages[0].max_parallel, 2);
  EXPECT_EQ(cfg.stages[0].merge.size(), 4u);
  expect_error(with(sharded, "shards: 4, ", "shards: 0, "), "shards: must be between 1 and 1024");
  expect_error(with(sharded, "merge: ['{bin}/x', merge, '{out}', '{shard_outs}']", "timeout_s: 1"),
               "needs a 'merge' command");
  expect_error(with(kGood, "run: ['{bin}/y', '{a.out}']", "merge: ['{bin}/y', '{shard_outs}'], run: ['{bin}/y']"),
               "'merge' belongs to a stage with 'shards'");
  expect_error(with(kGood, "'{bin}/y', '{a.out}'", "'{bin}/y', '{shard}'"), "only meaningful in the run line or env of a stage with 'shards'");
  expect_error(with(sharded, "'{shard}/{shards}'", "'{shards}'"), "must use '{shard}'");
  expect_error(with(sharded, "'{out}', '{shard_outs}'", "'{out}', 'x={shard_outs}'"), "must be a whole argument");
  expect_error(with(sharded, "'{out}', '{shard_outs}'", "'{out}'"), "add '{shard_outs}'");
  expect_error(with(sharded, "merge, '{out}'", "'{shard}', '{out}'"), "'{shard}' is only meaningful");
}

TEST(Template, ExpandsAndEscapes) {
  auto lookup = [](const std::string& n) -> std::optional<std::string> {
    if (n == "x") return std::string("1");
    return std::nullopt;
  };
  EXPECT_EQ(mcip::pipeline::expand("a{x}b{{c}}", lookup), "a1b{c}");
  EXPECT_THROW(mcip::pipeline::expand("{y}", lookup), std::invalid_argument);
}

TEST(DeployManifests, ShardJobsAgreeWithTheirCounts) {
  // Each Indexed Job / array must pass --shard INDEX/N with N equal to its completions.
  auto docs = YAML::LoadAllFromFile(std::string(MCIP_SOURCE_DIR) + "/pipeline/deploy/kubernetes/synth-shards-job.yaml");
  ASSERT_EQ(docs.size(), 1u);
  const auto& job = docs[0];
  EXPECT_EQ(job["kind"].as<std::string>(), "Job");
  EXPECT_EQ(job["spec"]["completionMode"].as<std::string>(), "Indexed");
  const int n = job["spec"]["completions"].as<int>();
  const std::string args = job["spec"]["template"]["spec"]["containers"][0]["args"][0].as<std::string>();
  EXPECT_NE(args.find("--shard ${JOB_COMPLETION_INDEX}/" + std::to_string(n)), std::string::npos) << args;

  auto train = YAML::LoadAllFromFile(std::string(MCIP_SOURCE_DIR) + "/pipeline/deploy/kubernetes/train-workers-job.yaml");
  ASSERT_EQ(train.size(), 2u);
  const int world = train[1]["spec"]["completions"].as<int>();
  const std::string targs = train[1]["spec"]["template"]["spec"]["containers"][0]["args"][0].as<std::string>();
  EXPECT_NE(targs.find("WORLD_SIZE=" + std::to_string(world)), std::string::npos) << targs;
  EXPECT_NE(targs.find("RANK=${JOB_COMPLETION_INDEX}"), std::string::npos);
}

TEST(RefreshConfig, ShippedConfigIsValid) {
  auto cfg = load_refresh_config(std::string(MCIP_SOURCE_DIR) + "/configs/refresh.yaml");
  EXPECT_EQ(cfg.name, "tiny-cpu");
  std::vector<std::string> names;
  for (const auto& s : cfg.stages) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"harvest", "synth", "validate", "tokenize", "train", "export", "eval"}));
  EXPECT_FALSE(cfg.stages[0].enabled);
  const auto& train = cfg.stages[4].after;
  EXPECT_NE(std::find(train.begin(), train.end(), "tokenize"), train.end()) << "train reads the tokenize stage's output";
  EXPECT_EQ(cfg.gate.metrics, "metrics.json");
}
