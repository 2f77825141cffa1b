// Whole runs: byte-identical output across thread counts and shards, a valid dataset, and a
// validator that catches corrupted files.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "mcip/atomic_file.h"
#include "mcip/synth/dataset.h"
#include "mcip/synth/dedup.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace mcip::synth {
namespace {

using testing::data_path;
using testing::expect_same_bytes_across_threads_and_shards;
using testing::ScratchDir;

RunSummary run(const fs::path& out, int threads, std::uint64_t shard = 0, std::uint64_t shards = 1, std::uint64_t count = 400) {
  return testing::run_config(data_path("test_config.yaml"), out, threads, shard, shards, count);
}

std::string slurp(const fs::path& p) { return read_file(p); }

TEST(Dataset, SameBytesWithOneOrTwoThreadsAndInShards) {
  ScratchDir dir("determinism");
  run(dir.path / "t1", 1);
  run(dir.path / "t2", 2);
  for (std::uint64_t s = 0; s < 3; ++s) run(dir.path / ("s" + std::to_string(s)), 2, s, 3);
  expect_same_bytes_across_threads_and_shards(dir.path);
  std::ostringstream problems;
  EXPECT_EQ(validate_dataset(dir.path / "t1", problems), 0u) << problems.str();
}

TEST(Dataset, AllLabelsAndSplitsAreProducedWithBalance) {
  ScratchDir dir("balance");
  const auto s = run(dir.path / "d", 2, 0, 1, 1100);
  EXPECT_EQ(s.written, 1100u);
  const auto m = nlohmann::json::parse(slurp(dir.path / "d" / "manifest.json"));
  for (const auto& row : m["labels"]) {
    EXPECT_GE(row["total"].get<int>(), 80) << row.dump();  // balanced target is 100 each
    EXPECT_NEAR(row["target_share"].get<double>(), 1.0 / 11, 1e-9);
  }
  for (const auto& f : m["files"]) EXPECT_GT(f["records"].get<int>(), 0) << f.dump();
  EXPECT_EQ(m["dedup"]["held_out_server_uses_in_train"].get<int>(), 0);
  EXPECT_TRUE(fs::exists(dir.path / "d" / "README.md"));
  int layers = 0;
  for (auto it = m["maestro_layers"].begin(); it != m["maestro_layers"].end(); ++it) layers += it.value().get<int>();
  EXPECT_GT(layers, 0);
}

TEST(Dataset, DefaultConfigAndShippedCatalogsGiveValidData) {
  // The embedded defaults with the catalogs in data/catalogs (resolved next to the binary).
  ScratchDir dir("defaults");
  RunOverrides o;
  o.count = 660;
  o.threads = 2;
  SynthRun r(o);
  EXPECT_GE(r.config().count, 660u);
  const auto s = r.generate(dir.path / "d", nullptr);
  EXPECT_EQ(s.written, 660u);
  std::ostringstream problems;
  EXPECT_EQ(validate_dataset(dir.path / "d", problems), 0u) << problems.str();
  const auto m = nlohmann::json::parse(slurp(dir.path / "d" / "manifest.json"));
  EXPECT_GE(m["catalogs"].size(), 12u) << "expected the built-in catalogs of data/catalogs";
  for (const auto& row : m["labels"]) EXPECT_GE(row["total"].get<int>(), 50) << row.dump();
}

TEST(Dataset, UnreachableLabelsAreReportedNotFaked) {
  ScratchDir dir("unreachable");
  RunOverrides o;
  o.config_file = data_path("notes_only.yaml");
  o.threads = 2;
  SynthRun(o).generate(dir.path / "d", nullptr);
  const auto m = nlohmann::json::parse(slurp(dir.path / "d" / "manifest.json"));
  std::map<std::string, int> totals;
  for (const auto& row : m["labels"]) totals[row["label"].get<std::string>()] = row["total"].get<int>();
  EXPECT_EQ(totals["identity_injection"], 0);
  EXPECT_EQ(totals["causal_dependency_injection"], 0);
  EXPECT_GT(totals["true"], 20 + 20) << "unreachable indices become benign examples";
  std::string notes = m["balance_notes"].dump();
  EXPECT_NE(notes.find("identity_injection"), std::string::npos) << notes;
  EXPECT_NE(notes.find("causal_dependency_injection"), std::string::npos) << notes;
  std::ostringstream problems;
  EXPECT_EQ(validate_dataset(dir.path / "d", problems), 0u) << problems.str();
}

TEST(Dedup, MinHashAndLshFindNearDuplicatesAcrossSplits) {
  const std::string a = "user: what's the weather in oslo for the next 3 days? assistant: <functioncall> get_forecast city oslo";
  const std::string b = "user: what's the weather in oslo for the next 4 days? assistant: <functioncall> get_forecast city oslo";
  const std::string c = "user: share note not-12345 with maria.lopez@example.com please, and then delete the old draft";
  const auto sa = minhash(a, 5, 64), sb = minhash(b, 5, 64), sc = minhash(c, 5, 64);
  EXPECT_DOUBLE_EQ(estimated_jaccard(sa, sa), 1.0);
  EXPECT_GT(estimated_jaccard(sa, sb), 0.8);
  EXPECT_LT(estimated_jaccard(sa, sc), 0.3);
  NearDupOptions opt;
  NearIndex index(opt);
  index.add(sa, 0);
  NearHit cross, within;
  index.query(sb, 2, cross, within);
  EXPECT_TRUE(cross.found);
  EXPECT_EQ(cross.split, 0);
  EXPECT_FALSE(within.found);
  NearHit cross2, within2;
  index.query(sc, 2, cross2, within2);
  EXPECT_FALSE(cross2.found);
  HashSet64 set;
  for (std::uint64_t k = 0; k < 5000; ++k) EXPECT_TRUE(set.insert(k * 7919 + 1));
  EXPECT_FALSE(set.insert(7920));
  EXPECT_TRUE(set.contains(1));
  EXPECT_FALSE(set.contains(2));
}

// Rewrites line `n` (1-based) of `file` through `edit`.
void edit_line(const fs::path& file, size_t n, const std::function<std::string(std::string)>& edit) {
  std::istringstream in(slurp(file));
  std::string line, out;
  for (size_t i = 1; std::getline(in, line); ++i) out += (i == n ? edit(line) : line) + "\n";
  std::ofstream(file, std::ios::binary | std::ios::trunc) << out;
}

size_t problems_after(const std::string& tag, const std::function<void(const fs::path&)>& corrupt) {
  ScratchDir dir(tag);
  run(dir.path / "d", 2, 0, 1, 200);
  std::ostringstream sink;
  EXPECT_EQ(validate_dataset(dir.path / "d", sink), 0u) << sink.str();
  corrupt(dir.path / "d");
  std::ostringstream out;
  return validate_dataset(dir.path / "d", out);
}

std::string replace_first(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(Validate, CatchesCorruption) {
  EXPECT_GT(problems_after("letter", [](const fs::path& d) {
              edit_line(d / "train.jsonl", 1, [](std::string l) {
                const size_t at = l.find("\"letter\":\"");
                l[at + 10] = l[at + 10] == 'A' ? 'B' : 'A';
                return l;
              });
            }), 0u);
  EXPECT_GT(problems_after("truncated", [](const fs::path& d) {
              edit_line(d / "train.jsonl", 2, [](std::string l) { return l.substr(0, l.size() / 2); });
            }), 0u);
  EXPECT_GT(problems_after("rpc", [](const fs::path& d) {
              edit_line(d / "train.jsonl", 3, [](std::string l) { return replace_first(l, "\"jsonrpc\":\"2.0\"", "\"jsonrpc\":\"1.0\""); });
            }), 0u);
  EXPECT_GT(problems_after("unknown-tool", [](const fs::path& d) {
              edit_line(d / "train.jsonl", 4, [](std::string l) {
                return replace_first(l, "\"method\":\"tools/call\",\"params\":{\"name\":\"", "\"method\":\"tools/call\",\"params\":{\"name\":\"zz");
              });
            }), 0u);
  EXPECT_GT(problems_after("leak", [](const fs::path& d) {
              // Move one train record into test: its group then straddles splits (and the counts lie).
              std::istringstream in(slurp(d / "train.jsonl"));
              std::string first;
              std::getline(in, first);
              std::ofstream(d / "test.jsonl", std::ios::app) << replace_first(first, "\"split\":\"train\"", "\"split\":\"test\"") << "\n";
            }), 0u);
  EXPECT_GT(problems_after("manifest", [](const fs::path& d) { fs::remove(d / "manifest.json"); }), 0u);
}

}  // namespace
}  // namespace mcip::synth
