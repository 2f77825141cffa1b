// `mcip-train tokenize` trains the tokenizer and fills the token cache; a training run pointed
// at both (tokenizer.model, data.cache_dir) tokenizes nothing and adds nothing to the cache;
// the output is the same bytes when made again in the same place; bad input exits 2.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/test_support.h"
#include "fixture.h"

namespace fs = std::filesystem;

namespace {

const std::string kTrain = std::string(MCIP_BIN_DIR) + "/mcip-train";
const std::string kSmoke = std::string(MCIP_SOURCE_DIR) + "/configs/smoke.yaml";

mcip::test::CommandResult train(const std::string& args) { return mcip::test::run_command(kTrain + " " + args); }

std::map<std::string, std::string> tree(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    files[fs::relative(e.path(), root).string()] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return files;
}

size_t count_of(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

}  // namespace

TEST(Tokenize, FillsExactlyTheCacheATrainingRunReads) {
  const mcip::test::ScratchDir scratch("tokenize");
  const fs::path& dir = scratch.path;
  mcip::test::write_fixture_dataset(dir / "data", 176, 33, 11);
  const std::string common = fmt::format("data.dir={} threads=1", (dir / "data").string());

  const auto tok = train(fmt::format("tokenize {} {} output_dir={}", kSmoke, common, (dir / "tok").string()));
  ASSERT_EQ(tok.exit_code, 0) << tok.output;
  EXPECT_NE(tok.output.find("[tokenizer] training SentencePiece"), std::string::npos) << tok.output;
  const auto summary = nlohmann::json::parse(std::ifstream(dir / "tok" / "tokenize.json"));
  ASSERT_GE(summary["splits"].size(), 3u) << summary.dump(2);  // train + eval splits, per enabled phase
  for (const auto& s : summary["splits"]) EXPECT_GT(s["examples"].get<int>(), 0) << s;
  ASSERT_TRUE(fs::exists(dir / "tok" / "tokenizer" / "tokenizer.model"));
  const auto before = tree(dir / "tok");
  size_t cache_files = 0;
  for (const auto& [name, bytes] : before) cache_files += name.rfind("cache/", 0) == 0;
  EXPECT_EQ(cache_files, summary["splits"].size()) << "one cache entry per (phase, split)";

  // Made again in the same place (as a resumed refresh does): the same bytes. (Not in another
  // place: SentencePiece records its training file paths inside tokenizer.model.)
  fs::rename(dir / "tok", dir / "tok.first");
  ASSERT_EQ(train(fmt::format("tokenize {} {} output_dir={}", kSmoke, common, (dir / "tok").string())).exit_code, 0);
  EXPECT_TRUE(tree(dir / "tok") == before) << "tokenize output is not reproducible";

  const auto run = train(fmt::format("{} {} output_dir={} tokenizer.model={} data.cache_dir={}", kSmoke, common,
                                     (dir / "run").string(), (dir / "tok" / "tokenizer" / "tokenizer.model").string(),
                                     (dir / "tok" / "cache").string()));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output.find("[tokenizer] training"), std::string::npos) << "the run trained its own tokenizer:\n" << run.output;
  const size_t data_lines = count_of(run.output, "] data: ");
  EXPECT_EQ(data_lines, summary["splits"].size()) << run.output;
  EXPECT_EQ(count_of(run.output, "cached"), data_lines) << "every split must come from the cache:\n" << run.output;
  EXPECT_TRUE(tree(dir / "tok") == before) << "the training run wrote into the tokenize output";

  // Bad input: a missing dataset folder names the file and exits 2, leaving no tokenize.json.
  const auto bad = train(fmt::format("tokenize {} data.dir={} output_dir={}", kSmoke, (dir / "nope").string(),
                                     (dir / "bad").string()));
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("nope"), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(dir / "bad" / "tokenize.json"));
}
