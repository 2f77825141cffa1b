#include "mcip/mcp_client.h"

#include <algorithm>
#include <set>
#include <thread>

#include "mcip/command_line.h"

namespace mcip::mcp {
namespace {

using json = Json;

constexpr std::size_t kStderrInMessage = 2000;

std::string abbreviate(const std::string& text, std::size_t limit = 200) {
  if (text.size() <= limit) return text;
  return text.substr(0, limit) + "... (" + std::to_string(text.size()) + " bytes)";
}

std::string id_text(const json& id) { return id.dump(); }

}  // namespace

const std::vector<std::string>& supported_protocol_versions() {
  static const std::vector<std::string> versions = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};
  return versions;
}

McpError::McpError(std::string server, std::string step, const std::string& what)
    : std::runtime_error("server '" + server + "': step " + step + ": " + what),
      server_(std::move(server)),
      step_(std::move(step)) {}

McpClient::McpClient(const ChildOptions& child, ClientOptions options)
    : server_label_(join_command_line(child.argv)),
      terminate_grace_(child.terminate_grace),
      options_(std::move(options)) {
  try {
    child_ = std::make_unique<ChildProcess>(child);
  } catch (const std::exception& e) {
    throw McpError(server_label_, "spawn", std::string(e.what()) + " (is the server installed and on PATH?)");
  }
}

McpClient::~McpClient() = default;

void McpClient::fail(const std::string& step, const std::string& what) {
  std::string message = what;
  // A server that died usually says why on stderr, so the tail goes into every message.
  std::optional<std::string> ended = child_->exit_description();
  if (ended) message += " (server " + *ended + ")";
  std::string tail = child_->stderr_tail();
  if (tail.size() > kStderrInMessage) tail = "..." + tail.substr(tail.size() - kStderrInMessage);
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
  if (!tail.empty()) message += "\n  server stderr:\n    " + [&] {
    std::string indented;
    for (char c : tail) {
      indented += c;
      if (c == '\n') indented += "    ";
    }
    return indented;
  }();
  throw McpError(server_label_, step, message);
}

void McpClient::wait_briefly_for_exit() {
  // A server that closed its pipes is usually exiting; let the status arrive so the error
  // message can say how it ended.
  for (int i = 0; i < 50 && !child_->exit_description(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void McpClient::send(const json& message, const std::string& step) {
  transcript_.push_back({WireMessage::Direction::kClientToServer, message});
  // Compact dump never contains a raw newline: the stdio framing depends on that.
  const std::string line = message.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  if (!child_->write_all(line, Clock::now() + options_.step_timeout)) {
    wait_briefly_for_exit();
    fail(step, "cannot write to server stdin (server closed it or did not read within " +
                   std::to_string(options_.step_timeout.count()) + " ms)");
  }
}

json McpClient::receive(const std::string& step, Clock::time_point deadline) {
  for (;;) {
    std::string line;
    switch (child_->read_line(line, deadline, options_.max_line_bytes)) {
      case ChildProcess::ReadStatus::kTimeout:
        fail(step, "no response within " + std::to_string(options_.step_timeout.count()) + " ms");
      case ChildProcess::ReadStatus::kLineTooLong:
        fail(step, "stdout line longer than " + std::to_string(options_.max_line_bytes) + " bytes");
      case ChildProcess::ReadStatus::kEof: {
        wait_briefly_for_exit();
        std::string what = "server closed stdout before answering";
        if (!line.empty()) what += "; unterminated output: " + abbreviate(line);
        fail(step, what);
      }
      case ChildProcess::ReadStatus::kLine:
        break;
    }
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // tolerate blank keep-alives
    json message;
    try {
      message = json::parse(line);
    } catch (const json::parse_error&) {
      fail(step, "non-JSON output on stdout (stdout must carry JSON-RPC only; logs belong on stderr): " +
                     abbreviate(line));
    }
    if (!message.is_object() || message.value("jsonrpc", json()) != "2.0")
      fail(step, "not a JSON-RPC 2.0 message: " + abbreviate(line));
    transcript_.push_back({WireMessage::Direction::kServerToClient, message});
    return message;
  }
}

json McpClient::answer_server_request(const json& id, const std::string& method) const {
  // Only what we declared gets a real answer, and a conservative one: harvesting and
  // recording must never hand a server data or consent.
  json answer = {{"jsonrpc", "2.0"}, {"id", id}};
  const json& caps = options_.capabilities;
  if (method == "ping")
    answer["result"] = json::object();
  else if (method == "roots/list" && caps.contains("roots"))
    answer["result"] = {{"roots", json::array()}};
  else if (method == "elicitation/create" && caps.contains("elicitation"))
    answer["result"] = {{"action", "decline"}};
  else if (method == "sampling/createMessage" && caps.contains("sampling"))
    answer["error"] = {{"code", -1}, {"message", "User rejected sampling request"}};
  else
    answer["error"] = {{"code", -32601}, {"message", "Method not found"}};
  return answer;
}

json McpClient::request(const std::string& method, const json& params, const std::string& step) {
  const json id = next_id_++;
  json message = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) message["params"] = params;
  send(message, step);
  const auto deadline = Clock::now() + options_.step_timeout;
  for (;;) {
    json reply = receive(step, deadline);
    if (reply.contains("method")) {
      if (!reply["method"].is_string()) fail(step, "message with a non-string method: " + abbreviate(reply.dump()));
      const std::string method = reply["method"].get<std::string>();
      if (reply.contains("id")) {
        send(answer_server_request(reply["id"], method), step);
      } else {
        static const std::string kPrefix = "notifications/", kSuffix = "/list_changed";
        if (method.size() > kPrefix.size() + kSuffix.size() && method.compare(0, kPrefix.size(), kPrefix) == 0 &&
            method.compare(method.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0)
          changed_lists_.insert(method.substr(kPrefix.size(), method.size() - kPrefix.size() - kSuffix.size()));
      }
      continue;  // other notifications (logging, progress) need no answer
    }
    if (!reply.contains("id")) fail(step, "response without an id: " + abbreviate(reply.dump()));
    if (reply.contains("error")) {
      const json& error = reply["error"];
      std::string what = "JSON-RPC error";
      if (error.is_object()) {
        if (error.contains("code")) what += " " + error["code"].dump();
        if (error.contains("message") && error["message"].is_string())
          what += ": " + error["message"].get<std::string>();
        if (error.contains("data")) what += " (data: " + abbreviate(error["data"].dump()) + ")";
      } else {
        what += ": " + abbreviate(error.dump());
      }
      if (reply["id"] != id) what += " [response id " + id_text(reply["id"]) + ", request id " + id_text(id) + "]";
      fail(step, what);
    }
    if (reply["id"] != id)
      fail(step, "response id " + id_text(reply["id"]) + " does not match request id " + id_text(id));
    if (!reply.contains("result") || !reply["result"].is_object())
      fail(step, "response has no result object: " + abbreviate(reply.dump()));
    return reply["result"];
  }
}

const InitializeResult& McpClient::initialize() {
  if (initialized_) return init_;
  const json params = {{"protocolVersion", options_.protocol_version},
                       {"capabilities", options_.capabilities},
                       {"clientInfo", {{"name", options_.client_name}, {"version", options_.client_version}}}};
  const json result = request("initialize", params, "initialize");
  const auto& supported = supported_protocol_versions();
  if (!result.contains("protocolVersion") || !result["protocolVersion"].is_string())
    fail("initialize", "result has no protocolVersion string");
  init_.protocol_version = result["protocolVersion"].get<std::string>();
  if (std::find(supported.begin(), supported.end(), init_.protocol_version) == supported.end()) {
    std::string list;
    for (const auto& v : supported) list += (list.empty() ? "" : ", ") + v;
    fail("initialize", "server answered protocol version '" + init_.protocol_version +
                           "', which this client does not speak (supported: " + list + ")");
  }
  if (!result.contains("serverInfo") || !result["serverInfo"].is_object() ||
      !result["serverInfo"].contains("name") || !result["serverInfo"]["name"].is_string())
    fail("initialize", "result has no serverInfo.name");
  init_.server_info = result["serverInfo"];
  init_.capabilities = result.value("capabilities", json::object());
  if (!init_.capabilities.is_object()) fail("initialize", "capabilities is not an object");
  if (result.contains("instructions") && result["instructions"].is_string())
    init_.instructions = result["instructions"].get<std::string>();
  send({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}, "notifications/initialized");
  initialized_ = true;
  return init_;
}

std::vector<json> McpClient::list_all(const std::string& method, const std::string& key) {
  std::vector<json> items;
  std::set<std::string> seen_cursors;
  json cursor;
  for (int page = 1;; ++page) {
    const std::string step = page == 1 ? method : method + " (page " + std::to_string(page) + ")";
    json params = json::object();
    if (!cursor.is_null()) params["cursor"] = cursor;
    const json result = request(method, params, step);
    if (!result.contains(key) || !result[key].is_array())
      fail(step, "result has no '" + key + "' array: " + abbreviate(result.dump()));
    for (const auto& item : result[key]) items.push_back(item);
    if (!result.contains("nextCursor") || result["nextCursor"].is_null()) return items;
    if (!result["nextCursor"].is_string()) fail(step, "nextCursor is not a string");
    const std::string next = result["nextCursor"].get<std::string>();
    if (!seen_cursors.insert(next).second) fail(step, "server repeated cursor '" + next + "' (pagination loop)");
    cursor = next;
  }
}

bool McpClient::has_capability(const std::string& name) const {
  return init_.capabilities.contains(name) && !init_.capabilities[name].is_null();
}

bool McpClient::consume_list_changed(const std::string& kind) { return changed_lists_.erase(kind) > 0; }

std::string McpClient::close() { return child_->shutdown(terminate_grace_); }

}  // namespace mcip::mcp
