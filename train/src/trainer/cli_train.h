// `mcip-train CONFIG [key=value ...]`: the training entry point, kept out of main_train.cpp so
// the binary's other subcommands stay independent of it.
#pragma once
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace mcip::train::cli {

struct TrainCommand {
  std::string config;
  std::vector<std::string> overrides;
  bool dry_run = false;  // validate and print the effective configuration, train nothing
};

void add_train_arguments(CLI::App& app, TrainCommand& command);
bool train_requested(const TrainCommand& command);
int run_train_command(const TrainCommand& command);

}  // namespace mcip::train::cli
