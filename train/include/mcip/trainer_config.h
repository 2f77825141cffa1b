// The trainer's configuration: one YAML file (configs/*.yaml, every key documented in
// configs/README.md) plus dotted `key=value` command-line overrides. Unknown keys, wrong
// types and out-of-range values are InputErrors naming the file, line and key.
//
// A run has up to two phases that share one schema: `pretrain` (causal LM on the corpus, all
// weights) and `finetune` (the guardian: LoRA adapters + score head, or full weights).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mcip/lora.h"

namespace mcip::train {

enum class Rendering { Glaive, JsonRpc, Mci };
// How Glaive tool definitions reach the model. Verbatim: the SYSTEM text as written. Signatures:
// one line per tool, `name(required, optional?): description`, the tools the conversation calls
// first, then the others; a tiny model's budget then holds the definitions that decide most labels
// (poisoned descriptions, look-alikes, admin twins) instead of pretty-printed JSON schema.
enum class ToolView { Verbatim, Signatures };
// How a rendering's value becomes text besides the rendering itself; the trainer, mcip-guard and
// guardian.json all carry it so a guardian reads its input exactly as it was trained.
struct TextView {
  ToolView tool_view = ToolView::Verbatim;  // glaive tool definitions
  std::int64_t max_result_chars = 0;        // mci: function results cut to this many bytes (0 = whole)
  bool flow_checks = false;                 // mci: call lines carry the FlowChecks tags
};
enum class Objective { LanguageModel, Classify, Generate };
enum class PhaseMode { Full, Lora };
enum class ClassWeighting { None, InverseFrequency, SqrtInverseFrequency };

std::string to_string(Rendering r);
std::string to_string(ToolView v);
std::string to_string(Objective o);

struct DataConfig {
  std::filesystem::path dir;        // synthesizer output: <split>.jsonl files (+ manifest.json)
  Rendering rendering = Rendering::Glaive;
  ToolView tool_view = ToolView::Verbatim;  // glaive only
  std::int64_t max_result_chars = 0;        // mci only: function results cut to this many bytes (0 = whole)
  bool flow_checks = false;                 // mci only: tag each call with what the flows before it show
  TextView text_view() const { return {tool_view, max_result_chars, flow_checks}; }
  std::int64_t max_length = 512;    // tokens per example after truncation (incl. BOS/EOS)
  // Tokens kept from the start of the conversation (the request) when its middle is cut.
  std::int64_t keep_head_tokens = 96;
  std::filesystem::path cache_dir;  // tokenization cache; empty = <output_dir>/cache
  std::int64_t tokenize_threads = 0;  // 0 = `threads`
  std::int64_t bucket_batches = 32;   // length bucketing: sort within windows of this many batches
  ClassWeighting class_weighting = ClassWeighting::None;
  std::int64_t max_train_examples = 0;  // 0 = all (smoke tests and quick looks)
  std::int64_t max_eval_examples = 0;   // per evaluation split; 0 = all
  std::vector<std::string> eval_splits{"validation", "test_unseen_tools"};
};

struct TokenizerConfig {
  std::filesystem::path model;   // existing SentencePiece .model; empty = base's or a trained one
  std::int64_t vocab_size = 2000;  // when training one on the corpus
  std::int64_t train_sentences = 20000;  // corpus lines sampled for tokenizer training
  // Corpus: the text the phases read (the configured rendering, plus the guardian pair when a
  // phase generates) or every rendering and the pair.
  bool corpus_all_renderings = false;
};

struct ArchitectureConfig {  // random initialisation of a Llama-style base (pretrain from scratch)
  std::int64_t hidden_size = 128, intermediate_size = 352, num_hidden_layers = 4;
  std::int64_t num_attention_heads = 4, num_key_value_heads = 2;
  std::int64_t max_position_embeddings = 1024;
  double rope_theta = 10000.0, rms_norm_eps = 1e-5;
  bool tie_word_embeddings = true;
};

struct ModelSection {
  std::filesystem::path base;  // Hugging Face checkpoint dir; empty = random init (needs pretrain)
  ArchitectureConfig architecture;
  std::string dtype = "float32";  // storage dtype of frozen base weights: float32 | bfloat16
};

struct OptimConfig {
  double lr = 1e-3, min_lr_ratio = 0.1, weight_decay = 0.0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  std::int64_t warmup_steps = 10;
  double grad_clip = 1.0;  // 0 = off
};

struct PhaseConfig {
  bool enabled = false;
  PhaseMode mode = PhaseMode::Lora;
  Objective objective = Objective::Classify;
  std::int64_t steps = 0;        // optimizer steps; 0 = derive from epochs
  double epochs = 1.0;
  std::int64_t batch_size = 8;   // examples per micro-batch per process
  std::int64_t grad_accum = 1;   // micro-batches per optimizer step
  std::int64_t max_length = 0;   // 0 = data.max_length
  OptimConfig optim;
  LoraConfig lora;
  std::int64_t log_every = 10;
  std::int64_t eval_every = 0;        // 0 = only at the end
  std::int64_t checkpoint_every = 0;  // 0 = only at the end
  std::int64_t keep_last = 2;
  std::string best_metric = "validation.macro_f1";  // or validation.loss, validation.risk_resistance, ...
  std::int64_t early_stopping_patience = 0;  // evaluations without improvement; 0 = off
  std::int64_t generate_max_new_tokens = 48;  // generate objective: decoding budget at evaluation
  std::int64_t max_eval_examples = -1;        // per split for this phase; -1 = data.max_eval_examples
  // The final evaluation's examples per split (the report, metrics.json); -1 = as the periodic
  // ones, 0 = all. Periodic evaluations on a subset keep eval_every cheap; the report stays whole.
  std::int64_t final_eval_examples = -1;
};

// First N records of an evaluation split: for the periodic evaluations, for the final one, and
// what to tokenize to serve both (0 = all).
std::int64_t periodic_eval_examples(const PhaseConfig& p, const DataConfig& d);
std::int64_t final_eval_examples(const PhaseConfig& p, const DataConfig& d);
std::int64_t eval_examples_to_load(const PhaseConfig& p, const DataConfig& d);

struct TrainerConfig {
  std::filesystem::path config_file;
  std::filesystem::path output_dir;
  std::uint64_t seed = 7;
  std::string device = "auto";
  std::int64_t threads = 0;  // 0 = hardware concurrency
  bool bf16_autocast = true;
  bool recompute = false;
  bool resume = true;        // continue from the newest complete checkpoint in output_dir
  DataConfig data;
  TokenizerConfig tokenizer;
  ModelSection model;
  PhaseConfig pretrain, finetune;
  nlohmann::json effective;  // the merged configuration, recorded next to checkpoints

  // Reads `path`, applies `overrides` ("a.b=value", YAML scalars/lists), validates.
  static TrainerConfig load(const std::filesystem::path& path, const std::vector<std::string>& overrides);
  static TrainerConfig parse(const std::string& yaml_text, const std::string& origin,
                             const std::vector<std::string>& overrides);
};

}  // namespace mcip::train
