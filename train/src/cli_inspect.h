// `mcip-train inspect`: load a Hugging Face checkpoint directory with all validation and
// report what it holds, optionally scoring a prompt. The quickest way to check that a base
// model or an exported guardian is usable before a long run.
#pragma once
#include <string>

namespace CLI {
class App;
}

namespace mcip::train::cli {

struct InspectOptions {
  std::string model_dir;
  std::string dtype = "float32";  // float32 | bfloat16
  std::string device = "auto";
  std::string prompt;             // optional: print the top next tokens after BOS + prompt
  int top = 5;
};

// Registers the subcommand; `run_inspect` is called when it was chosen.
CLI::App* add_inspect_command(CLI::App& app, InspectOptions& options);
int run_inspect(const InspectOptions& options);

}  // namespace mcip::train::cli
