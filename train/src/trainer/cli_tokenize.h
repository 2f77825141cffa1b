// `mcip-train tokenize CONFIG [key=value ...]`: the refresh job's tokenize stage. Obtains the
// tokenizer (trained on the train split into <output_dir>/tokenizer/ unless the config names one)
// and fills the token cache (data.cache_dir, default <output_dir>/cache) with every split the
// enabled phases will load, so a training run given
//   tokenizer.model=<output_dir>/tokenizer/tokenizer.model data.cache_dir=<output_dir>/cache
// tokenizes nothing. Writes <output_dir>/tokenize.json (tokenizer hash, per-phase split counts).
#pragma once
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace mcip::train::cli {

struct TokenizeCommand {
  std::string config;
  std::vector<std::string> overrides;
};

CLI::App* add_tokenize_command(CLI::App& app, TokenizeCommand& command);
int run_tokenize_command(const TokenizeCommand& command);

}  // namespace mcip::train::cli
