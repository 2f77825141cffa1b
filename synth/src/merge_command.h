// The `mcip-synth merge` subcommand: command-line wiring for merge_shards (mcip/synth/merge.h).
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace mcip::synth {

struct MergeOptions {
  std::string out;
  std::vector<std::string> shards;
};

CLI::App* add_merge_command(CLI::App& app, MergeOptions& options);
int run_merge(const MergeOptions& options, std::ostream& log);

}  // namespace mcip::synth
