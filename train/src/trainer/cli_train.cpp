#include "cli_train.h"

#include <CLI/CLI.hpp>

#include <iostream>

#include "mcip/trainer.h"
#include "mcip/trainer_config.h"

namespace mcip::train::cli {

void add_train_arguments(CLI::App& app, TrainCommand& command) {
  app.add_option("config", command.config, "Training config (configs/*.yaml); keys documented in configs/README.md");
  app.add_option("overrides", command.overrides, "Dotted overrides, e.g. finetune.steps=50 data.dir=out/data");
  app.add_flag("--dry-run", command.dry_run, "Validate the config and print it with overrides applied; train nothing");
}

bool train_requested(const TrainCommand& command) { return !command.config.empty(); }

int run_train_command(const TrainCommand& command) {
  const TrainerConfig config = TrainerConfig::load(command.config, command.overrides);
  if (command.dry_run) {
    std::cout << config.effective.dump(2) << "\n";
    return 0;
  }
  try {
    run_training(config, std::cout);
  } catch (const TrainingInterrupted& e) {
    std::cout.flush();
    std::cerr << "mcip-train: " << e.what() << "\n";
    return kExitInterrupted;
  }
  return 0;
}

}  // namespace mcip::train::cli
