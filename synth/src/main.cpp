// mcip-synth: synthesize, validate and inspect labelled MCP safety datasets; inspect the taxonomy.
// Subcommands (harvest, record) register themselves in `add_subcommands` below.
#include <CLI/CLI.hpp>

#include <iostream>

#include <fmt/format.h>

#include "mcip/cli.h"
#include "mcip/error.h"
#include "mcip/harvest.h"
#include "mcip/record.h"
#include "mcip/synth.h"
#include "mcip/synth/dataset.h"
#include "mcip/synth/realism.h"
#include "merge_command.h"

namespace {

// Later subcommands (harvest, record) are added here; each returns its exit code via `run`.
struct Subcommand {
  CLI::App* app;
  std::function<int()> run;
};

std::vector<Subcommand> add_subcommands(CLI::App& app) {
  auto harvest = std::make_shared<mcip::mcp::HarvestOptions>();
  auto record = std::make_shared<mcip::mcp::RecordOptions>();
  auto merge = std::make_shared<mcip::synth::MergeOptions>();
  return {{mcip::mcp::add_harvest_command(app, *harvest), [harvest] { return mcip::mcp::run_harvest(*harvest, std::cout); }},
          {mcip::mcp::add_record_command(app, *record), [record] { return mcip::mcp::run_record(*record, std::cout); }},
          {mcip::synth::add_merge_command(app, *merge), [merge] { return mcip::synth::run_merge(*merge, std::cerr); }}};
}

}  // namespace

int main(int argc, char** argv) {
  return mcip::run_main("mcip-synth", [&] {
    CLI::App app{"mcip-synth: synthesize labelled MCP safety data from the MCIP taxonomy"};
    app.set_version_flag("--version", MCIP_VERSION);
    std::string taxonomy_file, format = "table", check_file, config_file, out_dir, validate_dir, stats_dir, shard, realism_dir,
        traces_path;
    std::uint64_t count = 0, seed = 0;
    int threads = 0;
    auto* taxonomy = app.add_option("--taxonomy", taxonomy_file, "Print the taxonomy (the embedded copy, or FILE) and exit")
                         ->expected(0, 1)
                         ->type_name("[FILE]");
    app.add_option("--format", format, "Taxonomy output format: table, markdown, json or yaml")
        ->check(CLI::IsMember({"table", "markdown", "md", "json", "yaml"}));
    auto* check = app.add_option("--check", check_file, "Validate a taxonomy FILE; exit 0 if valid, 2 if not");
    check->excludes(taxonomy);
    auto* config = app.add_option("--config", config_file, "Synthesis config (YAML); defaults are embedded");
    auto* out = app.add_option("--out", out_dir, "Write a dataset into DIR (replaced atomically when complete)");
    auto* count_opt = app.add_option("--count", count, "Number of examples (overrides config)");
    auto* seed_opt = app.add_option("--seed", seed, "Random seed (overrides config)");
    auto* threads_opt = app.add_option("--threads", threads, "Worker threads, 0 = all cores (overrides config)");
    auto* shard_opt = app.add_option("--shard", shard, "Generate shard i of N (\"i/N\"); shards concatenate to the full dataset");
    auto* validate = app.add_option("--validate", validate_dir, "Re-check a dataset folder; exit 0 if valid, 2 if not");
    auto* stats = app.add_option("--stats", stats_dir, "Print the label x split table of a dataset folder");
    auto* realism = app.add_option("--realism", realism_dir,
                                   "Compare the result shapes of a dataset folder with recorded real traces (per-tool Jaccard)");
    auto* traces = app.add_option("--traces", traces_path, "Recorded traces file or folder for --realism (default: <data>/traces)");
    traces->needs(realism);
    realism->excludes(out)->excludes(validate)->excludes(stats)->excludes(taxonomy)->excludes(check);
    for (auto* o : {count_opt, seed_opt, threads_opt, shard_opt, config}) o->needs(out);
    validate->excludes(out)->excludes(stats)->excludes(taxonomy)->excludes(check);
    stats->excludes(out)->excludes(taxonomy)->excludes(check);
    out->excludes(taxonomy)->excludes(check);
    auto subcommands = add_subcommands(app);
    app.footer(
        "Exit codes: 0 ok, 1 run failure, 2 bad input (config, catalog, dataset).\n"
        "Examples:\n  mcip-synth --out data/runs/demo\n  mcip-synth --config configs/synth.yaml --out run --count 100000 --threads 2\n"
        "  mcip-synth --out part0 --shard 0/4  (and 1/4 .. 3/4 into part1 .. part3), then: mcip-synth merge --out full part0 part1 part2 part3\n"
        "  mcip-synth --validate data/runs/demo\n  mcip-synth --stats data/runs/demo\n  mcip-synth --realism data/runs/demo\n  mcip-synth --taxonomy --format markdown");
    if (int rc = mcip::parse_cli(app, argc, argv); rc >= 0) return rc;

    for (const auto& s : subcommands)
      if (s.app->parsed()) return s.run();
    if (*check) return mcip::synth::check_taxonomy(check_file, std::cout);
    if (*taxonomy) return mcip::synth::print_taxonomy(taxonomy_file, format, std::cout);
    if (*validate) {
      const std::size_t n = mcip::synth::validate_dataset(validate_dir, std::cout);
      if (n) {
        std::cerr << fmt::format("mcip-synth: {} problem(s) in {}\n", n, validate_dir);
        return int(mcip::kExitBadInput);
      }
      std::cout << fmt::format("{}: valid\n", validate_dir);
      return 0;
    }
    if (*realism) {
      const std::string from = *traces ? traces_path : mcip::synth::default_data_dir() + "/traces";
      mcip::synth::print_realism(mcip::synth::compare_realism(realism_dir, mcip::synth::find_trace_files(from)), std::cout);
      return 0;
    }
    if (*stats) {
      mcip::synth::print_stats(stats_dir, std::cout);
      return 0;
    }
    if (*out) {
      mcip::synth::RunOverrides o;
      o.config_file = config_file;
      if (*count_opt) o.count = count;
      if (*seed_opt) o.seed = seed;
      if (*threads_opt) {
        if (threads < 0) throw mcip::InputError("", 0, "--threads", "must be >= 0");
        o.threads = threads;
      }
      if (*shard_opt) std::tie(o.shard_index, o.shard_count) = mcip::synth::parse_shard(shard);
      mcip::synth::SynthRun run(o);
      const auto s = run.generate(out_dir, &std::cerr);
      std::cerr << fmt::format("mcip-synth: wrote {} examples ({:.1f} MB) to {} in {:.1f} s ({:.0f} examples/s){}\n", s.written,
                               static_cast<double>(s.bytes) / 1e6, out_dir, s.seconds, static_cast<double>(s.written) / s.seconds,
                               s.dropped ? fmt::format(", {} dropped as duplicates", s.dropped) : "");
      return 0;
    }
    std::cout << app.help();
    return 2;
  });
}
