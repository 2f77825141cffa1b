// In-process client tests against the fake server: protocol behaviour, every fault mode,
// and that no child (or grandchild) process survives any of them.
#include <gtest/gtest.h>

#include "mcip/command_line.h"
#include "mcip/mcp_client.h"
#include "test_support.h"

namespace mcip::mcp {
namespace {

using testing::TempDir;

class ClientTest : public ::testing::Test {
 protected:
  ChildOptions child(const std::string& mode) {
    ChildOptions options;
    options.argv = split_command_line(testing::fake_server() + " " + mode);
    options.env = {{"FAKE_PID_FILE", (dir_.path / "pids").string()}, {"HUGE_LINE_BYTES", "300000"}};
    options.terminate_grace = std::chrono::milliseconds(200);
    return options;
  }
  ClientOptions fast() {
    ClientOptions options;
    options.step_timeout = std::chrono::milliseconds(20000);  // only `hang` waits it out, with its own
    options.max_line_bytes = 100000;
    return options;
  }
  // Runs initialize + tools/list against `mode` and returns the error it must raise.
  McpError expect_failure(const std::string& mode, ClientOptions options) {
    try {
      McpClient client(child(mode), options);
      client.initialize();
      client.list_all("tools/list", "tools");
    } catch (const McpError& e) {
      check_no_leftovers();
      return e;
    }
    ADD_FAILURE() << "mode " << mode << " did not fail";
    return McpError("", "", "");
  }
  void check_no_leftovers() {
    for (pid_t pid : testing::read_pids(dir_.path / "pids")) EXPECT_TRUE(testing::process_gone(pid)) << pid;
    EXPECT_TRUE(testing::no_children_left());
  }
  TempDir dir_;
};

TEST_F(ClientTest, HandshakePaginationPingsAndNotifications) {
  {
    McpClient client(child("ok"), fast());
    const auto& init = client.initialize();
    EXPECT_EQ(init.protocol_version, "2025-11-25");
    EXPECT_EQ(init.server_info["name"], "fake-notes");
    EXPECT_EQ(init.instructions, "Use read_note before delete_note.");
    EXPECT_TRUE(client.has_capability("resources"));
    EXPECT_FALSE(client.has_capability("completions"));
    const auto tools = client.list_all("tools/list", "tools");
    ASSERT_EQ(tools.size(), 3u);
    EXPECT_EQ(tools[2]["name"], "run_script");
    // The server's ping was answered with an empty result, its notifications ignored.
    bool answered_ping = false;
    for (const auto& m : client.transcript())
      if (m.direction == WireMessage::Direction::kClientToServer && m.message.value("id", Json()) == "srv-1")
        answered_ping = m.message.contains("result");
    EXPECT_TRUE(answered_ping);
    EXPECT_EQ(client.list_all("resources/list", "resources").size(), 1u);
    const Json call = client.request("tools/call", {{"name", "read_note"}, {"arguments", {{"note_id", "7"}}}}, "tools/call");
    EXPECT_EQ(call["content"][0]["text"], "note 7: buy milk");
    EXPECT_EQ(client.close(), "exit status 0");  // closing stdin is enough for a polite server
  }
  check_no_leftovers();
}

TEST_F(ClientTest, AnswersServerRequestsOnlyForDeclaredCapabilities) {
  auto answer_to_roots = [&](Json capabilities) {
    ClientOptions options = fast();
    options.capabilities = capabilities;
    McpClient client(child("dynamic"), options);
    client.initialize();
    client.list_all("tools/list", "tools");
    client.request("ping", Json::object(), "ping");
    for (const auto& m : client.transcript())
      if (m.direction == WireMessage::Direction::kClientToServer && m.message.value("id", Json()) == "roots-1")
        return m.message;
    return Json();
  };
  // Without `roots` the fake server never asks; with it, the client shares no roots.
  EXPECT_TRUE(answer_to_roots(Json::object()).is_null());
  const Json answer = answer_to_roots({{"roots", Json::object()}});
  EXPECT_EQ(answer["result"], Json({{"roots", Json::array()}}));
  check_no_leftovers();
}

TEST_F(ClientTest, AcceptsOlderKnownProtocolVersions) {
  McpClient client(child("old-version"), fast());
  EXPECT_EQ(client.initialize().protocol_version, "2024-11-05");
}

TEST_F(ClientTest, ServerNotFound) {
  ChildOptions options;
  options.argv = {"/nonexistent/mcp-server", "--flag"};
  try {
    McpClient client(options, fast());
    FAIL();
  } catch (const McpError& e) {
    EXPECT_EQ(e.step(), "spawn");
    EXPECT_EQ(e.server(), "/nonexistent/mcp-server --flag");
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos);
  }
  EXPECT_TRUE(testing::no_children_left());
}

TEST_F(ClientTest, ExitsEarlyWithStderrInMessage) {
  const McpError e = expect_failure("exit-early", fast());
  EXPECT_EQ(e.step(), "initialize");
  const std::string what = e.what();
  // Depending on timing the client notices the exit while writing or while reading.
  EXPECT_TRUE(what.find("server closed stdout before answering") != std::string::npos ||
              what.find("cannot write to server stdin") != std::string::npos)
      << what;
  EXPECT_NE(what.find("exit status 3"), std::string::npos) << what;
  EXPECT_NE(what.find("missing API key FAKE_TOKEN"), std::string::npos) << what;
  EXPECT_NE(what.find("fake_server.py exit-early'"), std::string::npos) << what;
}

TEST_F(ClientTest, HangTimesOutAndKillsTheWholeProcessGroup) {
  ClientOptions options = fast();
  options.step_timeout = std::chrono::milliseconds(500);
  const auto start = Clock::now();
  const McpError e = expect_failure("hang", options);  // also checks the grandchild is gone
  EXPECT_EQ(e.step(), "initialize");
  EXPECT_NE(std::string(e.what()).find("no response within 500 ms"), std::string::npos) << e.what();
  EXPECT_EQ(testing::read_pids(dir_.path / "pids").size(), 2u);
  // timeout + grace after closing stdin + grace after the ignored SIGTERM, then SIGKILL.
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
}

TEST_F(ClientTest, NonJsonOnStdout) {
  const McpError e = expect_failure("non-json", fast());
  EXPECT_EQ(e.step(), "initialize");
  EXPECT_NE(std::string(e.what()).find("non-JSON output on stdout"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("Fake server v1 listening on stdio"), std::string::npos) << e.what();
}

TEST_F(ClientTest, HugeLine) {
  const McpError e = expect_failure("huge-line", fast());
  EXPECT_EQ(e.step(), "tools/list");
  EXPECT_NE(std::string(e.what()).find("stdout line longer than 100000 bytes"), std::string::npos) << e.what();
}

TEST_F(ClientTest, WrongResponseId) {
  const McpError e = expect_failure("wrong-id", fast());
  EXPECT_EQ(e.step(), "initialize");
  EXPECT_NE(std::string(e.what()).find("response id 1001 does not match request id 1"), std::string::npos)
      << e.what();
}

TEST_F(ClientTest, JsonRpcError) {
  const McpError e = expect_failure("rpc-error", fast());
  EXPECT_EQ(e.step(), "tools/list");
  EXPECT_NE(std::string(e.what()).find("JSON-RPC error -32603: database is locked"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("fake server started in mode rpc-error"), std::string::npos) << e.what();
}

TEST_F(ClientTest, UnsupportedProtocolVersion) {
  const McpError e = expect_failure("bad-version", fast());
  EXPECT_EQ(e.step(), "initialize");
  EXPECT_NE(std::string(e.what()).find("'1999-01-01', which this client does not speak"), std::string::npos)
      << e.what();
}

TEST_F(ClientTest, PaginationLoop) {
  const McpError e = expect_failure("cursor-loop", fast());
  EXPECT_EQ(e.step(), "tools/list (page 2)");
}

}  // namespace
}  // namespace mcip::mcp
