// Live integration test: harvests the pinned npm servers (tools/mcp-servers, installed by
// `npm ci` in .ci/run) and compares with the committed catalogs in data/catalogs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <fstream>

#include "mcip/atomic_file.h"
#include "mcip/harvest.h"
#include "test_support.h"

namespace mcip::mcp {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kInstallHint =
    "the pinned MCP servers are not installed; run:\n"
    "  (cd tools/mcp-servers && npm ci --ignore-scripts --omit=optional)\n"
    "(.ci/run does this before `make test`)";

class LiveServers : public ::testing::Test {
 protected:
  void SetUp() override {
    // Catalog commands are relative to the repository root.
    ASSERT_EQ(::chdir(testing::source_dir().c_str()), 0);
    ASSERT_TRUE(fs::exists("tools/mcp-servers/node_modules/@modelcontextprotocol/server-memory/package.json"))
        << kInstallHint;
    ASSERT_EQ(std::system("node --version > /dev/null 2>&1"), 0) << "node is not on PATH";
  }

  // Harvests the server recorded in the committed catalog `name` and compares.
  void compare_live(const std::string& name, const std::vector<std::string>& env) {
    const fs::path committed_file = "data/catalogs/harvested-" + name + ".json";
    const json committed = json::parse(read_file(committed_file));
    HarvestOptions options;
    options.server.command = committed["harvest"]["command"].get<std::string>();
    options.server.env = env;
    options.out = committed_file;
    const json live = json::parse(harvest_catalog(options).dump());
    EXPECT_EQ(live["harvest"]["npm_package"], committed["harvest"]["npm_package"]);
    EXPECT_EQ(live["harvest"]["npm_version"], committed["harvest"]["npm_version"])
        << "package-lock.json and the committed catalog disagree; re-run tools/mcp-servers/harvest-all.sh";
    EXPECT_EQ(live["harvest"]["protocol_version"], committed["harvest"]["protocol_version"]);
    const json& live_tools = live["servers"][0]["tools"];
    const json& committed_tools = committed["servers"][0]["tools"];
    std::vector<std::string> live_names, committed_names;
    for (const auto& t : live_tools) live_names.push_back(t["name"]);
    for (const auto& t : committed_tools) committed_names.push_back(t["name"]);
    ASSERT_EQ(live_names, committed_names) << name;
    for (std::size_t i = 0; i < live_tools.size(); ++i) {
      EXPECT_EQ(live_tools[i]["inputSchema"], committed_tools[i]["inputSchema"]) << name << "/" << live_names[i];
      EXPECT_EQ(live_tools[i].value("annotations", json()), committed_tools[i].value("annotations", json()))
          << name << "/" << live_names[i];
    }
  }
  testing::TempDir dir_;
};

TEST_F(LiveServers, MemoryMatchesCommittedCatalog) {
  compare_live("memory", {"MEMORY_FILE_PATH=" + (dir_.path / "memory.jsonl").string()});
}

TEST_F(LiveServers, FilesystemMatchesCommittedCatalog) { compare_live("filesystem", {}); }

TEST_F(LiveServers, HarvestAllReproducesEveryCommittedCatalogByteForByte) {
  const std::string command = "MCIP_SYNTH=" + testing::quote(std::string(MCIP_BIN_DIR) + "/mcip-synth") +
                              " tools/mcp-servers/harvest-all.sh " + testing::quote(dir_.path.string()) +
                              " > " + testing::quote((dir_.path / "log").string()) + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << read_file(dir_.path / "log");
  std::size_t catalogs = 0, tools = 0;
  for (const auto& entry : fs::directory_iterator("data/catalogs")) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("harvested-", 0) != 0) continue;
    ++catalogs;
    ASSERT_TRUE(fs::exists(dir_.path / file)) << file << " is committed but harvest-all.sh no longer makes it";
    EXPECT_EQ(read_file(dir_.path / file), read_file(entry.path()))
        << file << " differs from a fresh harvest; re-run tools/mcp-servers/harvest-all.sh and commit";
    tools += json::parse(read_file(entry.path()))["servers"][0]["tools"].size();
  }
  EXPECT_GE(catalogs, 10u);
  EXPECT_GE(tools, 90u);
}

// server-memory and server-filesystem answer deterministically (fresh sandbox per episode),
// so a fresh recording must equal the committed traces; server-everything embeds the time.
TEST_F(LiveServers, RecordAllReproducesDeterministicTraces) {
  const std::string command = "MCIP_SYNTH=" + testing::quote(std::string(MCIP_BIN_DIR) + "/mcip-synth") +
                              " tools/mcp-servers/record-all.sh " + testing::quote(dir_.path.string()) + " > " +
                              testing::quote((dir_.path / "log").string()) + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << read_file(dir_.path / "log");
  for (const char* name : {"recorded-memory.json", "recorded-filesystem.json"})
    EXPECT_EQ(read_file(dir_.path / name), read_file(fs::path("data/traces") / name))
        << name << " differs from a fresh recording; re-run tools/mcp-servers/record-all.sh and commit";
  const json everything = json::parse(read_file(dir_.path / "recorded-everything.json"));
  const json committed = json::parse(read_file("data/traces/recorded-everything.json"));
  ASSERT_EQ(everything["episodes"].size(), committed["episodes"].size());
  for (std::size_t i = 0; i < everything["episodes"].size(); ++i)
    for (std::size_t j = 0; j < everything["episodes"][i]["calls"].size(); ++j)
      EXPECT_EQ(everything["episodes"][i]["calls"][j]["is_error"], committed["episodes"][i]["calls"][j]["is_error"]);
}

// Real servers misbehaving for real reasons: each failure names the server and the step,
// carries the server's own explanation from stderr, and leaves no process behind.
TEST_F(LiveServers, RealServerFaultsNameServerAndStep) {
  const std::string m = "node tools/mcp-servers/node_modules/@modelcontextprotocol/";
  struct Case {
    std::string command;
    std::vector<std::string> env;
    std::string step, message;
  };
  const std::vector<Case> cases = {
      {m + "server-gdrive/dist/index.js", {"GDRIVE_CREDENTIALS_PATH=/nonexistent/credentials.json"}, "initialize",
       "Credentials not found"},
      {m + "server-filesystem/dist/index.js /nonexistent/allowed-dir", {}, "initialize",
       "None of the specified directories are accessible"},
      {m + "server-postgres/dist/index.js postgresql://127.0.0.1:1/mcip", {}, "resources/list",
       "JSON-RPC error -32603: connect ECONNREFUSED"},
  };
  for (const auto& c : cases) {
    HarvestOptions options;
    options.server.command = c.command;
    options.server.env = c.env;
    options.out = dir_.path / "x.json";
    try {
      harvest_catalog(options);
      ADD_FAILURE() << c.command << " did not fail";
    } catch (const McpError& e) {
      EXPECT_EQ(e.server(), c.command);
      EXPECT_EQ(e.step(), c.step) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    }
    EXPECT_TRUE(testing::no_children_left()) << c.command;
  }
}

TEST_F(LiveServers, OlderOfferedVersionIsEchoedByCurrentServers) {
  HarvestOptions options;
  options.server.command = "node tools/mcp-servers/node_modules/@modelcontextprotocol/server-memory/dist/index.js";
  options.server.env = {"MEMORY_FILE_PATH=" + (dir_.path / "memory.jsonl").string()};
  options.server.protocol_version = "2025-03-26";
  options.out = dir_.path / "x.json";
  EXPECT_EQ(harvest_catalog(options)["harvest"]["protocol_version"], "2025-03-26");
}

}  // namespace
}  // namespace mcip::mcp
