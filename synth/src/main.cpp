#include <CLI/CLI.hpp>

#include <iostream>

#include "mcip/cli.h"
#include "mcip/harvest.h"
#include "mcip/record.h"
#include "mcip/synth.h"

int main(int argc, char** argv) {
  return mcip::run_main("mcip-synth", [&] {
    CLI::App app{"mcip-synth: synthesize labelled MCP safety data from the MCIP taxonomy"};
    app.set_version_flag("--version", MCIP_VERSION);
    std::string taxonomy_file, format = "table", check_file;
    auto* taxonomy = app.add_option("--taxonomy", taxonomy_file,
                                    "Print the taxonomy (the embedded copy, or FILE) and exit")
                         ->expected(0, 1)
                         ->type_name("[FILE]");
    app.add_option("--format", format, "Taxonomy output format: table, markdown, json or yaml")
        ->check(CLI::IsMember({"table", "markdown", "md", "json", "yaml"}));
    auto* check = app.add_option("--check", check_file, "Validate a taxonomy FILE; exit 0 if valid, 2 if not");
    check->excludes(taxonomy);
    app.footer(
        "Exit codes: 0 ok, 1 run failure, 2 bad input.\n"
        "Examples:\n  mcip-synth --taxonomy\n  mcip-synth --taxonomy my-taxonomy.yaml --format markdown\n"
        "  mcip-synth --check my-taxonomy.yaml");
    mcip::mcp::HarvestOptions harvest_options;
    auto* harvest = mcip::mcp::add_harvest_command(app, harvest_options);
    mcip::mcp::RecordOptions record_options;
    auto* record = mcip::mcp::add_record_command(app, record_options);
    if (int rc = mcip::parse_cli(app, argc, argv); rc >= 0) return rc;
    if (*harvest) return mcip::mcp::run_harvest(harvest_options, std::cout);
    if (*record) return mcip::mcp::run_record(record_options, std::cout);

    if (*check) return mcip::synth::check_taxonomy(check_file, std::cout);
    if (*taxonomy) return mcip::synth::print_taxonomy(taxonomy_file, format, std::cout);
    std::cout << app.help();
    return 2;
  });
}
