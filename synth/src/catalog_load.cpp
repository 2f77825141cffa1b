// Catalog loading and validation per data/catalogs/SCHEMA.md. Errors name the file, the
// YAML line (or JSON pointer) and the field, and the whole load fails on the first problem.
#include <algorithm>
#include <functional>
#include <filesystem>
#include <fnmatch.h>
#include <set>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/hash.h"
#include "mcip/synth/catalog.h"
#include "mcip/synth/json_text.h"

namespace fs = std::filesystem;

namespace mcip::synth {
namespace {

const std::set<std::string> kTopKeys = {"schema_version", "id", "source", "harvest", "servers"};
const std::set<std::string> kServerKeys = {"name", "version", "title", "domain", "instructions", "tools", "resources", "prompts"};
const std::set<std::string> kToolKeys = {"name", "title", "description", "inputSchema", "outputSchema", "annotations",
                                         "execution", "icons", "_meta", "x-mcip"};
const std::set<std::string> kXmcipKeys = {"privilege", "requires", "queries", "derived"};
const std::set<std::string> kAnnotationKeys = {"title", "readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"};

void check_keys(const Document& doc, const ojson& obj, const std::string& ptr, const std::set<std::string>& allowed) {
  if (!obj.is_object()) doc.fail(ptr, "expected a mapping");
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (!allowed.count(it.key())) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      doc.fail(ptr + "/" + pointer_token(it.key()), fmt::format("unknown key (allowed: {})", list));
    }
}

std::string req_string(const Document& doc, const ojson& obj, const std::string& ptr, const char* key) {
  if (!obj.contains(key)) doc.fail(ptr, fmt::format("missing required key '{}'", key));
  const auto& v = obj[key];
  if (!v.is_string() || v.get_ref<const std::string&>().empty()) doc.fail(ptr + "/" + key, "expected a non-empty string");
  return v.get<std::string>();
}

std::string opt_string(const Document& doc, const ojson& obj, const std::string& ptr, const char* key) {
  if (!obj.contains(key) || obj[key].is_null()) return {};
  if (!obj[key].is_string()) doc.fail(ptr + "/" + key, "expected a string");
  return obj[key].get<std::string>();
}

bool annotation(const Document& doc, const ojson& ann, const std::string& ptr, const char* key, bool fallback) {
  if (!ann.is_object() || !ann.contains(key)) return fallback;
  if (!ann[key].is_boolean()) doc.fail(ptr + "/" + key, "expected true or false");
  return ann[key].get<bool>();
}

// Light structural checks of a JSON Schema object: enough for the sampler to rely on.
void check_schema(const Document& doc, const ojson& s, const std::string& ptr, bool root) {
  if (!s.is_object()) doc.fail(ptr, "expected a JSON Schema object");
  if (root && (!s.contains("type") || s["type"] != "object")) doc.fail(ptr + "/type", "must be \"object\"");
  if (s.contains("properties")) {
    if (!s["properties"].is_object()) doc.fail(ptr + "/properties", "expected a mapping of property schemas");
    for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it)
      check_schema(doc, it.value(), ptr + "/properties/" + pointer_token(it.key()), false);
  }
  if (s.contains("required")) {
    if (!s["required"].is_array()) doc.fail(ptr + "/required", "expected a list of property names");
    for (size_t i = 0; i < s["required"].size(); ++i) {
      const auto& r = s["required"][i];
      if (!r.is_string()) doc.fail(fmt::format("{}/required/{}", ptr, i), "expected a string");
      if (!s.contains("properties") || !s["properties"].contains(r.get<std::string>()))
        doc.fail(fmt::format("{}/required/{}", ptr, i), fmt::format("'{}' is not a declared property", r.get<std::string>()));
    }
  }
  if (s.contains("enum") && (!s["enum"].is_array() || s["enum"].empty())) doc.fail(ptr + "/enum", "expected a non-empty list");
  if (s.contains("items") && !s["items"].is_object() && !s["items"].is_boolean()) doc.fail(ptr + "/items", "expected a schema");
  if (s.contains("items") && s["items"].is_object()) check_schema(doc, s["items"], ptr + "/items", false);
}

std::vector<std::string> query_slots(const Document& doc, const std::string& text, const std::string& ptr) {
  std::vector<std::string> slots;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '}') doc.fail(ptr, "unbalanced '}' in query template");
    if (text[i] != '{') continue;
    const size_t end = text.find('}', i + 1);
    if (end == std::string::npos) doc.fail(ptr, "unclosed '{' in query template");
    std::string slot = text.substr(i + 1, end - i - 1);
    if (slot.empty() || slot.find('{') != std::string::npos) doc.fail(ptr, "empty or nested slot in query template");
    if (std::find(slots.begin(), slots.end(), slot) == slots.end()) slots.push_back(slot);
    i = end;
  }
  return slots;
}

Tool load_tool(const Document& doc, const ojson& t, const std::string& ptr, const std::string& server) {
  check_keys(doc, t, ptr, kToolKeys);
  Tool tool;
  tool.server = server;
  tool.name = req_string(doc, t, ptr, "name");
  if (tool.name.size() > 128 || tool.name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != std::string::npos)
    doc.fail(ptr + "/name", "tool names must be 1-128 characters of [A-Za-z0-9_.-]");
  tool.title = opt_string(doc, t, ptr, "title");
  tool.description = opt_string(doc, t, ptr, "description");
  if (!t.contains("inputSchema")) doc.fail(ptr, "missing required key 'inputSchema'");
  check_schema(doc, t["inputSchema"], ptr + "/inputSchema", true);
  tool.input_schema = t["inputSchema"];
  if (t.contains("outputSchema") && !t["outputSchema"].is_null()) {
    check_schema(doc, t["outputSchema"], ptr + "/outputSchema", true);
    tool.output_schema = t["outputSchema"];
  }
  if (tool.input_schema.contains("properties"))
    for (auto it = tool.input_schema["properties"].begin(); it != tool.input_schema["properties"].end(); ++it)
      tool.properties.push_back(it.key());
  if (tool.input_schema.contains("required"))
    for (const auto& r : tool.input_schema["required"]) tool.required_args.push_back(r.get<std::string>());
  const ojson ann = t.contains("annotations") ? t["annotations"] : ojson::object();
  if (t.contains("annotations")) check_keys(doc, ann, ptr + "/annotations", kAnnotationKeys);
  tool.read_only = annotation(doc, ann, ptr + "/annotations", "readOnlyHint", false);
  tool.destructive = annotation(doc, ann, ptr + "/annotations", "destructiveHint", true);
  tool.idempotent = annotation(doc, ann, ptr + "/annotations", "idempotentHint", false);
  tool.open_world = annotation(doc, ann, ptr + "/annotations", "openWorldHint", true);

  const std::string xptr = ptr + "/x-mcip";
  const ojson x = t.contains("x-mcip") ? t["x-mcip"] : ojson::object();
  check_keys(doc, x, xptr, kXmcipKeys);
  const std::string priv = x.contains("privilege") ? x["privilege"].is_string() ? x["privilege"].get<std::string>() : "?"
                                                   : (tool.read_only ? "read" : "write");
  if (priv == "read") tool.privilege = Privilege::Read;
  else if (priv == "write") tool.privilege = Privilege::Write;
  else if (priv == "admin") tool.privilege = Privilege::Admin;
  else doc.fail(xptr + "/privilege", "must be one of read, write, admin");
  if (x.contains("requires") && !x["requires"].is_null()) {
    if (!x["requires"].is_array()) doc.fail(xptr + "/requires", "expected a list of tool names");
    for (size_t i = 0; i < x["requires"].size(); ++i) {
      if (!x["requires"][i].is_string()) doc.fail(fmt::format("{}/requires/{}", xptr, i), "expected a tool name");
      tool.requires.push_back(x["requires"][i].get<std::string>());
    }
  }
  if (x.contains("queries") && !x["queries"].is_null()) {
    if (!x["queries"].is_array()) doc.fail(xptr + "/queries", "expected a list of request templates");
    for (size_t i = 0; i < x["queries"].size(); ++i) {
      const std::string qptr = fmt::format("{}/queries/{}", xptr, i);
      if (!x["queries"][i].is_string() || x["queries"][i].get_ref<const std::string&>().empty()) doc.fail(qptr, "expected a non-empty string");
      Query q;
      q.text = x["queries"][i].get<std::string>();
      q.slots = query_slots(doc, q.text, qptr);
      for (const auto& s : q.slots)
        if (std::find(tool.properties.begin(), tool.properties.end(), s) == tool.properties.end())
          doc.fail(qptr, fmt::format("slot '{{{}}}' is not a property of inputSchema", s));
      tool.queries.push_back(std::move(q));
    }
  }
  if (x.contains("derived") && !x["derived"].is_null() && !x["derived"].is_array()) doc.fail(xptr + "/derived", "expected a list");
  tool.mcp = t;
  tool.mcp.erase("x-mcip");
  tool.compile();
  return tool;
}

}  // namespace

const char* privilege_name(Privilege p) {
  switch (p) {
    case Privilege::Read: return "read";
    case Privilege::Write: return "write";
    case Privilege::Admin: return "admin";
  }
  return "read";
}

void Tool::compile() {
  mcp_json = mcp.dump();
  ojson def = ojson::object();
  def["name"] = name;
  def["description"] = description;
  ojson params = ojson::object();
  params["type"] = "object";
  params["properties"] = input_schema.contains("properties") ? input_schema["properties"] : ojson::object();
  params["required"] = input_schema.contains("required") ? input_schema["required"] : ojson::array();
  def["parameters"] = std::move(params);
  glaive_def = def.dump(4);
  glaive_def_escaped.clear();
  append_json_escaped(glaive_def_escaped, glaive_def);
  glaive_def_normalized = normalize_text(glaive_def);
}

const Tool* Server::find(const std::string& tool) const {
  for (const auto& t : tools)
    if (t.name == tool) return &t;
  return nullptr;
}

void Catalog::add(const Document& doc, const std::string& file_hash) {
  const ojson& root = doc.root();
  check_keys(doc, root, "", kTopKeys);
  if (!root.contains("schema_version") || root["schema_version"] != 1) doc.fail("/schema_version", "must be 1");
  CatalogFileInfo info;
  info.path = doc.origin();
  info.hash = file_hash;
  info.id = req_string(doc, root, "", "id");
  info.source = req_string(doc, root, "", "source");
  if (info.source != "builtin" && info.source != "harvested") doc.fail("/source", "must be builtin or harvested");
  for (const auto& f : files_)
    if (f.id == info.id) doc.fail("/id", fmt::format("catalog id '{}' already loaded from {}", info.id, f.path));
  if (root.contains("harvest") && !root["harvest"].is_object()) doc.fail("/harvest", "expected a mapping");
  if (!root.contains("servers") || !root["servers"].is_array() || root["servers"].empty())
    doc.fail("/servers", "expected a non-empty list of servers");
  for (size_t si = 0; si < root["servers"].size(); ++si) {
    const std::string sptr = fmt::format("/servers/{}", si);
    const ojson& s = root["servers"][si];
    check_keys(doc, s, sptr, kServerKeys);
    Server server;
    server.catalog_id = info.id;
    server.source = info.source;
    server.name = req_string(doc, s, sptr, "name");
    server.version = req_string(doc, s, sptr, "version");
    server.title = opt_string(doc, s, sptr, "title");
    server.domain = req_string(doc, s, sptr, "domain");
    server.instructions = opt_string(doc, s, sptr, "instructions");
    for (const auto& other : servers_)
      if (other.name == server.name)
        doc.fail(sptr + "/name", fmt::format("server '{}' is also defined in catalog '{}'", server.name, other.catalog_id));
    if (!s.contains("tools") || !s["tools"].is_array() || s["tools"].empty()) doc.fail(sptr + "/tools", "expected a non-empty list of tools");
    for (size_t ti = 0; ti < s["tools"].size(); ++ti) {
      const std::string tptr = fmt::format("{}/tools/{}", sptr, ti);
      Tool tool = load_tool(doc, s["tools"][ti], tptr, server.name);
      if (server.find(tool.name)) doc.fail(tptr + "/name", fmt::format("duplicate tool '{}' in server '{}'", tool.name, server.name));
      server.tools.push_back(std::move(tool));
    }
    for (size_t ti = 0; ti < server.tools.size(); ++ti)
      for (size_t ri = 0; ri < server.tools[ti].requires.size(); ++ri) {
        const auto& r = server.tools[ti].requires[ri];
        const std::string rptr = fmt::format("{}/tools/{}/x-mcip/requires/{}", sptr, ti, ri);
        if (r == server.tools[ti].name) doc.fail(rptr, "a tool cannot require itself");
        if (!server.find(r)) doc.fail(rptr, fmt::format("'{}' is not a tool of server '{}'", r, server.name));
      }
    // Prerequisite cycles would make plans impossible to order.
    std::function<void(const Tool&, std::vector<std::string>&)> walk = [&](const Tool& t, std::vector<std::string>& stack) {
      if (std::find(stack.begin(), stack.end(), t.name) != stack.end())
        doc.fail(sptr + "/tools", fmt::format("prerequisite cycle through '{}'", t.name));
      stack.push_back(t.name);
      for (const auto& r : t.requires) walk(*server.find(r), stack);
      stack.pop_back();
    };
    for (const auto& t : server.tools) {
      std::vector<std::string> stack;
      walk(t, stack);
    }
    info.tools += server.tools.size();
    ++info.servers;
    servers_.push_back(std::move(server));
  }
  files_.push_back(std::move(info));
}

void Catalog::finish() {
  if (servers_.empty()) throw InputError("", 0, "catalogs", "no catalog files were loaded");
}

Catalog Catalog::load(const std::vector<std::string>& files) {
  Catalog c;
  for (const auto& f : files) {
    const std::string text = read_file(f);
    c.add(Document::parse(text, f), hash_hex(text));
  }
  c.finish();
  return c;
}

const Server* Catalog::server(const std::string& name) const {
  for (const auto& s : servers_)
    if (s.name == name) return &s;
  return nullptr;
}

size_t Catalog::tool_count() const {
  size_t n = 0;
  for (const auto& s : servers_) n += s.tools.size();
  return n;
}

std::vector<std::string> Catalog::property_names() const {
  std::set<std::string> names;
  std::function<void(const ojson&)> walk = [&](const ojson& s) {
    if (!s.is_object()) return;
    if (s.contains("properties") && s["properties"].is_object())
      for (auto it = s["properties"].begin(); it != s["properties"].end(); ++it) {
        names.insert(it.key());
        walk(it.value());
      }
    if (s.contains("items")) walk(s["items"]);
  };
  for (const auto& s : servers_)
    for (const auto& t : s.tools) {
      walk(t.input_schema);
      walk(t.output_schema);
    }
  return {names.begin(), names.end()};
}

std::vector<std::string> expand_catalog_paths(const std::vector<std::string>& entries, const std::string& origin) {
  std::vector<std::string> out;
  for (const auto& e : entries) {
    std::vector<std::string> matched;
    const bool glob = e.find_first_of("*?[") != std::string::npos;
    if (!glob && fs::is_directory(e)) {
      for (const auto& de : fs::directory_iterator(e)) {
        const auto ext = de.path().extension().string();
        if (de.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) matched.push_back(de.path().string());
      }
    } else if (!glob) {
      if (!fs::is_regular_file(e)) throw InputError(origin, 0, "catalogs", fmt::format("catalog file '{}' does not exist", e));
      matched.push_back(e);
    } else {
      const fs::path p(e);
      const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
      if (fs::is_directory(dir))
        for (const auto& de : fs::directory_iterator(dir))
          if (de.is_regular_file() && fnmatch(p.filename().c_str(), de.path().filename().c_str(), 0) == 0)
            matched.push_back(de.path().string());
    }
    std::sort(matched.begin(), matched.end());
    for (auto& m : matched)
      if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(std::move(m));
  }
  return out;
}

}  // namespace mcip::synth
