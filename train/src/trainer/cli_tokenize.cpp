#include "cli_tokenize.h"

#include <CLI/CLI.hpp>

#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "distributed.h"
#include "mcip/atomic_file.h"
#include "mcip/taxonomy.h"
#include "mcip/trainer_config.h"
#include "mcip/trainer_data.h"
#include "tokenizer_setup.h"

namespace mcip::train::cli {

CLI::App* add_tokenize_command(CLI::App& app, TokenizeCommand& command) {
  CLI::App* cmd = app.add_subcommand("tokenize", "Train/load the tokenizer and fill the token cache for a training config");
  cmd->add_option("config", command.config, "Training config (configs/*.yaml)")->required();
  cmd->add_option("overrides", command.overrides, "Dotted overrides, as for training (data.dir=..., output_dir=...)");
  cmd->footer(
      "Then train with tokenizer.model=OUT/tokenizer/tokenizer.model data.cache_dir=OUT/cache (OUT = output_dir):\n"
      "the run loads every split from the cache. Exit codes: 0 ok, 1 failure, 2 bad input.");
  return cmd;
}

int run_tokenize_command(const TokenizeCommand& command) {
  const TrainerConfig c = TrainerConfig::load(command.config, command.overrides);
  const taxonomy::Taxonomy tax = taxonomy::Taxonomy::embedded();
  Distributed single;  // one process: the cache is a plain file tree
  const tokenizer::SentencePiece sp = obtain_tokenizer(c, single, std::cout);
  nlohmann::json splits = nlohmann::json::array();
  // The same (split, objective, length, limit) requests as run_phase's data section (phase.cpp),
  // so the run's cache lookups all hit (tests/train_tokenize checks that it writes nothing).
  for (const auto& [name, p] : {std::pair<const char*, const PhaseConfig*>{"pretrain", &c.pretrain}, {"finetune", &c.finetune}}) {
    if (!p->enabled) continue;
    const std::int64_t max_length = p->max_length > 0 ? p->max_length : c.data.max_length;
    std::vector<std::pair<std::string, std::int64_t>> wanted = {{"train", c.data.max_train_examples}};
    for (const auto& s : c.data.eval_splits)
      wanted.push_back({s, eval_examples_to_load(*p, c.data)});
    for (const auto& [split, limit] : wanted) {
      const TokenizedSplit t = load_split(c.data, split, p->objective, max_length, limit, sp, tax, c.data.tokenize_threads);
      std::cout << fmt::format("[tokenize] {} {}: {} examples, {} tokens, {} truncated to {}{}\n", name, split,
                               t.examples.size(), t.total_tokens, t.truncated, max_length, t.from_cache ? " (cached)" : "");
      splits.push_back({{"phase", name}, {"split", split}, {"objective", to_string(p->objective)}, {"max_length", max_length},
                        {"max_examples", limit}, {"examples", t.examples.size()}, {"tokens", t.total_tokens},
                        {"truncated", t.truncated}});
    }
  }
  // No paths or times: the same data and settings give the same bytes wherever they are written.
  const nlohmann::json summary = {{"tokenizer", {{"hash", sp.hash()}, {"vocab_size", sp.vocab_size()}}}, {"splits", splits}};
  write_file_atomic(c.output_dir / "tokenize.json", summary.dump(2) + "\n");
  std::cout << fmt::format("[tokenize] tokenizer {} ({} pieces); cache {}\n", sp.hash().substr(0, 12), sp.vocab_size(),
                           c.data.cache_dir.string());
  return 0;
}

}  // namespace mcip::train::cli
