#include "tokenizer_setup.h"

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mcip/atomic_file.h"
#include "mcip/checkpoint.h"
#include "mcip/error.h"
#include "mcip/hash.h"
#include "mcip/model_config.h"
#include "mcip/trainer_data.h"

namespace mcip::train {
namespace fs = std::filesystem;

tokenizer::SentencePiece obtain_tokenizer(const TrainerConfig& c, Distributed& dist, std::ostream& log) {
  if (!c.tokenizer.model.empty()) return tokenizer::SentencePiece::load(c.tokenizer.model.string());
  if (!c.model.base.empty()) {
    const ModelConfig mc = ModelConfig::load(c.model.base / "config.json");
    if (auto sp = load_checkpoint_tokenizer(c.model.base, mc)) return std::move(*sp);
    throw InputError((c.model.base / "tokenizer.model").string(), 0, "tokenizer.model",
                     "the base checkpoint has no SentencePiece tokenizer.model: set tokenizer.model");
  }
  const fs::path dir = c.output_dir / "tokenizer", model = dir / "tokenizer.model", stamp = dir / "source.json";
  CorpusSpec corpus;
  if (c.tokenizer.corpus_all_renderings) {
    corpus = {{Rendering::Glaive, Rendering::JsonRpc, Rendering::Mci}, true};
  } else {
    corpus.renderings = {c.data.rendering};
    for (const PhaseConfig* p : {&c.pretrain, &c.finetune})
      corpus.guardian_pair = corpus.guardian_pair || (p->enabled && p->objective == Objective::Generate);
  }
  std::string texts;
  for (Rendering r : corpus.renderings) texts += to_string(r) + ",";
  const std::string source_key = hash_hex(fmt::format(
      "{}|{}|{}|{}|{}{}|{}|{}{}", hash_file_hex(split_path(c.data, "train").string()), c.tokenizer.vocab_size,
      c.tokenizer.train_sentences, c.seed, texts, corpus.guardian_pair ? "pair" : "", to_string(c.data.tool_view),
      c.data.max_result_chars, c.data.flow_checks ? "|checks" : ""));
  const bool fresh = fs::exists(model) && fs::exists(stamp) && read_file(stamp).find(source_key) != std::string::npos;
  if (!fresh && dist.is_main()) {
    fs::create_directories(dir);
    const auto lines = corpus_lines(c.data, "train", corpus, c.tokenizer.train_sentences, c.seed);
    std::string corpus_text;
    for (const auto& l : lines) corpus_text += l + "\n";
    write_file_atomic(dir / "corpus.txt", corpus_text);
    tokenizer::TrainOptions to;
    to.input_files = {(dir / "corpus.txt").string()};
    to.model_prefix = (dir / "tokenizer").string();
    to.vocab_size = static_cast<int>(c.tokenizer.vocab_size);
    to.num_threads = 1;  // deterministic merges whatever the machine
    log << fmt::format("[tokenizer] training SentencePiece BPE ({} pieces) on {} lines of the train split\n",
                       to.vocab_size, lines.size());
    tokenizer::SentencePiece::train(to);
    fs::remove(dir / "corpus.txt");
    write_file_atomic(stamp, nlohmann::json{{"source", source_key}}.dump() + "\n");
  }
  dist.barrier();
  return tokenizer::SentencePiece::load(model.string());
}

}  // namespace mcip::train
