#include <CLI/CLI.hpp>

#include "mcip/record.h"
#include "mcip/server_cli.h"

namespace mcip::mcp {

CLI::App* add_record_command(CLI::App& app, RecordOptions& options) {
  CLI::App* record = app.add_subcommand(
      "record", "Run benign episodes of real tools/call requests against a local MCP server; store the exchanges");
  add_server_options(*record, options.server);
  record->add_option("--episodes", options.episodes, "Episodes YAML (tool calls to make)")->required();
  record->add_option("--out", options.out, "Recorded traces JSON to write (atomically)")->required();
  record->add_flag("--sandbox", options.sandbox,
                   "Fresh temporary directory per episode; {sandbox} in the command, --env, files and arguments");
  record->footer(
      "Exit codes: 0 ok, 1 server failure (message names the server and the step), 2 bad usage or episodes.\n"
      "Example:\n  mcip-synth record --sandbox --server \"node tools/mcp-servers/node_modules/@modelcontextprotocol/"
      "server-filesystem/dist/index.js {sandbox}\" \\\n      --episodes data/harvest/episodes/filesystem.yaml "
      "--out data/traces/recorded-filesystem.json");
  return record;
}

}  // namespace mcip::mcp
