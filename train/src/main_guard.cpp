#include <CLI/CLI.hpp>

#include <iostream>

#include "mcip/cli.h"
#include "mcip/train.h"

int main(int argc, char** argv) {
  return mcip::run_main("mcip-guard", [&] {
    CLI::App app{"mcip-guard: classify MCP interactions with a trained guardian and evaluate guardians"};
    app.set_version_flag("--version", MCIP_VERSION);
    auto* info = app.add_subcommand("info", "Print the LibTorch runtime this binary uses");
    app.footer("classify and eval arrive with the export issue; this build only reports its runtime.\n"
               "Exit codes: 0 ok, 1 run failure, 2 bad input.");
    if (int rc = mcip::parse_cli(app, argc, argv); rc >= 0) return rc;
    if (*info) {
      std::cout << mcip::train::runtime_summary() << "\n";
      return 0;
    }
    std::cout << app.help();
    return 2;
  });
}
