// `mcip-synth record`: drive real tools/call requests from benign episodes against a server
// that is safe to run locally and store the JSON-RPC exchanges as recorded traces
// (format: synth/mcp/README.md, "Recorded traces").
#pragma once
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "mcip/harvest.h"

namespace CLI {
class App;
}

namespace mcip::mcp {

struct RecordedCall {
  std::string tool;
  Json arguments;         // object
  bool progress = false;  // ask for notifications/progress (params._meta.progressToken)
};

struct Episode {
  std::string id;
  std::string query;                          // the user request the calls serve
  std::map<std::string, std::string> files;   // sandbox-relative path → content, created first
  std::vector<RecordedCall> calls;
};

struct EpisodeFile {
  std::string server;  // expected serverInfo.name
  std::vector<Episode> episodes;
};

// Parses and validates an episodes YAML file; InputError names file, line and field.
EpisodeFile load_episodes(const std::filesystem::path& file);

struct RecordOptions {
  ServerSpec server;
  std::filesystem::path episodes;
  std::filesystem::path out;
  // Give every episode a fresh temporary directory; "{sandbox}" in the server command, --env
  // values, file paths and string arguments is replaced by it, and in the recorded messages
  // the real path is written as kSandboxAlias so traces do not depend on the machine.
  bool sandbox = false;
};
inline constexpr const char* kSandboxAlias = "/sandbox";

// Records every episode (a fresh server per episode) and returns the traces document.
Json record_traces(const RecordOptions& options);

int run_record(const RecordOptions& options, std::ostream& log);
CLI::App* add_record_command(CLI::App& app, RecordOptions& options);

}  // namespace mcip::mcp
