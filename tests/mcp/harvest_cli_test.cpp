// `mcip-synth harvest` end to end: exit codes, messages naming server and step, atomic output.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "mcip/atomic_file.h"
#include "test_support.h"

namespace mcip::mcp {
namespace {

using testing::quote;
using testing::run_synth;
using testing::TempDir;

class HarvestCli : public ::testing::Test {
 protected:
  std::string out() const { return (dir_.path / "out" / "cat.json").string(); }
  void SetUp() override { std::filesystem::create_directory(dir_.path / "out"); }
  // Generous step timeouts keep loaded CI machines from failing; only `hang` waits them out.
  testing::RunResult harvest(const std::string& mode, const std::string& extra = "") {
    const std::string timeout = mode == "hang" ? "2000" : "20000";
    return run_synth("harvest --server " + quote(testing::fake_server() + " " + mode) + " --out " + quote(out()) +
                     " --env FAKE_PID_FILE=" + quote((dir_.path / "pids").string()) + " --timeout-ms " + timeout +
                     " --kill-grace-ms 200 " + extra);
  }
  std::vector<std::string> out_entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path / "out"))
      names.push_back(e.path().filename().string());
    return names;
  }
  TempDir dir_;
};

TEST_F(HarvestCli, WritesCatalogWithDerivedFields) {
  const auto r = harvest("ok", "--domain notes --id fake-notes-catalog");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("harvested 3 tools, 1 resources, 1 prompts from fake-notes 1.2.3"), std::string::npos);
  const auto catalog = nlohmann::json::parse(read_file(out()));
  EXPECT_EQ(catalog["schema_version"], 1);
  EXPECT_EQ(catalog["id"], "fake-notes-catalog");
  EXPECT_EQ(catalog["source"], "harvested");
  EXPECT_EQ(catalog["harvest"]["protocol_version"], "2025-11-25");
  EXPECT_FALSE(catalog["harvest"].contains("npm_package"));  // python3 script, no package.json above it
  const auto& server = catalog["servers"][0];
  EXPECT_EQ(server["name"], "fake-notes");
  EXPECT_EQ(server["domain"], "notes");
  EXPECT_EQ(server["resources"].size(), 1u);
  EXPECT_EQ(server["prompts"][0]["name"], "summarize");
  ASSERT_EQ(server["tools"].size(), 3u);
  EXPECT_EQ(server["tools"][0]["x-mcip"]["privilege"], "read");
  EXPECT_EQ(server["tools"][1]["x-mcip"]["privilege"], "admin");
  EXPECT_EQ(server["tools"][2]["x-mcip"]["privilege"], "admin");
  EXPECT_EQ(server["tools"][2]["x-mcip"]["derived"], nlohmann::json({"privilege", "queries"}));
  // The MCP Tool object itself is exactly what the server listed.
  auto listed = server["tools"][0];
  listed.erase("x-mcip");
  EXPECT_EQ(listed["annotations"], nlohmann::json({{"readOnlyHint", true}, {"openWorldHint", false}}));
  EXPECT_EQ(listed.size(), 5u);
}

TEST_F(HarvestCli, CuratedFileAndSkip) {
  const auto curated = dir_.path / "curated.yaml";
  std::ofstream(curated) << "schema_version: 1\nservers:\n  fake-notes:\n    read_note:\n      privilege: read\n"
                            "      queries: [\"Read me note {note_id}.\"]\n";
  const auto r = harvest("ok", "--curated " + quote(curated.string()) + " --skip resources --skip prompts");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto server = nlohmann::json::parse(read_file(out()))["servers"][0];
  EXPECT_FALSE(server.contains("resources"));
  EXPECT_FALSE(server.contains("prompts"));
  EXPECT_EQ(server["tools"][0]["x-mcip"]["queries"], nlohmann::json({"Read me note {note_id}."}));
  EXPECT_EQ(server["tools"][0]["x-mcip"]["derived"], nlohmann::json::array());
}

TEST_F(HarvestCli, ToolsGatedOnClientCapabilitiesAreListedAfterListChanged) {
  auto tool_names = [&] {
    std::vector<std::string> names;
    const auto catalog = nlohmann::json::parse(read_file(out()));
    for (const auto& t : catalog["servers"][0]["tools"]) names.push_back(t["name"]);
    return names;
  };
  auto r = harvest("dynamic");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(tool_names(), (std::vector<std::string>{"read_note", "delete_note", "run_script"}));
  EXPECT_FALSE(nlohmann::json::parse(read_file(out()))["harvest"].contains("client_capabilities"));
  r = harvest("dynamic", "--client-capabilities '{\"roots\":{\"listChanged\":true}}'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(tool_names(), (std::vector<std::string>{"read_note", "delete_note", "run_script", "list_roots"}));
  EXPECT_EQ(nlohmann::json::parse(read_file(out()))["harvest"]["client_capabilities"],
            nlohmann::json({{"roots", {{"listChanged", true}}}}));
}

TEST_F(HarvestCli, ServerFaultsExitOneNamingServerAndStepWithoutOutput) {
  const std::vector<std::pair<std::string, std::string>> faults = {
      {"exit-early", "step initialize: "},
      {"hang", "step initialize: no response within 2000 ms"},
      {"non-json", "step initialize: non-JSON output on stdout"},
      {"huge-line", "step tools/list: stdout line longer than 1048576 bytes"},
      {"wrong-id", "step initialize: response id 1001 does not match request id 1"},
      {"rpc-error", "step tools/list: JSON-RPC error -32603"},
      {"bad-version", "step initialize: server answered protocol version '1999-01-01'"},
      {"bad-tool", "step tools/list: tool 'broken' has no inputSchema of type object"},
      {"churn", "step tools/list: the tool list kept changing"},
  };
  // A previous catalog must survive a failed re-harvest untouched.
  std::ofstream(out()) << "previous\n";
  for (const auto& [mode, message] : faults) {
    const auto r = harvest(mode, "--max-line-bytes 1048576");
    EXPECT_EQ(r.exit_code, 1) << mode << ": " << r.output;
    EXPECT_NE(r.output.find("server 'python3 "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("fake_server.py " + mode + "': " + message), std::string::npos) << r.output;
    EXPECT_EQ(read_file(out()), "previous\n") << mode;
    EXPECT_EQ(out_entries(), std::vector<std::string>{"cat.json"}) << mode << ": temporary file left behind";
    for (pid_t pid : testing::read_pids(dir_.path / "pids")) EXPECT_TRUE(testing::process_gone(pid)) << mode;
  }
}

TEST_F(HarvestCli, ServerNotFoundExitsOne) {
  const auto r = run_synth("harvest --server '/nonexistent/bin/mcp-server --stdio' --out " + quote(out()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("server '/nonexistent/bin/mcp-server --stdio': step spawn: cannot start"),
            std::string::npos)
      << r.output;
  EXPECT_TRUE(out_entries().empty());
}

TEST_F(HarvestCli, BadUsageExitsTwoBeforeStartingTheServer) {
  const std::string server = " --server " + quote(testing::fake_server() + " ok");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"harvest --out " + quote(out()), "--server is required"},
      {"harvest --server \"node 'x.js\" --out " + quote(out()), "unterminated single quote"},
      {"harvest" + server + " --out " + quote(out()) + " --env NOEQUALS", "--env: expected K=V"},
      {"harvest" + server + " --out " + quote(out()) + " --protocol-version 2030-01-01", "--protocol-version"},
      {"harvest" + server + " --out " + quote(out()) + " --skip tools", "--skip"},
      {"harvest" + server + " --out " + quote(out()) + " --client-capabilities '[1]'", "--client-capabilities"},
      {"harvest" + server + " --out " + quote(out()) + " --client-capabilities '{'", "--client-capabilities"},
      {"harvest" + server + " --out " + quote((dir_.path / "missing" / "x.json").string()), "does not exist"},
      {"harvest" + server + " --out " + quote((dir_.path / "out").string()), "is a directory"},
      {"harvest" + server + " --out " + quote(out()) + " --curated /nonexistent.yaml", "/nonexistent.yaml"},
  };
  for (const auto& [args, message] : cases) {
    const auto r = run_synth(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
  }
  EXPECT_TRUE(out_entries().empty());
  EXPECT_FALSE(std::filesystem::exists(dir_.path / "pids")) << "a server was started despite bad usage";
}

}  // namespace
}  // namespace mcip::mcp
