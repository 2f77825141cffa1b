// Hand-curated x-mcip fields for the most used real tools (data/catalogs/curated-queries.yaml),
// merged into harvested catalogs so that curated values win and `derived` lists only what
// is still inferred.
#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mcip/mcp_client.h"

namespace mcip::mcp {

struct CuratedTool {
  std::optional<std::string> privilege;  // read | write | admin
  std::vector<std::string> queries;      // empty: keep the generated ones
  int line = 0;                          // for error messages
};

class CuratedQueries {
 public:
  // Parses and validates the file; InputError names the file, line and field.
  static CuratedQueries load(const std::filesystem::path& file);

  // Applies the entries for `server_name` (serverInfo.name) to `tools` (each already holding
  // a derived x-mcip block). An entry naming a tool the server does not list, or a {slot}
  // that is not a property of the tool's inputSchema, is an InputError: the curated file
  // and the pinned servers must agree.
  void apply(const std::string& server_name, Json& tools) const;

  bool has_server(const std::string& server_name) const { return servers_.count(server_name) > 0; }

 private:
  std::filesystem::path file_;
  std::map<std::string, std::map<std::string, CuratedTool>> servers_;
};

}  // namespace mcip::mcp
