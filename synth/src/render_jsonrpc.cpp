// MCP JSON-RPC transcript of an episode, one connection per server, built as text for speed.
#include "mcip/synth/json_text.h"
#include "mcip/synth/render.h"

#ifndef MCIP_VERSION
#define MCIP_VERSION "0.0.0"
#endif

namespace mcip::synth {
namespace {

void identity_meta(JsonWriter& w, const Identity& id) {
  w.key("_meta").begin_object().key("io.mcip/caller").begin_object();
  w.key("id").str(id.id).key("role").str(id.role).key("scopes").begin_array();
  for (const auto& s : id.scopes) w.str(s);
  w.end_array().end_object().end_object();
}

void open_entry(JsonWriter& w, const std::string& server, bool to_server) {
  w.begin_object().key("server").str(server).key("direction").str(to_server ? "client_to_server" : "server_to_client");
  w.key("message").begin_object().key("jsonrpc").str("2.0");
}

}  // namespace

std::string render_jsonrpc(const Episode& ep, const std::string& protocol_version) {
  std::string out;
  append_jsonrpc(out, ep, protocol_version);
  return out;
}

void append_jsonrpc(std::string& out, const Episode& ep, const std::string& protocol_version) {
  JsonWriter w(out);
  w.begin_array();
  std::vector<long long> next_id(ep.sessions.size(), 1);
  for (size_t si = 0; si < ep.sessions.size(); ++si) {
    const Session& s = ep.sessions[si];
    const long long init_id = next_id[si]++, list_id = next_id[si]++;
    open_entry(w, s.server, true);
    w.key("id").num(init_id).key("method").str("initialize").key("params").begin_object();
    w.key("protocolVersion").str(protocol_version);
    w.key("capabilities").begin_object().key("roots").begin_object().key("listChanged").boolean(true).end_object().end_object();
    w.key("clientInfo").begin_object().key("name").str("mcip-sim-client").key("version").str(MCIP_VERSION).end_object();
    identity_meta(w, ep.caller);
    w.end_object().end_object().end_object();

    open_entry(w, s.server, false);
    w.key("id").num(init_id).key("result").begin_object().key("protocolVersion").str(protocol_version);
    w.key("capabilities").begin_object().key("tools").begin_object().key("listChanged").boolean(false).end_object().end_object();
    w.key("serverInfo").begin_object().key("name").str(s.server);
    if (!s.title.empty()) w.key("title").str(s.title);
    w.key("version").str(s.version).end_object();
    if (!s.instructions.empty()) w.key("instructions").str(s.instructions);
    w.end_object().end_object().end_object();

    open_entry(w, s.server, true);
    w.key("method").str("notifications/initialized").end_object().end_object();

    open_entry(w, s.server, true);
    w.key("id").num(list_id).key("method").str("tools/list").end_object().end_object();
    open_entry(w, s.server, false);
    w.key("id").num(list_id).key("result").begin_object().key("tools").begin_array();
    for (const Tool* t : s.tools) w.raw(t->mcp_json);
    w.end_array().end_object().end_object().end_object();
  }
  for (const auto& c : ep.calls) {
    size_t si = 0;
    while (si < ep.sessions.size() && ep.sessions[si].server != c.server) ++si;
    if (si == ep.sessions.size()) continue;  // cannot happen for well-formed episodes
    const long long id = next_id[si]++;
    open_entry(w, c.server, true);
    w.key("id").num(id).key("method").str("tools/call").key("params").begin_object();
    w.key("name").str(c.tool->name).key("arguments").raw("");
    append_compact_json(out, c.arguments);
    identity_meta(w, c.actor);
    w.end_object().end_object().end_object();
    open_entry(w, c.server, false);
    if (c.recorded.is_object()) {  // a real server's CallToolResult, verbatim
      w.key("id").num(id).key("result").raw("");
      append_compact_json(out, c.recorded);
      w.end_object().end_object();
      continue;
    }
    w.key("id").num(id).key("result").begin_object().key("content").begin_array();
    w.begin_object().key("type").str("text").key("text").str(c.text).end_object();
    w.end_array();
    // The text block is usually the serialized structuredContent (simulate_result writes it so);
    // reuse it then. A lone string result is sent as plain text instead.
    if (c.structured.is_object()) {
      const bool lone_string = c.structured.size() == 1 && c.structured.begin()->is_string();
      w.key("structuredContent").raw(!lone_string && c.text.size() > 1 && c.text[0] == '{' ? c.text : compact_json(c.structured));
    }
    // Like real servers, only a failure says isError (it defaults to false).
    if (c.is_error) w.key("isError").boolean(true);
    w.end_object().end_object().end_object();
  }
  w.end_array();
}

}  // namespace mcip::synth
