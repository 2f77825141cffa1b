// `mcip-synth merge`: N shard processes merged equal one unsharded process, every file byte for
// byte; damaged or inconsistent shard sets are refused with exit 2, a message naming the shard
// folder and the field, and no output.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/test_support.h"

namespace fs = std::filesystem;

namespace {

const std::string kTestConfig = std::string(MCIP_SOURCE_DIR) + "/tests/synth/data/test_config.yaml";

using mcip::test::CommandResult;
using mcip::test::files_of;
using mcip::test::slurp;

CommandResult synth(const std::string& args) { return mcip::test::run_command(mcip::test::bin("mcip-synth") + " " + args); }

class Merge : public mcip::test::ScratchTest {
 protected:
  // Runs the N shards as N concurrent processes, as a Job or job array would.
  void shards(const std::string& args, int n, const std::string& prefix = "shard-") const {
    std::string cmd;
    for (int i = 0; i < n; ++i)
      cmd += fmt::format("{}/mcip-synth {} --shard {}/{} --out {} > {}.log 2>&1 & ", MCIP_BIN_DIR, args, i, n,
                         path(prefix + std::to_string(i)), path(prefix + std::to_string(i)));
    cmd += "wait";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    for (int i = 0; i < n; ++i) ASSERT_TRUE(fs::exists(dir_ / (prefix + std::to_string(i)) / "manifest.json")) << i;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Expects a refusal: exit 2, every fragment in the message, and no output folder.
  void expect_refused(const std::string& shard_args, const std::vector<std::string>& fragments) const {
    const auto r = synth("merge --out " + path("bad") + " " + shard_args);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    for (const auto& f : fragments) EXPECT_NE(r.output.find(f), std::string::npos) << "missing '" << f << "' in: " << r.output;
    EXPECT_FALSE(fs::exists(dir_ / "bad"));
    for (const auto& e : fs::directory_iterator(dir_))
      EXPECT_EQ(e.path().filename().string().rfind(".bad.tmp", 0), std::string::npos) << "temporary left behind";
  }
};

void expect_identical(const fs::path& a, const fs::path& b) {
  const auto fa = files_of(a), fb = files_of(b);
  ASSERT_EQ(fa.size(), fb.size());
  for (const auto& [name, bytes] : fa) {
    ASSERT_TRUE(fb.count(name)) << name;
    EXPECT_TRUE(bytes == fb.at(name)) << name << " differs between " << a << " and " << b;
  }
}

TEST_F(Merge, ThreeShardProcessesMergeToTheUnshardedRunDefaultCatalogs) {
  const std::string args = "--count 3000 --seed 17 --threads 1";
  ASSERT_EQ(synth(args + " --out " + path("full")).exit_code, 0);
  shards(args, 3);
  // Any order on the command line.
  const auto r = synth("merge --out " + path("merged") + " " + path("shard-2") + " " + path("shard-0") + " " + path("shard-1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_identical(dir_ / "full", dir_ / "merged");
  const auto v = synth("--validate " + path("merged"));
  EXPECT_EQ(v.exit_code, 0) << v.output;
  // Merging again replaces the previous merged dataset atomically.
  ASSERT_EQ(synth("merge --out " + path("merged") + " " + path("shard-0") + " " + path("shard-1") + " " + path("shard-2")).exit_code, 0);
  expect_identical(dir_ / "full", dir_ / "merged");
}

TEST_F(Merge, SevenShardsAndASingleCompleteDatasetMerge) {
  // The mini catalogs (few tools: more resampling and balance effects), 7 shards of 20
  // examples each; and a "merge" of one complete dataset is the identity.
  const std::string args = "--config " + kTestConfig + " --count 140 --seed 3 --threads 1";
  ASSERT_EQ(synth(args + " --out " + path("full")).exit_code, 0);
  shards(args, 7);
  std::string dirs;
  for (int i = 6; i >= 0; --i) dirs += " " + path("shard-" + std::to_string(i));
  const auto r = synth("merge --out " + path("merged") + dirs);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_identical(dir_ / "full", dir_ / "merged");
  ASSERT_EQ(synth("merge --out " + path("copy") + " " + path("full")).exit_code, 0);
  expect_identical(dir_ / "full", dir_ / "copy");
  EXPECT_EQ(synth("--validate " + path("merged")).exit_code, 0);
}

TEST_F(Merge, InconsistentOrDamagedShardsAreRefused) {
  const std::string args = "--config " + kTestConfig + " --count 300 --seed 5 --threads 1";
  shards(args, 3);
  const std::string s0 = path("shard-0"), s1 = path("shard-1"), s2 = path("shard-2");

  expect_refused(s0 + " " + s2, {"shards", "shard 1/3 missing", s0, s2});
  fs::copy(dir_ / "shard-1", dir_ / "shard-1-copy");
  expect_refused(s0 + " " + s1 + " " + path("shard-1-copy") + " " + s2, {"/shard/index", "shard 1/3 is given twice", s1, path("shard-1-copy")});

  // Shards of another seed, of another config, of another shard count.
  shards("--config " + kTestConfig + " --count 300 --seed 6 --threads 1", 3, "seed6-");
  expect_refused(s0 + " " + path("seed6-1") + " " + s2, {path("seed6-1") + "/manifest.json", "/seed", "not from one run"});
  const fs::path other_cfg = dir_ / "other.yaml";
  std::ofstream(other_cfg) << slurp(kTestConfig) << "hard_negative_share: 0.1\n";
  // The config file lives elsewhere, so its catalogs are named by absolute path.
  std::string text = slurp(other_cfg);
  const std::string data = std::string(MCIP_SOURCE_DIR) + "/tests/synth/data/";
  text.replace(text.find("\"mini_bank.yaml\""), 16, "\"" + data + "mini_bank.yaml\"");
  text.replace(text.find("\"mini_notes.json\""), 17, "\"" + data + "mini_notes.json\"");
  std::ofstream(other_cfg) << text;
  shards("--config " + other_cfg.string() + " --count 300 --seed 5 --threads 1", 3, "cfg-");
  expect_refused(path("cfg-0") + " " + s1 + " " + s2, {"/config", "not from one run"});
  shards(args, 2, "two-");
  expect_refused(s0 + " " + path("two-1") + " " + s2, {"/shard/count", "shards of different runs"});

  // A tampered record (same size), a truncated file, a file with a lost line end.
  fs::copy(dir_ / "shard-1", dir_ / "tampered", fs::copy_options::recursive);
  std::string train = slurp(dir_ / "tampered" / "train.jsonl");
  const size_t at = train.find("\"split\":\"train\"");
  ASSERT_NE(at, std::string::npos);
  train.replace(at, 15, "\"split\":\"tRain\"");
  std::ofstream(dir_ / "tampered" / "train.jsonl", std::ios::binary) << train;
  expect_refused(s0 + " " + path("tampered") + " " + s2, {path("tampered") + "/train.jsonl", "files[0].xxh128", "does not match"});

  fs::copy(dir_ / "shard-2", dir_ / "truncated", fs::copy_options::recursive);
  const fs::path test_file = dir_ / "truncated" / "test.jsonl";
  ASSERT_GT(fs::file_size(test_file), 100u);
  fs::resize_file(test_file, fs::file_size(test_file) - 37);
  expect_refused(s0 + " " + s1 + " " + path("truncated"), {test_file.string(), "files[2].bytes", "truncated"});

  fs::copy(dir_ / "shard-0", dir_ / "noeol", fs::copy_options::recursive);
  std::string val = slurp(dir_ / "noeol" / "validation.jsonl");
  ASSERT_FALSE(val.empty());
  val.back() = ' ';  // same size and record count as the manifest says, but the last line is cut
  std::ofstream(dir_ / "noeol" / "validation.jsonl", std::ios::binary) << val;
  expect_refused(path("noeol") + " " + s1 + " " + s2, {path("noeol") + "/validation.jsonl", "truncated: the last record has no line end"});

  // Not a shard at all; an unfinished shard; a damaged manifest.
  fs::create_directories(dir_ / "empty");
  expect_refused(s0 + " " + s1 + " " + path("empty"), {path("empty") + "/manifest.json", "not a dataset shard"});
  fs::copy(dir_ / "shard-2", dir_ / "badjson", fs::copy_options::recursive);
  std::ofstream(dir_ / "badjson" / "manifest.json") << "{\"format\": ";
  expect_refused(s0 + " " + s1 + " " + path("badjson"), {path("badjson") + "/manifest.json", "not valid JSON"});

  // An existing folder that is not a dataset is never replaced.
  fs::create_directories(dir_ / "precious");
  std::ofstream(dir_ / "precious" / "notes.txt") << "keep";
  const auto r = synth("merge --out " + path("precious") + " " + s0 + " " + s1 + " " + s2);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(fs::exists(dir_ / "precious" / "notes.txt"));
  // And the good set still merges.
  EXPECT_EQ(synth("merge --out " + path("good") + " " + s0 + " " + s1 + " " + s2).exit_code, 0);
}

}  // namespace
