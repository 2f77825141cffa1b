// The generation pipeline under heavy resampling: the in-order commit (dedup decision) and the
// chunk writer must give the same bytes at any thread count and in shards, keep every split file
// in index order, and account exactly for what they wrote.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/test_support.h"
#include "mcip/synth/dataset.h"
#include "synth/test_support.h"

namespace fs = std::filesystem;

namespace mcip::synth {
namespace {

std::string config_path() { return std::string(MCIP_SOURCE_DIR) + "/tests/synth_pipeline/data/resample_config.yaml"; }

using mcip::test::ScratchDir;
using mcip::test::slurp;

RunSummary run(const fs::path& out, int threads, std::uint64_t shard = 0, std::uint64_t shards = 1) {
  return testing::run_config(config_path(), out, threads, shard, shards);
}

TEST(Pipeline, HeavyResamplingGivesTheSameBytesAtAnyThreadCountAndInShards) {
  ScratchDir dir("synth-pipeline");
  const RunSummary one = run(dir.path / "t1", 1);
  run(dir.path / "t2", 2);
  for (std::uint64_t s = 0; s < 3; ++s) run(dir.path / ("s" + std::to_string(s)), 2, s, 3);

  const auto m = nlohmann::json::parse(slurp(dir.path / "t1" / "manifest.json"));
  // The configuration must really exercise resampling and dropping, or this test proves nothing.
  ASSERT_GT(m["dedup"]["near_duplicates_cross_split_resampled"].get<int>(), 20) << m["dedup"].dump();
  ASSERT_GT(m["dedup"]["dropped_after_resampling"].get<int>(), 0) << m["dedup"].dump();
  EXPECT_EQ(one.written + one.dropped, 400u);

  testing::expect_same_bytes_across_threads_and_shards(dir.path);
  std::ostringstream problems;
  EXPECT_EQ(validate_dataset(dir.path / "t1", problems), 0u) << problems.str();
}

TEST(Pipeline, SplitFilesHoldKeptRecordsInIndexOrderAndMatchTheManifest) {
  ScratchDir dir("synth-pipeline");
  const RunSummary s = run(dir.path / "d", 2);
  const auto m = nlohmann::json::parse(slurp(dir.path / "d" / "manifest.json"));
  std::uint64_t records = 0, bytes = 0;
  std::set<std::int64_t> indices;
  for (const auto& f : m["files"]) {
    const std::string text = slurp(dir.path / "d" / f["file"].get<std::string>());
    EXPECT_EQ(text.size(), f["bytes"].get<std::uint64_t>()) << f.dump();
    std::istringstream lines(text);
    std::string line;
    std::int64_t last = -1;
    std::uint64_t n = 0;
    while (std::getline(lines, line)) {
      const auto r = nlohmann::json::parse(line);
      const auto index = r["provenance"]["index"].get<std::int64_t>();
      EXPECT_GT(index, last) << f["file"] << ": records out of index order";
      last = index;
      EXPECT_EQ(r["split"], f["split"]);  // a resample may change the split: it must follow the record
      indices.insert(index);
      ++n;
    }
    EXPECT_EQ(n, f["records"].get<std::uint64_t>()) << f.dump();
    records += n;
    bytes += text.size();
  }
  EXPECT_EQ(records, s.written);
  EXPECT_EQ(bytes, s.bytes);
  // Every index appears once, in one file, unless it was dropped.
  EXPECT_EQ(indices.size(), records);
  EXPECT_EQ(indices.size() + s.dropped, 400u);
}

TEST(Pipeline, ReportsCpuTimePerStage) {
  ScratchDir dir("synth-pipeline");
  const RunSummary s = run(dir.path / "d", 2);
  EXPECT_GT(s.generate_cpu_seconds, 0.0);
  EXPECT_GT(s.commit_cpu_seconds, 0.0);
  EXPECT_GT(s.write_cpu_seconds, 0.0);
  // Generation (the parallel stage) is the bulk of the work.
  EXPECT_GT(s.generate_cpu_seconds, s.commit_cpu_seconds + s.write_cpu_seconds);
}

}  // namespace
}  // namespace mcip::synth
