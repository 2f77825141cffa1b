// The trainer's data path: the synthesizer's JSONL records -> text segments of the chosen
// rendering -> token ids with truncation that keeps what matters -> length-bucketed batches.
//
// Record fields read (one JSON object per line, written by mcip-synth): label (MCIP-bench
// string, or a taxonomy id/letter) and the renderings at the top level: glaive ({system, chat}
// or a string), jsonrpc (array of {server, direction, message} or its text), mci (list of flow
// objects or a string), prompt and answer (the guardian pair). The same keys inside a
// `renderings` object (pair under `guardian`) are read too. Other fields are ignored.
//
// The text -> ids step (segments_for + encode_segments) is public so mcip-guard classifies
// exactly what the trainer saw.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mcip/trainer_config.h"

namespace mcip::tokenizer {
class SentencePiece;
}
namespace mcip::taxonomy {
class Taxonomy;
}

namespace mcip::train {

// How a piece of text may be shortened when the example is longer than max_length.
enum class CutPolicy {
  Keep,       // never cut (prompt template parts, the answer)
  CutTail,    // keep the head, drop the tail (the tool list: its first tools and preamble stay)
  CutMiddle,  // keep head (the request) and tail (the calls, results and final answer)
};

struct Segment {
  std::string text;
  CutPolicy policy = CutPolicy::CutMiddle;
  bool is_answer = false;  // generate objective: loss on these tokens only
};

// The classification input of one interaction in `rendering`, from the record's rendering value
// (a string, or the structured form). Throws InputError(origin, line, field) on a bad shape.
std::vector<Segment> segments_for(Rendering rendering, const nlohmann::json& value, const std::string& origin, int line,
                                  const TextView& view = {});
// The guardian prompt/answer pair (generate objective); the prompt's ###Chat part is cut first.
std::vector<Segment> guardian_segments(const std::string& prompt, const std::string& answer);

struct EncodeOptions {
  std::int64_t max_length = 512;
  std::int64_t keep_head_tokens = 96;
  bool add_eos = true;
};

struct EncodedExample {
  std::vector<std::int32_t> ids;
  std::int32_t label = -1;         // class index (position among the taxonomy's benchmark labels)
  std::int32_t answer_start = -1;  // first answer token (generate objective), else -1
  bool truncated = false;
};

// [BOS] segments... [EOS], shortened by each segment's policy to fit max_length. Deterministic.
EncodedExample encode_segments(const std::vector<Segment>& segments, const tokenizer::SentencePiece& sp,
                               const EncodeOptions& options);

struct TokenizedSplit {
  std::string name;
  std::filesystem::path file;
  std::vector<EncodedExample> examples;
  std::vector<std::int64_t> class_counts;  // per benchmark label
  std::int64_t truncated = 0;
  std::int64_t total_tokens = 0;
  bool from_cache = false;
};

// <data.dir>/<split>.jsonl
std::filesystem::path split_path(const DataConfig& data, const std::string& split);

// Reads, converts labels through the taxonomy, tokenizes in parallel (`threads`) and caches the
// result under data.cache_dir, keyed by the file's hash, the tokenizer's hash and every setting
// that changes the ids. Throws InputError for a missing file, a malformed line (file:line) or a
// label the taxonomy does not know.
TokenizedSplit load_split(const DataConfig& data, const std::string& split, Objective objective,
                          std::int64_t max_length, std::int64_t max_examples, const tokenizer::SentencePiece& sp,
                          const taxonomy::Taxonomy& taxonomy, std::int64_t threads);

// A copy holding the first `n` examples (0 or more than there are = all), its counts recomputed.
TokenizedSplit first_examples(const TokenizedSplit& split, std::int64_t n);

// Which texts of each record train a tokenizer.
struct CorpusSpec {
  std::vector<Rendering> renderings;  // as the model reads them (data.tool_view, max_result_chars applied)
  bool guardian_pair = false;         // the guardian prompt and answer (generate objective)
};
// `max_lines` lines (0 = all) sampled with `seed` from the texts `spec` names, one line per text
// line, drawn from the first records of the split that hold four times as many lines.
std::vector<std::string> corpus_lines(const DataConfig& data, const std::string& split, const CorpusSpec& spec,
                                      std::int64_t max_lines, std::uint64_t seed);

// One epoch's micro-batches as example indices: shuffled from (seed, epoch), sorted by length
// inside windows of `bucket_batches` global batches so padding stays small, then the batch
// order shuffled again. Each global batch holds batch_size * world examples (the last partial
// batch is dropped when there are at least as many examples as one global batch).
std::vector<std::vector<std::int64_t>> epoch_batches(const TokenizedSplit& split, std::int64_t global_batch,
                                                     std::int64_t bucket_batches, std::uint64_t seed,
                                                     std::int64_t epoch);

// Class weights (mean 1 over the classes present) for the configured weighting.
std::vector<double> class_weights(const std::vector<std::int64_t>& counts, ClassWeighting weighting);

}  // namespace mcip::train
