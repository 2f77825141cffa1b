// Shared fixtures for the synth tests: a World over the mini catalogs in tests/synth/data.
#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "common/test_support.h"
#include "mcip/atomic_file.h"
#include "mcip/synth/catalog.h"
#include "mcip/synth/config.h"
#include "mcip/synth/dataset.h"
#include "mcip/synth/example.h"
#include "mcip/synth/simulator.h"
#include "mcip/taxonomy.h"

namespace mcip::synth::testing {

inline std::string data_path(const std::string& name) { return std::string(MCIP_SOURCE_DIR) + "/tests/synth/data/" + name; }

struct Fixture {
  taxonomy::Taxonomy tax = taxonomy::Taxonomy::embedded();
  std::unique_ptr<World> world;
  std::unique_ptr<PromptTemplate> prompt;
  std::unique_ptr<ExampleFactory> factory;
  Fixture() {
    SynthConfig cfg = load_config(data_path("test_config.yaml"));
    cfg.resolve_labels(tax, "test");
    Catalog cat = Catalog::load({data_path("mini_bank.yaml"), data_path("mini_notes.json")});
    world = std::make_unique<World>(std::move(cat), ValuePools::embedded(), Phrasing::embedded(), std::move(cfg));
    prompt = std::make_unique<PromptTemplate>(PromptTemplate::embedded(tax));
    factory = std::make_unique<ExampleFactory>(*world, tax, *prompt);
  }
};

using mcip::test::ScratchDir;

// Runs `mcip-synth <args>` with stdout and stderr in `log`; returns its exit code.
inline int run_synth(const std::string& args, const std::filesystem::path& log) {
  return mcip::test::run_logged(mcip::test::bin("mcip-synth") + " " + args, log);
}

// One in-process run of `config_file` into `out` (its count unless `count` is given).
inline RunSummary run_config(const std::string& config_file, const std::filesystem::path& out, int threads, std::uint64_t shard = 0,
                             std::uint64_t shards = 1, std::optional<std::uint64_t> count = std::nullopt) {
  RunOverrides o;
  o.config_file = config_file;
  o.threads = threads;
  o.count = count;
  o.shard_index = shard;
  o.shard_count = shards;
  return SynthRun(o).generate(out, nullptr);
}

inline const char* const kSplits[] = {"train", "validation", "test", "test_unseen_tools"};

// For runs of one config written to <dir>/t1 (one thread), <dir>/t2 (two threads) and
// <dir>/s0..s2 (three shards): every split file is the same bytes in t1 and t2, the shards' split
// files concatenate to t1's, and the two manifests are the same bytes.
inline void expect_same_bytes_across_threads_and_shards(const std::filesystem::path& dir) {
  using mcip::read_file;  // throws on a missing file, so two missing files never compare equal
  for (const char* split : kSplits) {
    const std::string file = std::string(split) + ".jsonl";
    const std::string one = read_file(dir / "t1" / file);
    EXPECT_EQ(one, read_file(dir / "t2" / file)) << file;
    std::string cat;
    for (int s = 0; s < 3; ++s) cat += read_file(dir / ("s" + std::to_string(s)) / file);
    EXPECT_EQ(one, cat) << file << " shards do not concatenate to the full run";
  }
  EXPECT_EQ(read_file(dir / "t1" / "manifest.json"), read_file(dir / "t2" / "manifest.json"));
}

}  // namespace mcip::synth::testing
