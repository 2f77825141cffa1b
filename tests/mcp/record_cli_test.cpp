// `mcip-synth record` against the fake server: recorded exchanges, sandbox handling, errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "mcip/atomic_file.h"
#include "test_support.h"

namespace mcip::mcp {
namespace {

using testing::quote;
using testing::run_synth;

class RecordCli : public ::testing::Test {
 protected:
  std::string episodes(const std::string& yaml) {
    const auto path = dir_.path / "episodes.yaml";
    std::ofstream(path) << yaml;
    return path.string();
  }
  std::string out() const { return (dir_.path / "traces.json").string(); }
  testing::RunResult record(const std::string& mode, const std::string& episodes_file, const std::string& extra = "") {
    return run_synth("record --server " + quote(testing::fake_server() + " " + mode) + " --episodes " +
                     quote(episodes_file) + " --out " + quote(out()) + " --timeout-ms 20000 --kill-grace-ms 200 " +
                     extra);
  }
  testing::TempDir dir_;
};

const char* kEpisodes = R"(schema_version: 1
server: fake-notes
episodes:
  - id: read-then-delete
    query: "Read note 7, then delete it."
    calls:
      - tool: read_note
        arguments: {note_id: "{sandbox}/7"}
      - tool: delete_note
        arguments: {note_id: "7", force: true}
  - id: read-again
    query: "Read note 8."
    files: {"notes/8.txt": "eight"}
    calls:
      - tool: read_note
        arguments: {note_id: "8"}
)";

TEST_F(RecordCli, RecordsRealExchangesWithSandboxPathsHidden) {
  const auto r = record("ok", episodes(kEpisodes), "--sandbox");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("recorded 2 episodes, 3 tool calls"), std::string::npos) << r.output;
  const auto doc = nlohmann::json::parse(read_file(out()));
  EXPECT_EQ(doc["kind"], "recorded-traces");
  EXPECT_EQ(doc["server"]["name"], "fake-notes");
  EXPECT_EQ(doc["protocol_version"], "2025-11-25");
  EXPECT_EQ(doc["sandbox"], "/sandbox");
  const auto& first = doc["episodes"][0];
  EXPECT_EQ(first["query"], "Read note 7, then delete it.");
  EXPECT_EQ(first["calls"][0]["arguments"]["note_id"], "/sandbox/7");
  EXPECT_EQ(first["calls"][0]["result"]["content"][0]["text"], "note /sandbox/7: buy milk");
  EXPECT_EQ(first["calls"][0]["is_error"], false);
  EXPECT_EQ(first["calls"][1]["arguments"]["force"], true);  // YAML scalars keep their JSON types
  EXPECT_EQ(first["calls"][1]["is_error"], true);
  // The whole session is on record, in wire order, both directions.
  std::vector<std::string> methods;
  for (const auto& m : first["messages"])
    if (m["direction"] == "client->server" && m["message"].contains("method")) methods.push_back(m["message"]["method"]);
  EXPECT_EQ(methods, (std::vector<std::string>{"initialize", "notifications/initialized", "tools/list", "tools/list",
                                               "tools/call", "tools/call"}));
  EXPECT_EQ(read_file(out()).find("mcip-record-"), std::string::npos) << "real sandbox path leaked";
}

TEST_F(RecordCli, BadEpisodesExitTwo) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"schema_version: 1\nserver: fake-notes\nepisodes:\n  - id: a\n    query: q\n    calls:\n      - tool: nope\n",
       "server does not list a tool named 'nope'"},
      {"schema_version: 1\nserver: other\nepisodes:\n  - id: a\n    query: q\n    calls:\n      - tool: read_note\n",
       "episodes are for 'other' but the server is 'fake-notes'"},
      {"schema_version: 1\nserver: fake-notes\nepisodes:\n  - id: a\n    query: q\n    calz: []\n", ":6"},
      {"schema_version: 1\nserver: fake-notes\nepisodes:\n  - id: a\n    query: q\n    files: {\"../x\": y}\n"
       "    calls:\n      - tool: read_note\n",
       "stay inside the sandbox"},
  };
  for (const auto& [yaml, message] : cases) {
    const auto r = record("ok", episodes(yaml), "--sandbox");
    EXPECT_EQ(r.exit_code, 2) << yaml << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(out()));
  }
}

TEST_F(RecordCli, ServerFailureExitsOneWithoutOutput) {
  const auto r = record("rpc-error", episodes(kEpisodes));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("step tools/list: JSON-RPC error -32603"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out()));
}

}  // namespace
}  // namespace mcip::mcp
