// Which SentencePiece tokenizer a training run uses, shared by the run and `mcip-train tokenize`.
#pragma once
#include <ostream>

#include "distributed.h"
#include "mcip/tokenizer.h"
#include "mcip/trainer_config.h"

namespace mcip::train {

// tokenizer.model: the configured file, the base checkpoint's, or one trained on the train split
// into <output_dir>/tokenizer/ (reused while the train split and tokenizer settings are unchanged).
tokenizer::SentencePiece obtain_tokenizer(const TrainerConfig& c, Distributed& dist, std::ostream& log);

}  // namespace mcip::train
