#include <CLI/CLI.hpp>

#include <iostream>

#include "mcip/harvest.h"
#include "mcip/server_cli.h"

namespace mcip::mcp {

void add_server_options(CLI::App& command, ServerSpec& spec) {
  command.add_option("--server", spec.command,
                     "Server command line, split like a shell would (quotes, backslashes; no $VARs, no pipes)")
      ->required();
  command.add_option("--env", spec.env, "Set K=V in the server's environment (repeatable)")->type_name("K=V");
  command.add_option("--protocol-version", spec.protocol_version,
                     "MCP revision offered in initialize (2025-11-25, 2025-06-18, 2025-03-26, 2024-11-05)")
      ->capture_default_str();
  command.add_option("--client-capabilities", spec.client_capabilities,
                     "Client capabilities to declare, as a JSON object (default {}); e.g. "
                     "'{\"roots\":{},\"sampling\":{},\"elicitation\":{}}' to see tools gated on them")
      ->type_name("JSON");
  command.add_option("--timeout-ms", spec.timeout_ms, "Timeout of each protocol step")->capture_default_str();
  command.add_option("--max-line-bytes", spec.max_line_bytes, "Longest accepted stdout line")->capture_default_str();
  command.add_option("--kill-grace-ms", spec.kill_grace_ms,
                     "At shutdown: wait this long after closing stdin, then SIGTERM, then SIGKILL")
      ->capture_default_str();
}

CLI::App* add_harvest_command(CLI::App& app, HarvestOptions& options) {
  CLI::App* harvest = app.add_subcommand("harvest", "List a real MCP server's tools over stdio into a catalog file");
  add_server_options(*harvest, options.server);
  harvest->add_option("--out", options.out, "Catalog file to write (atomically)")->required();
  harvest->add_option("--id", options.id, "Catalog id (default: the file stem of --out)");
  harvest->add_option("--domain", options.domain, "Synthesizer domain of the server")->capture_default_str();
  harvest->add_option("--package-json", options.package_json,
                      "npm package.json to record (default: found above the server's script)");
  harvest->add_option("--curated", options.curated, "Curated query/privilege file to merge (curated-queries.yaml)");
  harvest->add_option("--skip", options.skip, "Do not list 'resources' or 'prompts' even if advertised");
  harvest->footer(
      "Exit codes: 0 ok, 1 server failure (message names the server and the protocol step), 2 bad usage.\n"
      "Example:\n  mcip-synth harvest --server \"node tools/mcp-servers/node_modules/@modelcontextprotocol/"
      "server-memory/dist/index.js\" \\\n      --env MEMORY_FILE_PATH=/tmp/memory.jsonl --domain knowledge "
      "--out data/catalogs/harvested-memory.json");
  return harvest;
}

}  // namespace mcip::mcp
