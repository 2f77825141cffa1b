#include "mcip/record.h"

#include <stdlib.h>

#include <fstream>
#include <set>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/yaml_strict.h"

namespace mcip::mcp {
namespace fs = std::filesystem;
namespace {

// YAML → JSON for tool arguments: quoted scalars stay strings, plain ones become numbers,
// booleans or null when they read as such.
Json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Sequence: {
      Json array = Json::array();
      for (const auto& item : node) array.push_back(to_json(item));
      return array;
    }
    case YAML::NodeType::Map: {
      Json object = Json::object();
      for (const auto& kv : node) object[kv.first.as<std::string>()] = to_json(kv.second);
      return object;
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted
  if (text == "true") return true;
  if (text == "false") return false;
  if (text == "null" || text == "~") return nullptr;
  try {
    std::size_t used = 0;
    const long long integer = std::stoll(text, &used);
    if (used == text.size()) return integer;
    const double number = std::stod(text, &used);
    if (used == text.size()) return number;
  } catch (const std::exception&) {
  }
  return text;
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
}

// Applies `edit` to every string (values, not keys) inside a JSON value.
template <typename Edit>
void edit_strings(Json& value, const Edit& edit) {
  if (value.is_string()) {
    std::string s = value.get<std::string>();
    edit(s);
    value = s;
  } else if (value.is_structured()) {
    for (auto& item : value) edit_strings(item, edit);
  }
}

class Sandbox {
 public:
  Sandbox() {
    std::string pattern = (fs::temp_directory_path() / "mcip-record-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("cannot create a sandbox directory in " + pattern);
    path_ = pattern;
    real_ = fs::canonical(path_).string();
  }
  ~Sandbox() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string path() const { return path_.string(); }
  void expand(std::string& text) const { replace_all(text, "{sandbox}", path_.string()); }
  void hide(std::string& text) const {
    replace_all(text, real_, kSandboxAlias);
    replace_all(text, path_.string(), kSandboxAlias);
  }

 private:
  fs::path path_;
  std::string real_;
};

std::string direction_name(WireMessage::Direction d) {
  return d == WireMessage::Direction::kClientToServer ? "client->server" : "server->client";
}

}  // namespace

EpisodeFile load_episodes(const fs::path& file) {
  const StrictYaml root = StrictYaml::parse_file(file.string());
  root.expect_map({"schema_version", "server", "episodes"});
  if (root.required("schema_version").integer() != 1) root["schema_version"].fail("must be 1");
  EpisodeFile out;
  out.server = root.required_str("server");
  const StrictYaml episodes = root.required("episodes");
  if (episodes.seq_size() == 0) episodes.fail("needs at least one episode");
  std::set<std::string> ids;
  for (std::size_t i = 0; i < episodes.seq_size(); ++i) {
    const StrictYaml e = episodes.at(i);
    e.expect_map({"id", "query", "files", "calls"});
    Episode episode;
    episode.id = e.required_str("id");
    if (!ids.insert(episode.id).second) e["id"].fail("duplicate episode id '" + episode.id + "'");
    episode.query = e.required_str("query");
    if (e.has("files")) {
      const StrictYaml files = e["files"];
      for (const auto& path : files.keys()) {
        if (path.empty() || path[0] == '/' || path.find("..") != std::string::npos)
          files.fail("file paths must be relative and stay inside the sandbox: '" + path + "'");
        episode.files[path] = files[path.c_str()].str();
      }
    }
    const StrictYaml calls = e.required("calls");
    if (calls.seq_size() == 0) calls.fail("needs at least one call");
    for (std::size_t j = 0; j < calls.seq_size(); ++j) {
      const StrictYaml c = calls.at(j);
      c.expect_map({"tool", "arguments", "progress"});
      RecordedCall call{c.required_str("tool"), Json::object(), c.optional_bool("progress", false)};
      if (c.has("arguments")) {
        if (!c["arguments"].raw().IsMap()) c["arguments"].fail("must be a mapping of argument names to values");
        call.arguments = to_json(c["arguments"].raw());
      }
      episode.calls.push_back(std::move(call));
    }
    out.episodes.push_back(std::move(episode));
  }
  return out;
}

Json record_traces(const RecordOptions& options) {
  const EpisodeFile episodes = load_episodes(options.episodes);
  // Validate the server spec once up front so bad usage fails before any server starts.
  child_options(options.server);
  const ClientOptions client_opts = client_options(options.server);

  Json doc = Json::object();
  doc["schema_version"] = 1;
  doc["kind"] = "recorded-traces";
  doc["command"] = options.server.command;
  doc["sandbox"] = options.sandbox ? Json(kSandboxAlias) : Json(nullptr);
  doc["recorded_with"] = std::string("mcip-synth ") + MCIP_VERSION;
  Json traces = Json::array();
  for (const auto& episode : episodes.episodes) {
    std::unique_ptr<Sandbox> sandbox;
    if (options.sandbox) sandbox = std::make_unique<Sandbox>();
    auto expand = [&](std::string& s) {
      if (sandbox) sandbox->expand(s);
    };
    ServerSpec spec = options.server;
    expand(spec.command);
    for (auto& kv : spec.env) expand(kv);
    for (const auto& [path, content] : episode.files) {
      if (!sandbox) throw InputError(options.episodes.string(), 0, "episodes." + episode.id + ".files",
                                     "files need --sandbox");
      const fs::path target = fs::path(sandbox->path()) / path;
      fs::create_directories(target.parent_path());
      std::ofstream(target) << content;
    }
    const ChildOptions child = child_options(spec);
    McpClient client(child, client_opts);
    const InitializeResult& init = client.initialize();
    if (init.server_info["name"] != episodes.server)
      throw InputError(options.episodes.string(), 0, "server",
                       "episodes are for '" + episodes.server + "' but the server is '" +
                           init.server_info["name"].get<std::string>() + "'");
    if (!doc.contains("server")) {
      doc["server"] = init.server_info;
      doc["protocol_version"] = init.protocol_version;
      if (auto package = detect_npm_package(child.argv)) {
        doc["npm_package"] = package->name;
        doc["npm_version"] = package->version;
      }
    }
    std::set<std::string> tool_names;
    for (const auto& t : client.list_all("tools/list", "tools")) tool_names.insert(t.value("name", ""));
    Json calls = Json::array();
    for (std::size_t i = 0; i < episode.calls.size(); ++i) {
      const RecordedCall& call = episode.calls[i];
      if (!tool_names.count(call.tool))
        throw InputError(options.episodes.string(), 0, "episodes." + episode.id + ".calls." + std::to_string(i),
                         "server does not list a tool named '" + call.tool + "'");
      Json arguments = call.arguments;
      edit_strings(arguments, expand);
      Json params = {{"name", call.tool}, {"arguments", arguments}};
      if (call.progress) params["_meta"] = {{"progressToken", episode.id + "/" + std::to_string(i)}};
      const Json result = client.request("tools/call", params, "tools/call " + call.tool + " (episode " + episode.id + ")");
      calls.push_back({{"tool", call.tool}, {"arguments", arguments}, {"result", result},
                       {"is_error", result.value("isError", false)}});
    }
    client.close();
    Json messages = Json::array();
    for (const auto& m : client.transcript())
      messages.push_back({{"direction", direction_name(m.direction)}, {"message", m.message}});
    Json trace = {{"id", episode.id}, {"query", episode.query}, {"calls", calls}, {"messages", messages}};
    if (sandbox) edit_strings(trace, [&](std::string& s) { sandbox->hide(s); });
    traces.push_back(std::move(trace));
  }
  doc["episodes"] = std::move(traces);
  return doc;
}

int run_record(const RecordOptions& options, std::ostream& log) {
  if (options.out.empty()) throw InputError("", 0, "--out", "an output file is required");
  const fs::path parent = options.out.has_parent_path() ? options.out.parent_path() : fs::path(".");
  if (!fs::is_directory(parent))
    throw InputError(options.out.string(), 0, "--out", "directory " + parent.string() + " does not exist");
  if (fs::is_directory(options.out))
    throw InputError(options.out.string(), 0, "--out", "is a directory; give a file name");
  const Json doc = record_traces(options);
  write_file_atomic(options.out, doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
  std::size_t calls = 0, messages = 0;
  for (const auto& e : doc["episodes"]) {
    calls += e["calls"].size();
    messages += e["messages"].size();
  }
  log << "recorded " << doc["episodes"].size() << " episodes, " << calls << " tool calls, " << messages
      << " messages from " << doc["server"]["name"].get<std::string>() << " into " << options.out.string() << "\n";
  return 0;
}

}  // namespace mcip::mcp
