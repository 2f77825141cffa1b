// Command-line options shared by every subcommand that talks to an MCP server.
#pragma once
#include "mcip/harvest.h"

namespace CLI {
class App;
}

namespace mcip::mcp {

// --server, --env, --protocol-version, --timeout-ms, --max-line-bytes, --kill-grace-ms.
void add_server_options(CLI::App& command, ServerSpec& spec);

}  // namespace mcip::mcp
