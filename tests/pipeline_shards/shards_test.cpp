// Shard-and-merge end to end with the real mcip-synth, several processes at once:
// - the refresh job with a sharded synth stage publishes the same dataset (same content hash)
//   as the unsharded job;
// - the Kubernetes Indexed Job and the Slurm array in pipeline/deploy, run locally (their own
//   command lines, paths moved into a scratch folder), write shards that `mcip-synth merge`
//   turns into exactly the unsharded dataset.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include <fmt/format.h>

#include "common/test_support.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::string kSynthConfig = "count: 1800\nseed: 21\n";

using mcip::test::run_command;
using mcip::test::slurp;

void expect_same_folder(const fs::path& a, const fs::path& b) {
  const auto fa = mcip::test::files_of(a);
  auto fb = mcip::test::files_of(b);
  ASSERT_EQ(fa.size(), fb.size()) << a << " vs " << b;
  for (const auto& [name, bytes] : fa) EXPECT_TRUE(fb.count(name) && fb[name] == bytes) << name << " differs";
}

class Shards : public mcip::test::ScratchTest {
 protected:
  // The reference: one unsharded mcip-synth process.
  fs::path unsharded(const std::string& config_text) {
    std::ofstream(dir_ / "reference.yaml") << config_text;
    const auto r = run_command(fmt::format("{}/mcip-synth --config {} --threads 2 --out {}", MCIP_BIN_DIR,
                                     (dir_ / "reference.yaml").string(), (dir_ / "reference").string()));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return dir_ / "reference";
  }
};

std::string refresh_config(bool sharded) {
  const std::string synth =
      sharded ? "  - name: synth\n"
                "    shards: 3\n"
                "    run: ['{bin}/mcip-synth', --config, '{config_dir}/synth.yaml', --threads, '1', --shard, '{shard}/{shards}',"
                " --out, '{out}']\n"
                "    merge: ['{bin}/mcip-synth', merge, --out, '{out}', '{shard_outs}']\n"
                "    inputs: [synth.yaml]\n"
              : "  - {name: synth, run: ['{bin}/mcip-synth', --config, '{config_dir}/synth.yaml', --out, '{out}'], "
                "inputs: [synth.yaml]}\n";
  return "name: shards\nreleases_dir: releases\nwork_dir: work\nmin_free_mb: 0\nstages:\n" + synth +
         "  - {name: validate, run: ['{bin}/mcip-synth', --validate, '{synth.out}']}\n"
         "publish:\n  - {from: '{synth.out}', to: dataset}\n";
}

}  // namespace

TEST_F(Shards, ShardedRefreshPublishesTheUnshardedDataset) {
  std::map<std::string, json> releases;
  for (const bool sharded : {false, true}) {
    const fs::path project = dir_ / (sharded ? "sharded" : "unsharded");
    fs::create_directories(project);
    std::ofstream(project / "synth.yaml") << kSynthConfig;
    std::ofstream(project / "refresh.yaml") << refresh_config(sharded);
    const auto r = run_command(fmt::format("{}/mcip-pipeline refresh --config {} --version v1", MCIP_BIN_DIR,
                                     (project / "refresh.yaml").string()));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    if (sharded) {
      EXPECT_NE(r.output.find("running 3 of 3 shards as parallel processes"), std::string::npos) << r.output;
      EXPECT_NE(r.output.find("merging shards"), std::string::npos) << r.output;
    }
    releases[sharded ? "sharded" : "unsharded"] = json::parse(slurp(project / "releases" / "v1" / "release.json"));
    if (sharded) {
      const auto again = run_command(fmt::format("{}/mcip-pipeline refresh --config {}", MCIP_BIN_DIR, (project / "refresh.yaml").string()));
      ASSERT_EQ(again.exit_code, 0) << again.output;
      EXPECT_NE(again.output.find("stage synth      unchanged"), std::string::npos) << again.output;
      EXPECT_NE(again.output.find("nothing changed since release v1"), std::string::npos) << again.output;
    }
  }
  const auto& a = releases["unsharded"];
  const auto& b = releases["sharded"];
  EXPECT_EQ(a["content_hash"], b["content_hash"]) << "the sharded job published a different dataset";
  EXPECT_EQ(a["stages"]["synth"]["output_hash"], b["stages"]["synth"]["output_hash"]);
  EXPECT_NE(a["stages"]["synth"]["key"], b["stages"]["synth"]["key"]) << "the shard count is part of the synth key";
  EXPECT_EQ(a["stages"]["validate"]["key"], b["stages"]["validate"]["key"])
      << "downstream keys see content, so validate's cache entry is shared";
  expect_same_folder(dir_ / "unsharded" / "releases" / "v1" / "dataset", dir_ / "sharded" / "releases" / "v1" / "dataset");
}

TEST_F(Shards, KubernetesIndexedJobLayoutMerges) {
  const fs::path reference = unsharded(kSynthConfig);
  const std::string deploy = std::string(MCIP_SOURCE_DIR) + "/pipeline/deploy/kubernetes/";
  const YAML::Node shard_job = YAML::LoadFile(deploy + "synth-shards-job.yaml");
  const YAML::Node merge_job = YAML::LoadFile(deploy + "synth-merge-job.yaml");
  const int n = shard_job["spec"]["completions"].as<int>();
  auto script_of = [&](const YAML::Node& job) {
    const auto c = job["spec"]["template"]["spec"]["containers"][0];
    EXPECT_EQ(c["command"][0].as<std::string>(), "/bin/sh");
    std::string s = c["args"][0].as<std::string>();
    // The pod's mounts (/data, /etc/mcip) become folders of the scratch dir.
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"/etc/mcip/", (dir_ / "etc/").string()},
                                   {"/data/", (dir_ / "data/").string()}})
      for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
    return s;
  };
  fs::create_directories(dir_ / "etc");
  fs::create_directories(dir_ / "data");
  std::ofstream(dir_ / "etc" / "synth.yaml") << kSynthConfig;
  const std::string path = fmt::format("PATH={}:$PATH", MCIP_BIN_DIR);
  std::string pods;
  for (int i = 0; i < n; ++i)
    pods += fmt::format("env {} JOB_COMPLETION_INDEX={} /bin/sh -c '{}' > {}/pod-{}.log 2>&1 & ", path, i, script_of(shard_job),
                        dir_.string(), i);
  ASSERT_EQ(run_command(pods + "wait").exit_code, 0);
  for (int i = 0; i < n; ++i) ASSERT_TRUE(fs::exists(dir_ / "data" / "shards" / fmt::format("shard-{}", i) / "manifest.json")) << i;
  const auto merged = run_command(fmt::format("env {} /bin/sh -c '{}'", path, script_of(merge_job)));
  ASSERT_EQ(merged.exit_code, 0) << merged.output;
  EXPECT_NE(merged.output.find("valid"), std::string::npos) << merged.output;
  expect_same_folder(reference, dir_ / "data" / "runs" / "dataset");
}

TEST_F(Shards, SlurmArrayLayoutMerges) {
  const fs::path reference = unsharded(kSynthConfig);
  const std::string slurm = std::string(MCIP_SOURCE_DIR) + "/pipeline/deploy/slurm/";
  std::ofstream(dir_ / "synth.yaml") << kSynthConfig;
  const std::string env = fmt::format("PATH={}:$PATH MCIP_SYNTH_CONFIG={} MCIP_SHARDS_DIR={} MCIP_DATASET_DIR={}", MCIP_BIN_DIR,
                                      (dir_ / "synth.yaml").string(), (dir_ / "shards").string(), (dir_ / "dataset").string());
  const int n = 4;
  std::string tasks;
  for (int i = 0; i < n; ++i)
    tasks += fmt::format("env {} SLURM_ARRAY_TASK_ID={} SLURM_ARRAY_TASK_COUNT={} SLURM_CPUS_PER_TASK=1 bash {}synth-shards.sbatch "
                         "> {}/task-{}.log 2>&1 & ", env, i, n, slurm, dir_.string(), i);
  ASSERT_EQ(run_command(tasks + "wait").exit_code, 0);
  const auto merged = run_command(fmt::format("env {} bash {}synth-merge.sbatch", env, slurm));
  ASSERT_EQ(merged.exit_code, 0) << merged.output;
  expect_same_folder(reference, dir_ / "dataset");
  // A task that never ran: the merge job fails clearly and writes nothing.
  fs::remove_all(dir_ / "dataset");
  fs::remove_all(dir_ / "shards" / "shard-2");
  const auto missing = run_command(fmt::format("env {} bash {}synth-merge.sbatch", env, slurm));
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("shard 2/4 missing"), std::string::npos) << missing.output;
  EXPECT_FALSE(fs::exists(dir_ / "dataset"));
}
