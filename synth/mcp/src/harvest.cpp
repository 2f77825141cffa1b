#include "mcip/harvest.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <regex>

#include "mcip/atomic_file.h"
#include "mcip/command_line.h"
#include "mcip/curated_queries.h"
#include "mcip/error.h"
#include "mcip/tool_profile.h"

namespace mcip::mcp {
namespace fs = std::filesystem;

ChildOptions child_options(const ServerSpec& spec) {
  ChildOptions child;
  child.argv = split_command_line(spec.command, "--server");
  static const std::regex kEnvKey("[A-Za-z_][A-Za-z0-9_]*");
  for (const auto& kv : spec.env) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || !std::regex_match(kv.substr(0, eq), kEnvKey))
      throw InputError("", 0, "--env", "expected K=V with a valid variable name, got '" + kv + "'");
    child.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (spec.kill_grace_ms < 0) throw InputError("", 0, "--kill-grace-ms", "must be >= 0");
  child.terminate_grace = std::chrono::milliseconds(spec.kill_grace_ms);
  return child;
}

ClientOptions client_options(const ServerSpec& spec) {
  const auto& supported = supported_protocol_versions();
  if (std::find(supported.begin(), supported.end(), spec.protocol_version) == supported.end()) {
    std::string list;
    for (const auto& v : supported) list += (list.empty() ? "" : ", ") + v;
    throw InputError("", 0, "--protocol-version", "'" + spec.protocol_version + "' is not one of " + list);
  }
  if (spec.timeout_ms <= 0) throw InputError("", 0, "--timeout-ms", "must be positive");
  if (spec.max_line_bytes < 1024) throw InputError("", 0, "--max-line-bytes", "must be at least 1024");
  ClientOptions client;
  if (!spec.client_capabilities.empty()) {
    try {
      client.capabilities = Json::parse(spec.client_capabilities);
    } catch (const Json::parse_error& e) {
      throw InputError("", 0, "--client-capabilities", std::string("invalid JSON: ") + e.what());
    }
    if (!client.capabilities.is_object())
      throw InputError("", 0, "--client-capabilities", "must be a JSON object, e.g. '{\"roots\":{}}'");
  }
  client.protocol_version = spec.protocol_version;
  client.step_timeout = std::chrono::milliseconds(spec.timeout_ms);
  client.max_line_bytes = spec.max_line_bytes;
  return client;
}

NpmPackage read_npm_package(const fs::path& package_json) {
  Json pkg;
  try {
    pkg = Json::parse(read_file(package_json));
  } catch (const Json::parse_error& e) {
    throw InputError(package_json.string(), 0, "", std::string("invalid JSON: ") + e.what());
  }
  if (!pkg.is_object() || !pkg.contains("name") || !pkg["name"].is_string() || !pkg.contains("version") ||
      !pkg["version"].is_string())
    throw InputError(package_json.string(), 0, "name/version", "package.json lacks a name or version string");
  return {pkg["name"].get<std::string>(), pkg["version"].get<std::string>(), package_json};
}

std::optional<NpmPackage> detect_npm_package(const std::vector<std::string>& argv) {
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::error_code ec;
    fs::path candidate = argv[i];
    if (i == 0 && candidate.filename() == candidate) continue;  // a bare program name looked up in PATH
    if (!fs::is_regular_file(candidate, ec)) continue;
    fs::path dir = fs::canonical(candidate, ec).parent_path();
    if (ec) continue;
    for (; !dir.empty(); dir = dir.parent_path()) {
      const fs::path pkg = dir / "package.json";
      if (fs::is_regular_file(pkg, ec)) {
        try {
          return read_npm_package(pkg);
        } catch (const InputError&) {
          // a workspace package.json without name/version: keep walking up
        }
      }
      if (dir == dir.root_path()) break;
    }
  }
  return std::nullopt;
}

namespace {

// Servers that declare tools.listChanged may register tools after initialization (for
// instance once they know the client's roots) and announce it with
// notifications/tools/list_changed. Re-list until a listing is followed by no such
// notification; a ping round trip flushes what the server queued before answering it.
std::vector<Json> list_tools_until_stable(McpClient& client, const InitializeResult& init) {
  const Json tools_capability = init.capabilities.value("tools", Json::object());
  const bool may_change = tools_capability.is_object() && tools_capability.value("listChanged", false) == true;
  constexpr int kMaxListings = 5;
  for (int listing = 1;; ++listing) {
    client.consume_list_changed("tools");
    std::vector<Json> tools = client.list_all("tools/list", "tools");
    if (!may_change) return tools;
    client.request("ping", Json::object(), "ping");
    if (!client.consume_list_changed("tools")) return tools;
    if (listing == kMaxListings)
      throw McpError(client.server_label(), "tools/list",
                     "the tool list kept changing (notifications/tools/list_changed after " +
                         std::to_string(kMaxListings) + " listings)");
  }
}

}  // namespace

Json harvest_catalog(const HarvestOptions& options) {
  const ChildOptions child = child_options(options.server);
  const ClientOptions client_opts = client_options(options.server);
  for (const auto& s : options.skip)
    if (s != "resources" && s != "prompts")
      throw InputError("", 0, "--skip", "expected 'resources' or 'prompts', got '" + s + "'");
  auto skipped = [&](const std::string& what) {
    return std::find(options.skip.begin(), options.skip.end(), what) != options.skip.end();
  };
  std::optional<CuratedQueries> curated;
  if (!options.curated.empty()) curated = CuratedQueries::load(options.curated);
  std::optional<NpmPackage> package;
  if (!options.package_json.empty())
    package = read_npm_package(options.package_json);
  else
    package = detect_npm_package(child.argv);

  McpClient client(child, client_opts);
  const InitializeResult& init = client.initialize();
  const std::vector<Json> tools = list_tools_until_stable(client, init);
  std::vector<Json> resources, prompts;
  const bool list_resources = client.has_capability("resources") && !skipped("resources");
  const bool list_prompts = client.has_capability("prompts") && !skipped("prompts");
  if (list_resources) resources = client.list_all("resources/list", "resources");
  if (list_prompts) prompts = client.list_all("prompts/list", "prompts");
  client.close();

  const std::string server_name = init.server_info["name"].get<std::string>();
  const std::string prefix = shared_name_prefix(tools);
  Json tool_array = Json::array();
  std::set<std::string> names;
  for (const auto& listed : tools) {
    if (!listed.is_object() || !listed.contains("name") || !listed["name"].is_string())
      throw McpError(client.server_label(), "tools/list", "a tool has no name string: " + listed.dump().substr(0, 200));
    const std::string name = listed["name"].get<std::string>();
    if (!names.insert(name).second)
      throw McpError(client.server_label(), "tools/list", "tool name '" + name + "' is listed twice");
    if (!listed.contains("inputSchema") || !listed["inputSchema"].is_object() ||
        listed["inputSchema"].value("type", Json()) != "object")
      throw McpError(client.server_label(), "tools/list", "tool '" + name + "' has no inputSchema of type object");
    Json tool = listed;  // exactly as listed; our additions live under x-mcip only
    tool["x-mcip"] = {{"privilege", infer_privilege(listed)},
                      {"queries", generate_queries(listed, prefix)},
                      {"derived", {"privilege", "queries"}}};
    tool_array.push_back(std::move(tool));
  }
  if (curated) curated->apply(server_name, tool_array);

  Json server = Json::object();
  server["name"] = server_name;
  server["version"] = init.server_info.value("version", "");
  if (init.server_info.contains("title")) server["title"] = init.server_info["title"];
  server["domain"] = options.domain;
  if (!init.instructions.empty()) server["instructions"] = init.instructions;
  server["tools"] = std::move(tool_array);
  if (list_resources) server["resources"] = resources;
  if (list_prompts) server["prompts"] = prompts;

  Json harvest = Json::object();
  harvest["command"] = options.server.command;
  if (package) {
    harvest["npm_package"] = package->name;
    harvest["npm_version"] = package->version;
  }
  harvest["protocol_version"] = init.protocol_version;
  if (!client_opts.capabilities.empty()) harvest["client_capabilities"] = client_opts.capabilities;
  harvest["harvested_with"] = std::string("mcip-synth ") + MCIP_VERSION;

  Json catalog = Json::object();
  catalog["schema_version"] = 1;
  catalog["id"] = options.id.empty() ? options.out.stem().string() : options.id;
  catalog["source"] = "harvested";
  catalog["harvest"] = std::move(harvest);
  catalog["servers"] = Json::array({std::move(server)});
  return catalog;
}

int run_harvest(const HarvestOptions& options, std::ostream& log) {
  if (options.out.empty()) throw InputError("", 0, "--out", "an output file is required");
  const fs::path parent = options.out.has_parent_path() ? options.out.parent_path() : fs::path(".");
  if (!fs::is_directory(parent))
    throw InputError(options.out.string(), 0, "--out", "directory " + parent.string() + " does not exist");
  if (fs::is_directory(options.out))
    throw InputError(options.out.string(), 0, "--out", "is a directory; give a file name");
  const Json catalog = harvest_catalog(options);
  write_file_atomic(options.out, catalog.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
  const Json& server = catalog["servers"][0];
  log << "harvested " << server["tools"].size() << " tools";
  if (server.contains("resources")) log << ", " << server["resources"].size() << " resources";
  if (server.contains("prompts")) log << ", " << server["prompts"].size() << " prompts";
  log << " from " << server["name"].get<std::string>() << " " << server["version"].get<std::string>()
      << " (protocol " << catalog["harvest"]["protocol_version"].get<std::string>() << ") into "
      << options.out.string() << "\n";
  return 0;
}

}  // namespace mcip::mcp
