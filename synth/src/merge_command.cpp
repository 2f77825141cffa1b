#include "merge_command.h"

#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "mcip/synth/merge.h"

namespace mcip::synth {

CLI::App* add_merge_command(CLI::App& app, MergeOptions& options) {
  CLI::App* merge = app.add_subcommand("merge", "Merge the shard folders of a sharded run into the unsharded dataset");
  merge->add_option("--out", options.out, "Dataset folder to write (replaced atomically when complete)")->required();
  merge->add_option("shards", options.shards, "Shard folders written by --shard i/N, all N of them, in any order")
      ->required()
      ->expected(1, -1)
      ->type_name("SHARD_DIR");
  merge->footer(
      "The shards must come from one run (same generator, config, seed, count, taxonomy, catalogs and N); every split\n"
      "file is checked against its shard's manifest (size, records, XXH128). The result is byte-identical to the\n"
      "unsharded run, manifest.json and README.md included.\n"
      "Exit codes: 0 ok, 1 I/O failure, 2 bad input (missing/duplicate shard, shards of different runs, damaged file).\n"
      "Example:\n  for i in 0 1 2; do mcip-synth --config synth.yaml --shard $i/3 --out shards/shard-$i & done; wait\n"
      "  mcip-synth merge --out data/runs/full shards/shard-*");
  return merge;
}

int run_merge(const MergeOptions& options, std::ostream& log) {
  std::vector<std::filesystem::path> dirs(options.shards.begin(), options.shards.end());
  const MergeSummary s = merge_shards(dirs, options.out, &log);
  log << fmt::format("mcip-synth merge: wrote {} examples ({:.1f} MB) from {} shards to {} in {:.1f} s\n", s.records,
                     static_cast<double>(s.bytes) / 1e6, s.shards, options.out, s.seconds);
  return 0;
}

}  // namespace mcip::synth
