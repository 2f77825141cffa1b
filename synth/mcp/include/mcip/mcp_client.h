// A minimal, strict MCP client over the stdio transport: newline-delimited JSON-RPC 2.0
// to a spawned server. Every failure is an McpError naming the server command line and the
// protocol step, with the tail of the server's stderr attached, so a user can tell at once
// which server misbehaved, when, and what it printed.
#pragma once
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "mcip/child_process.h"

namespace mcip::mcp {

// Insertion-ordered JSON, so tool objects and catalogs keep the key order the server used.
using Json = nlohmann::ordered_json;

// Protocol revisions this client can speak, newest first.
const std::vector<std::string>& supported_protocol_versions();
inline constexpr const char* kDefaultProtocolVersion = "2025-11-25";

class McpError : public std::runtime_error {
 public:
  McpError(std::string server, std::string step, const std::string& what);
  const std::string& server() const { return server_; }
  const std::string& step() const { return step_; }

 private:
  std::string server_;
  std::string step_;
};

struct ClientOptions {
  std::string protocol_version = kDefaultProtocolVersion;  // offered in initialize
  std::chrono::milliseconds step_timeout{30000};           // per request/response step
  std::size_t max_line_bytes = 16u * 1024u * 1024u;        // longer stdout line → error
  // Client capabilities declared in initialize. Some servers only list tools for clients that
  // can serve them (server-everything: roots, sampling, elicitation). The client answers the
  // matching server requests conservatively: roots/list → no roots, elicitation → decline,
  // sampling → rejected (-1).
  Json capabilities = Json::object();
  std::string client_name = "mcip-synth";
  std::string client_version = MCIP_VERSION;
};

// One message on the wire, kept in order for recording.
struct WireMessage {
  enum class Direction { kClientToServer, kServerToClient };
  Direction direction;
  Json message;
};

struct InitializeResult {
  std::string protocol_version;  // what the server answered
  Json server_info;    // serverInfo object
  Json capabilities;   // server capabilities
  std::string instructions;      // optional
};

class McpClient {
 public:
  // Spawns the server; throws McpError(step "spawn") if it cannot be started.
  McpClient(const ChildOptions& child, ClientOptions options);
  ~McpClient();  // shuts the server down (closes stdin, SIGTERM, SIGKILL) and reaps it

  // initialize → notifications/initialized. Refuses protocol versions it cannot speak.
  const InitializeResult& initialize();

  // Sends one request and waits for its response, answering pings and ignoring
  // notifications meanwhile. Returns `result`; a JSON-RPC error becomes McpError.
  Json request(const std::string& method, const Json& params, const std::string& step);

  // Pages through a list method (tools/list, resources/list, prompts/list) following
  // nextCursor; returns the concatenated `key` arrays. A repeated cursor is an error.
  std::vector<Json> list_all(const std::string& method, const std::string& key);

  // True if the server advertised capability `name` (e.g. "resources") in initialize.
  bool has_capability(const std::string& name) const;

  // True if notifications/<kind>/list_changed ("tools", "resources", "prompts") arrived since
  // the last call; clears the flag.
  bool consume_list_changed(const std::string& kind);

  // Closes the connection and reaps the server; returns how it ended. Idempotent.
  std::string close();

  const std::string& server_label() const { return server_label_; }
  const std::vector<WireMessage>& transcript() const { return transcript_; }
  void clear_transcript() { transcript_.clear(); }

 private:
  void send(const Json& message, const std::string& step);
  Json receive(const std::string& step, Clock::time_point deadline);
  void wait_briefly_for_exit();
  Json answer_server_request(const Json& id, const std::string& method) const;
  [[noreturn]] void fail(const std::string& step, const std::string& what);

  std::string server_label_;
  std::chrono::milliseconds terminate_grace_;
  ClientOptions options_;
  std::unique_ptr<ChildProcess> child_;
  InitializeResult init_;
  bool initialized_ = false;
  long long next_id_ = 1;
  std::vector<WireMessage> transcript_;
  std::set<std::string> changed_lists_;
};

}  // namespace mcip::mcp
