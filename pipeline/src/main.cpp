#include <CLI/CLI.hpp>

#include <iostream>
#include <nlohmann/json.hpp>

#include "mcip/atomic_file.h"
#include "mcip/cli.h"
#include "mcip/error.h"
#include "mcip/pipeline.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  return mcip::run_main("mcip-pipeline", [&] {
    CLI::App app{"mcip-pipeline: the scheduled refresh job (harvest, synth, validate, tokenize, train, eval, export, publish)"};
    app.set_version_flag("--version", MCIP_VERSION);
    app.require_subcommand(0, 1);

    auto* refresh = app.add_subcommand("refresh", "Run the refresh job described by a config");
    std::string config;
    mcip::pipeline::RefreshOptions opt;
    std::string bin_dir;
    refresh->add_option("--config", config, "Refresh config (YAML)")->required();
    refresh->add_option("--force", opt.force, "Rerun STAGE even if cached (repeatable; 'all' for every stage)");
    refresh->add_option("--version", opt.version, "Release name (default: UTC time + content hash)");
    refresh->add_option("--bin-dir", bin_dir, "Directory of the mcip binaries ({bin}; default: this binary's)");

    auto* verify = app.add_subcommand("verify", "Re-hash a release's files against its release.json");
    std::string release;
    verify->add_option("RELEASE_DIR", release, "Release directory (e.g. data/releases/latest)")->required();

    auto* tools = app.add_subcommand("tools", "Show which mcip binaries the pipeline would run");
    app.footer(
        "Exit codes of refresh: 0 published or unchanged, 1 a stage or publish failed (latest untouched),\n"
        "2 bad config, 3 the regression gate rejected the new release, 75 another refresh holds the lock.");
    if (int rc = mcip::parse_cli(app, argc, argv); rc >= 0) return rc;

    if (*refresh) {
      auto cfg = mcip::pipeline::load_refresh_config(config);
      for (const auto& f : opt.force) {
        bool known = f == "all";
        for (const auto& s : cfg.stages) known = known || s.name == f;
        if (!known) throw mcip::InputError(config, 0, "--force", "no stage named '" + f + "'");
      }
      opt.bin_dir = bin_dir;
      return mcip::pipeline::refresh(cfg, opt);
    }
    if (*verify) {
      auto problems = mcip::pipeline::verify_release(fs::path(release));
      for (const auto& p : problems) std::cout << p << "\n";
      if (problems.empty()) std::cout << release << ": all files match release.json\n";
      return problems.empty() ? 0 : 1;
    }
    if (*tools) {
      for (const char* name : {"mcip-synth", "mcip-train", "mcip-guard"})
        std::cout << name << ": " << mcip::pipeline::find_tool(name).string() << "\n";
      return 0;
    }
    std::cout << app.help();
    return 2;
  });
}
