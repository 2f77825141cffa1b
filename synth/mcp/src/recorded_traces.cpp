#include "mcip/recorded_traces.h"

#include <algorithm>

#include "mcip/atomic_file.h"
#include "mcip/error.h"

namespace mcip::mcp {
namespace {

class TraceReader {
 public:
  explicit TraceReader(std::string file) : file_(std::move(file)) {}
  [[noreturn]] void fail(const std::string& pointer, const std::string& what) const {
    throw InputError(file_, 0, pointer.empty() ? "/" : pointer, what);
  }
  const Json& member(const Json& object, const std::string& pointer, const char* key) const {
    if (!object.is_object()) fail(pointer, "expected an object");
    if (!object.contains(key)) fail(pointer, std::string("missing required key '") + key + "'");
    return object[key];
  }
  std::string string(const Json& object, const std::string& pointer, const char* key) const {
    const Json& value = member(object, pointer, key);
    if (!value.is_string()) fail(pointer + "/" + key, "expected a string");
    return value.get<std::string>();
  }
  const Json& array(const Json& object, const std::string& pointer, const char* key) const {
    const Json& value = member(object, pointer, key);
    if (!value.is_array()) fail(pointer + "/" + key, "expected an array");
    return value;
  }

 private:
  std::string file_;
};

void shape_into(const Json& value, const std::string& path, std::set<std::string>& out) {
  switch (value.type()) {
    case Json::value_t::object:
      out.insert(path + ":object");
      for (auto it = value.begin(); it != value.end(); ++it) shape_into(it.value(), path + "/" + it.key(), out);
      return;
    case Json::value_t::array:
      out.insert(path + ":array");
      for (const auto& item : value) shape_into(item, path + "/*", out);
      return;
    case Json::value_t::string: {
      out.insert(path + ":string");
      const auto& text = value.get_ref<const std::string&>();
      const auto first = text.find_first_not_of(" \t\r\n");
      if (first != std::string::npos && (text[first] == '{' || text[first] == '[')) {
        const Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (!parsed.is_discarded()) shape_into(parsed, path + "(json)", out);
      }
      return;
    }
    case Json::value_t::boolean:
      out.insert(path + ":boolean");
      return;
    case Json::value_t::null:
      out.insert(path + ":null");
      return;
    default:
      out.insert(path + ":number");
  }
}

}  // namespace

RecordedTraces load_recorded_traces(const std::filesystem::path& file) {
  const std::string name = file.string();
  const TraceReader r(name);
  Json doc;
  try {
    doc = Json::parse(read_file(file));
  } catch (const Json::parse_error& e) {
    throw InputError(name, 0, "", std::string("invalid JSON: ") + e.what());
  }
  if (!doc.is_object()) r.fail("", "expected an object");
  if (doc.value("schema_version", Json()) != 1) r.fail("/schema_version", "must be 1");
  if (doc.value("kind", Json()) != "recorded-traces") r.fail("/kind", "must be \"recorded-traces\"");
  RecordedTraces traces;
  traces.file = name;
  traces.server = r.member(doc, "", "server");
  r.string(traces.server, "/server", "name");
  traces.protocol_version = r.string(doc, "", "protocol_version");
  const Json& episodes = r.array(doc, "", "episodes");
  for (std::size_t i = 0; i < episodes.size(); ++i) {
    const std::string ep = "/episodes/" + std::to_string(i);
    TraceEpisode episode;
    episode.id = r.string(episodes[i], ep, "id");
    episode.query = r.string(episodes[i], ep, "query");
    const Json& calls = r.array(episodes[i], ep, "calls");
    for (std::size_t j = 0; j < calls.size(); ++j) {
      const std::string cp = ep + "/calls/" + std::to_string(j);
      TraceCall call;
      call.tool = r.string(calls[j], cp, "tool");
      call.arguments = r.member(calls[j], cp, "arguments");
      if (!call.arguments.is_object()) r.fail(cp + "/arguments", "expected an object");
      call.result = r.member(calls[j], cp, "result");
      if (!call.result.is_object() || !call.result.contains("content") || !call.result["content"].is_array())
        r.fail(cp + "/result", "expected a CallToolResult with a content array");
      const Json& is_error = r.member(calls[j], cp, "is_error");
      if (!is_error.is_boolean()) r.fail(cp + "/is_error", "expected a boolean");
      call.is_error = is_error.get<bool>();
      episode.calls.push_back(std::move(call));
    }
    const Json& messages = r.array(episodes[i], ep, "messages");
    for (std::size_t j = 0; j < messages.size(); ++j) {
      const std::string mp = ep + "/messages/" + std::to_string(j);
      const std::string direction = r.string(messages[j], mp, "direction");
      if (direction != "client->server" && direction != "server->client")
        r.fail(mp + "/direction", "must be client->server or server->client");
      const Json& message = r.member(messages[j], mp, "message");
      if (!message.is_object() || message.value("jsonrpc", Json()) != "2.0")
        r.fail(mp + "/message", "expected a JSON-RPC 2.0 message");
      episode.messages.push_back({direction == "client->server" ? WireMessage::Direction::kClientToServer
                                                                : WireMessage::Direction::kServerToClient,
                                  message});
    }
    traces.episodes.push_back(std::move(episode));
  }
  return traces;
}

std::set<std::string> json_shape(const Json& value) {
  std::set<std::string> out;
  shape_into(value, "", out);
  return out;
}

std::map<std::string, std::set<std::string>> result_shapes(const RecordedTraces& traces) {
  std::map<std::string, std::set<std::string>> shapes;
  for (const auto& episode : traces.episodes)
    for (const auto& call : episode.calls) {
      if (call.is_error) continue;
      const auto shape = json_shape(call.result);
      shapes[call.tool].insert(shape.begin(), shape.end());
    }
  return shapes;
}

ShapeComparison compare_shapes(const std::set<std::string>& reference, const std::set<std::string>& candidate) {
  ShapeComparison c;
  std::set_difference(reference.begin(), reference.end(), candidate.begin(), candidate.end(),
                      std::inserter(c.missing, c.missing.end()));
  std::set_difference(candidate.begin(), candidate.end(), reference.begin(), reference.end(),
                      std::inserter(c.extra, c.extra.end()));
  const std::size_t all = reference.size() + c.extra.size();
  const std::size_t common = reference.size() - c.missing.size();
  c.jaccard = all == 0 ? 1.0 : static_cast<double>(common) / static_cast<double>(all);
  return c;
}

}  // namespace mcip::mcp
