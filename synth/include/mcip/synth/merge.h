// Merging the shard folders of a sharded run (`mcip-synth --shard i/N`) into one dataset folder
// that is byte-identical to the unsharded run with the same config, seed and count: the split
// files concatenated in shard order, and the manifest and dataset card rebuilt from the shards'.
#pragma once
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <vector>

namespace mcip::synth {

struct MergeSummary {
  std::uint64_t shards = 0, records = 0, bytes = 0;
  double seconds = 0;
};

// Checks that the shard manifests describe one run (same generator, config, seed, count,
// taxonomy, catalogs, data files and shard count) and that shards 0..N-1 are each given exactly
// once, in any order; verifies every split file against its shard's manifest (size, record
// count, XXH128, complete last line); then writes `out` through a temporary sibling folder and a
// rename. Throws InputError naming the shard folder and the field on bad input; nothing is
// written then. `log` (optional) receives one line per shard.
MergeSummary merge_shards(const std::vector<std::filesystem::path>& shard_dirs, const std::filesystem::path& out,
                          std::ostream* log);

}  // namespace mcip::synth
