#include <CLI/CLI.hpp>

#include <iostream>

#include <fmt/format.h>

#include "mcip/cli.h"
#include "mcip/tokenizer.h"
#include "mcip/train.h"
#include "cli_inspect.h"
#include "trainer/cli_tokenize.h"
#include "trainer/cli_train.h"

int main(int argc, char** argv) {
  return mcip::run_main("mcip-train", [&] {
    CLI::App app{"mcip-train: train MCP-safety guardian models (LoRA on Llama-family decoders) with LibTorch"};
    app.set_version_flag("--version", MCIP_VERSION);
    app.require_subcommand(0, 1);

    auto* info = app.add_subcommand("info", "Print the LibTorch runtime this binary uses");
    std::string device = "auto";
    info->add_option("--device", device, "Device to resolve: auto, cpu, cuda or cuda:N");

    auto* tok = app.add_subcommand("tokenizer", "Train a SentencePiece tokenizer (BPE, byte fallback) on text files");
    mcip::tokenizer::TrainOptions topt;
    tok->add_option("--input", topt.input_files, "Text files, one sentence per line")->required();
    tok->add_option("--vocab-size", topt.vocab_size, "Vocabulary size")->check(CLI::Range(8, 1 << 20));
    tok->add_option("--out", topt.model_prefix, "Output prefix: writes PREFIX.model and PREFIX.vocab")->required();
    tok->add_option("--model-type", topt.model_type, "bpe or unigram")->check(CLI::IsMember({"bpe", "unigram"}));
    tok->add_option("--threads", topt.num_threads, "Trainer threads");
    mcip::train::cli::InspectOptions inspect_options;
    auto* inspect = mcip::train::cli::add_inspect_command(app, inspect_options);
    mcip::train::cli::TokenizeCommand tokenize_command;
    auto* tokenize = mcip::train::cli::add_tokenize_command(app, tokenize_command);
    mcip::train::cli::TrainCommand train_command;
    mcip::train::cli::add_train_arguments(app, train_command);
    app.footer("Train: mcip-train configs/guardian-tiny-cpu.yaml [key=value ...] (see train/TRAINER.md).\n"
               "Exit codes: 0 ok, 1 run failure, 2 bad input.");
    if (int rc = mcip::parse_cli(app, argc, argv); rc >= 0) return rc;

    if (*info) {
      std::cout << mcip::train::runtime_summary() << "\n";
      std::cout << "device: " << mcip::train::resolve_device(device).str() << "\n";
      std::cout << "sentencepiece shim: " << mcip::tokenizer::shim_path() << "\n";
      return 0;
    }
    if (*inspect) return mcip::train::cli::run_inspect(inspect_options);
    if (*tokenize) return mcip::train::cli::run_tokenize_command(tokenize_command);
    if (*tok) {
      mcip::tokenizer::SentencePiece::train(topt);
      auto sp = mcip::tokenizer::SentencePiece::load(topt.model_prefix + ".model");
      std::cout << fmt::format("wrote {}.model ({} pieces, bos {} eos {} pad {} unk {}, hash {})\n", topt.model_prefix,
                               sp.vocab_size(), sp.bos_id(), sp.eos_id(), sp.pad_id(), sp.unk_id(),
                               sp.hash().substr(0, 12));
      return 0;
    }
    if (mcip::train::cli::train_requested(train_command)) return mcip::train::cli::run_train_command(train_command);
    std::cout << app.help();
    return 2;
  });
}
