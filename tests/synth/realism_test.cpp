// Realism check (simulated vs recorded result shapes) and the real-servers-only unseen split.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/synth/dataset.h"
#include "mcip/synth/realism.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace mcip::synth {
namespace {

using testing::data_path;
using testing::run_synth;
using testing::ScratchDir;

// A dataset folder holding one hand-written record, so the expected shapes are known exactly.
void write_tiny_dataset(const fs::path& dir) {
  fs::create_directories(dir);
  std::ofstream(dir / "manifest.json") << "{}";
  for (const char* s : {"validation", "test", "test_unseen_tools"}) std::ofstream(dir / (std::string(s) + ".jsonl"));
  const nlohmann::json rpc = nlohmann::json::parse(R"([
    {"server": "mini-notes", "direction": "client_to_server",
     "message": {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "list_notes", "arguments": {"folder": "w"}}}},
    {"server": "mini-bank", "direction": "server_to_client",
     "message": {"jsonrpc": "2.0", "id": 3, "result": {"content": [], "surprise": 1}}},
    {"server": "mini-notes", "direction": "server_to_client",
     "message": {"jsonrpc": "2.0", "id": 3, "result": {"content": [{"type": "text", "text": "{\"notes\": [\"a\"]}"}], "isError": false}}},
    {"server": "mini-notes", "direction": "client_to_server",
     "message": {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "list_notes", "arguments": {}}}},
    {"server": "mini-notes", "direction": "server_to_client",
     "message": {"jsonrpc": "2.0", "id": 4, "result": {"content": [{"type": "text", "text": "bad folder"}], "isError": true, "odd": true}}}
  ])");
  std::ofstream(dir / "train.jsonl") << nlohmann::json{{"id", "r1"}, {"jsonrpc", rpc}}.dump() << "\n";
}

TEST(Realism, ComparesShapesPerToolExactly) {
  ScratchDir dir("realism-tiny");
  write_tiny_dataset(dir.path / "ds");
  const auto report = compare_realism(dir.path / "ds", {data_path("recorded-mini-notes.json")});
  EXPECT_EQ(report.records, 1u);
  ASSERT_EQ(report.compared.size(), 1u);
  const ToolRealism& t = report.compared[0];
  EXPECT_EQ(t.server, "mini-notes");
  EXPECT_EQ(t.tool, "list_notes");
  EXPECT_EQ(t.simulated_calls, 1u);  // the isError response and the other server's id 3 are not counted
  EXPECT_EQ(t.recorded_calls, 1u);
  EXPECT_EQ(t.simulated.size(), 9u);
  EXPECT_EQ(t.recorded.size(), 13u);
  EXPECT_EQ(t.comparison.extra, (std::set<std::string>{"/isError:boolean"}));
  EXPECT_EQ(t.comparison.missing,
            (std::set<std::string>{"/content/*/text(json)/folder:string", "/structuredContent:object", "/structuredContent/folder:string",
                                   "/structuredContent/notes:array", "/structuredContent/notes/*:string"}));
  EXPECT_NEAR(t.comparison.jaccard, 8.0 / 14.0, 1e-12);
  EXPECT_NEAR(report.mean_jaccard, 8.0 / 14.0, 1e-12);
  // archive_notes was recorded but never simulated; delete_note only failed, so it has no reference.
  ASSERT_EQ(report.not_simulated.size(), 1u);
  EXPECT_EQ(report.not_simulated[0].tool, "archive_notes");
  std::ostringstream table;
  print_realism(report, table);
  EXPECT_NE(table.str().find("mean jaccard over 1 tool(s): 0.571"), std::string::npos) << table.str();
}

TEST(Realism, BadInputNamesTheFile) {
  ScratchDir dir("realism-bad");
  EXPECT_THROW(compare_realism(dir.path, {data_path("recorded-mini-notes.json")}), InputError);  // no manifest
  EXPECT_THROW(find_trace_files(dir.path), InputError);                                           // no recorded-*.json
  write_tiny_dataset(dir.path / "ds");
  std::ofstream(dir.path / "ds" / "test.jsonl") << "{\"jsonrpc\": [\n";
  try {
    compare_realism(dir.path / "ds", {data_path("recorded-mini-notes.json")});
    FAIL() << "truncated record accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("test.jsonl"), std::string::npos) << e.what();
  }
}

TEST(Realism, CliOnGeneratedDataset) {
  ScratchDir dir("realism-cli");
  const fs::path out = dir.path / "ds";
  ASSERT_EQ(run_synth(fmt::format("--config {} --out {} --count 150 --seed 5 --threads 2", data_path("test_config.yaml"), out.string()),
               dir.path / "gen.log"),
            0);
  const fs::path traces = dir.path / "traces";
  fs::create_directories(traces);
  fs::copy_file(data_path("recorded-mini-notes.json"), traces / "recorded-mini-notes.json");
  ASSERT_EQ(run_synth(fmt::format("--realism {} --traces {}", out.string(), traces.string()), dir.path / "realism.log"), 0);
  const std::string log = read_file(dir.path / "realism.log");
  EXPECT_NE(log.find("list_notes"), std::string::npos) << log;
  EXPECT_NE(log.find("mean jaccard over 1 tool(s)"), std::string::npos) << log;
  // The simulator renders results as a text block plus structuredContent, like the recorded call.
  const auto report = compare_realism(out, {traces / "recorded-mini-notes.json"});
  ASSERT_EQ(report.compared.size(), 1u);
  EXPECT_GT(report.compared[0].simulated_calls, 0u);
  EXPECT_EQ(report.compared[0].comparison.missing.count("/content/*/text:string"), 0u);
  EXPECT_EQ(report.compared[0].comparison.missing.count("/structuredContent/notes:array"), 0u);
  EXPECT_GT(report.compared[0].comparison.jaccard, 0.5);
  // Bad input: not a dataset folder, malformed traces.
  EXPECT_EQ(run_synth(fmt::format("--realism {} --traces {}", dir.path.string(), traces.string()), dir.path / "bad1.log"), 2);
  std::ofstream(traces / "recorded-broken.json") << "{\"schema_version\": 1, \"kind\": \"recorded-traces\"}";
  EXPECT_EQ(run_synth(fmt::format("--realism {} --traces {}", out.string(), traces.string()), dir.path / "bad2.log"), 2);
  EXPECT_NE(read_file(dir.path / "bad2.log").find("recorded-broken.json"), std::string::npos);
}

RunSummary run_harvested(const fs::path& out, int threads, const std::string& config = "unseen_harvested_config.yaml") {
  RunOverrides o;
  o.config_file = data_path(config);
  o.threads = threads;
  return SynthRun(o).generate(out, nullptr);
}

TEST(UnseenFrom, HarvestedHoldsOutOnlyRealServersDeterministically) {
  ScratchDir dir("unseen-harvested");
  run_harvested(dir.path / "a", 1);
  run_harvested(dir.path / "b", 2);
  for (const char* f : {"train.jsonl", "validation.jsonl", "test.jsonl", "test_unseen_tools.jsonl", "manifest.json"})
    EXPECT_EQ(read_file(dir.path / "a" / f), read_file(dir.path / "b" / f)) << f;
  const auto manifest = nlohmann::json::parse(read_file(dir.path / "a" / "manifest.json"));
  EXPECT_EQ(manifest["held_out_servers"], nlohmann::json::array({"mini-kv"}));
  const std::set<std::string> real_tools = {"kv_get", "kv_put"};
  std::ifstream in(dir.path / "a" / "test_unseen_tools.jsonl");
  std::size_t n = 0;
  for (std::string line; std::getline(in, line); ++n) {
    const auto r = nlohmann::json::parse(line);
    const std::string group = r["provenance"]["group"];
    EXPECT_EQ(group.substr(0, group.rfind('/')), "mini-kv") << group;
    const std::string tool = group.substr(group.rfind('/') + 1);  // "<tool>#<query index>"
    EXPECT_EQ(real_tools.count(tool.substr(0, tool.find('#'))), 1u) << group;
  }
  EXPECT_GT(n, 0u);
  std::ostringstream problems;
  EXPECT_EQ(validate_dataset(dir.path / "a", problems), 0u) << problems.str();
}

TEST(UnseenFrom, DefaultAnyIsUnchangedAndBadValuesAreRejected) {
  EXPECT_EQ(load_config("").unseen_from, "any");
  ScratchDir dir("unseen-bad");
  std::ofstream(dir.path / "bad.yaml") << "splits: {unseen_from: builtin}\n";
  try {
    load_config((dir.path / "bad.yaml").string());
    FAIL() << "bad unseen_from accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("unseen_from"), std::string::npos) << e.what();
  }
  // harvested without any harvested catalog: a clear error, no output.
  std::ofstream(dir.path / "none.yaml") << "count: 20\ncatalogs: [\"" << data_path("mini_bank.yaml") << "\", \"" << data_path("mini_notes.json")
                                        << "\"]\nsplits: {unseen_from: harvested, unseen_servers: 0.34}\n";
  RunOverrides o;
  o.config_file = (dir.path / "none.yaml").string();
  EXPECT_THROW(SynthRun{o}, InputError);
}

}  // namespace
}  // namespace mcip::synth
