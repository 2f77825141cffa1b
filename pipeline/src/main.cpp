#include <CLI/CLI.hpp>

#include <iostream>

#include "mcip/cli.h"
#include "mcip/pipeline.h"

int main(int argc, char** argv) {
  return mcip::run_main("mcip-pipeline", [&] {
    CLI::App app{"mcip-pipeline: the scheduled dataset-refresh job (harvest, synth, train, eval, export, publish)"};
    app.set_version_flag("--version", MCIP_VERSION);
    auto* tools = app.add_subcommand("tools", "Show which mcip binaries this pipeline would run");
    app.footer("The refresh job arrives with its issue; this build locates the component binaries.\n"
               "Exit codes: 0 ok, 1 run failure, 2 bad input.");
    if (int rc = mcip::parse_cli(app, argc, argv); rc >= 0) return rc;
    if (*tools) {
      for (const char* name : {"mcip-synth", "mcip-train", "mcip-guard"})
        std::cout << name << ": " << mcip::pipeline::find_tool(name).string() << "\n";
      return 0;
    }
    std::cout << app.help();
    return 2;
  });
}
