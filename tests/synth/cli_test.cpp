// The binary's contract: exit codes, no output folder on bad input, validate/stats on disk.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "test_support.h"

namespace fs = std::filesystem;

namespace mcip::synth {
namespace {

using testing::data_path;
using testing::run_synth;
using testing::ScratchDir;

TEST(Cli, BadConfigOrCatalogExitsTwoWithoutOutput) {
  ScratchDir dir("cli-bad");
  const fs::path cfg = dir.path / "bad.yaml";
  std::ofstream(cfg) << "seed: 1\nno_such_key: 2\n";
  const fs::path out = dir.path / "out";
  EXPECT_EQ(run_synth(fmt::format("--config {} --out {}", cfg.string(), out.string()), dir.path / "log1"), 2);
  EXPECT_FALSE(fs::exists(out));
  std::ofstream(dir.path / "log1.txt");

  const fs::path bad_catalog = dir.path / "cat.yaml";
  std::ofstream(bad_catalog) << "schema_version: 1\nid: x\nsource: builtin\nservers:\n  - name: s\n    version: '1'\n    domain: files\n"
                                "    tools:\n      - name: t\n        inputSchema: {type: string}\n";
  const fs::path cfg2 = dir.path / "cfg2.yaml";
  std::ofstream(cfg2) << "catalogs: [cat.yaml]\ncount: 10\n";
  EXPECT_EQ(run_synth(fmt::format("--config {} --out {}", cfg2.string(), out.string()), dir.path / "log2"), 2);
  EXPECT_FALSE(fs::exists(out));
  const std::string log = [&] {
    std::ifstream in(dir.path / "log2");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  EXPECT_NE(log.find("cat.yaml:10"), std::string::npos) << log;
  EXPECT_NE(log.find("inputSchema/type"), std::string::npos) << log;

  const fs::path cfg3 = dir.path / "cfg3.yaml";
  std::ofstream(cfg3) << "catalogs: [missing.yaml]\n";
  EXPECT_EQ(run_synth(fmt::format("--config {} --out {}", cfg3.string(), out.string()), dir.path / "log3"), 2);
  EXPECT_EQ(run_synth(fmt::format("--config {} --out {} --shard 3/3", data_path("test_config.yaml"), out.string()), dir.path / "log4"), 2);
  EXPECT_FALSE(fs::exists(out));
  // No temporary folders are left next to the requested output.
  for (const auto& e : fs::directory_iterator(dir.path)) EXPECT_EQ(e.path().filename().string().find(".out.tmp"), std::string::npos);
}

TEST(Cli, GenerateValidateStats) {
  ScratchDir dir("cli-good");
  const fs::path out = dir.path / "ds";
  ASSERT_EQ(run_synth(fmt::format("--config {} --out {} --count 150 --seed 11 --threads 2", data_path("test_config.yaml"), out.string()),
               dir.path / "gen.log"),
            0);
  EXPECT_EQ(run_synth(fmt::format("--validate {}", out.string()), dir.path / "val.log"), 0);
  EXPECT_EQ(run_synth(fmt::format("--stats {}", out.string()), dir.path / "stats.log"), 0);
  std::ifstream in(dir.path / "stats.log");
  const std::string stats((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(stats.find("ignore_prupose_prompt_injection"), std::string::npos) << stats;
  EXPECT_NE(stats.find("test_unseen_tools"), std::string::npos);
  // Corrupt one record: validation must fail with exit code 2.
  {
    std::ofstream app(out / "validation.jsonl", std::ios::app);
    app << "{\"id\": \"broken\"\n";
  }
  EXPECT_EQ(run_synth(fmt::format("--validate {}", out.string()), dir.path / "val2.log"), 2);
  EXPECT_EQ(run_synth("--taxonomy --format json", dir.path / "tax.log"), 0);
}

}  // namespace
}  // namespace mcip::synth
