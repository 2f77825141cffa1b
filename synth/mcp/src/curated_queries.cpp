#include "mcip/curated_queries.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "mcip/error.h"
#include "mcip/tool_profile.h"

namespace mcip::mcp {
namespace {

int line_of(const YAML::Node& node) { return node.Mark().line >= 0 ? node.Mark().line + 1 : 0; }

}  // namespace

CuratedQueries CuratedQueries::load(const std::filesystem::path& file) {
  CuratedQueries curated;
  curated.file_ = file;
  const std::string name = file.string();
  YAML::Node root;
  try {
    root = YAML::LoadFile(name);
  } catch (const YAML::BadFile&) {
    throw InputError(name, 0, "", "cannot read curated queries file");
  } catch (const YAML::ParserException& e) {
    throw InputError(name, e.mark.line + 1, "", std::string("YAML syntax error: ") + e.msg);
  }
  if (!root.IsMap()) throw InputError(name, line_of(root), "", "expected a mapping at the top level");
  for (const auto& key : root) {
    const auto k = key.first.as<std::string>();
    if (k != "schema_version" && k != "servers")
      throw InputError(name, line_of(key.first), k, "unknown key (expected schema_version, servers)");
  }
  if (!root["schema_version"] || root["schema_version"].as<std::string>() != "1")
    throw InputError(name, line_of(root), "schema_version", "must be 1");
  const YAML::Node servers = root["servers"];
  if (!servers || !servers.IsMap()) throw InputError(name, line_of(root), "servers", "must be a mapping");
  for (const auto& server : servers) {
    const auto server_name = server.first.as<std::string>();
    if (!server.second.IsMap())
      throw InputError(name, line_of(server.second), "servers." + server_name, "must map tool names to entries");
    auto& tools = curated.servers_[server_name];
    for (const auto& tool : server.second) {
      const auto tool_name = tool.first.as<std::string>();
      const std::string field = "servers." + server_name + "." + tool_name;
      if (!tool.second.IsMap()) throw InputError(name, line_of(tool.second), field, "must be a mapping");
      CuratedTool entry;
      entry.line = line_of(tool.first);
      for (const auto& kv : tool.second) {
        const auto k = kv.first.as<std::string>();
        if (k == "privilege") {
          const auto p = kv.second.as<std::string>();
          if (p != "read" && p != "write" && p != "admin")
            throw InputError(name, line_of(kv.second), field + ".privilege", "must be read, write or admin, not '" + p + "'");
          entry.privilege = p;
        } else if (k == "queries") {
          if (!kv.second.IsSequence() || kv.second.size() == 0)
            throw InputError(name, line_of(kv.second), field + ".queries", "must be a non-empty list of strings");
          for (const auto& q : kv.second) {
            if (!q.IsScalar()) throw InputError(name, line_of(q), field + ".queries", "entries must be strings");
            entry.queries.push_back(q.as<std::string>());
          }
        } else {
          throw InputError(name, line_of(kv.first), field + "." + k, "unknown key (expected privilege, queries)");
        }
      }
      if (!entry.privilege && entry.queries.empty())
        throw InputError(name, entry.line, field, "entry sets neither privilege nor queries");
      tools.emplace(tool_name, std::move(entry));
    }
  }
  return curated;
}

void CuratedQueries::apply(const std::string& server_name, Json& tools) const {
  const auto server = servers_.find(server_name);
  if (server == servers_.end()) return;
  const std::string name = file_.string();
  for (const auto& [tool_name, entry] : server->second) {
    const std::string field = "servers." + server_name + "." + tool_name;
    auto tool = std::find_if(tools.begin(), tools.end(), [&](const Json& t) { return t.value("name", "") == tool_name; });
    if (tool == tools.end())
      throw InputError(name, entry.line, field, "server '" + server_name + "' does not list a tool named '" + tool_name + "'");
    Json& x = (*tool)["x-mcip"];
    std::vector<std::string> derived = x.value("derived", std::vector<std::string>{});
    if (entry.privilege) {
      x["privilege"] = *entry.privilege;
      derived.erase(std::remove(derived.begin(), derived.end(), "privilege"), derived.end());
    }
    if (!entry.queries.empty()) {
      const Json properties = tool->value("inputSchema", Json::object()).value("properties", Json::object());
      for (const auto& q : entry.queries)
        for (const auto& slot : template_slots(q))
          if (!properties.contains(slot))
            throw InputError(name, entry.line, field + ".queries",
                             "slot {" + slot + "} is not a property of the tool's inputSchema");
      x["queries"] = entry.queries;
      derived.erase(std::remove(derived.begin(), derived.end(), "queries"), derived.end());
    }
    x["derived"] = derived;
  }
}

}  // namespace mcip::mcp
