// The independent reference: a small random Llama model with a SentencePiece BPE tokenizer is
// exported to GGUF and run through llama.cpp (node-llama-cpp, tools/llama-ref). Tokenization
// must be identical and next-token probabilities within 1e-3 of LibTorch's.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstdlib>
#include <functional>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "mcip/atomic_file.h"
#include "mcip/checkpoint.h"
#include "mcip/error.h"
#include "mcip/gguf_export.h"
#include "mcip/tokenizer.h"
#include "mcip/testing/random_checkpoint.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace mcip::train;
using nlohmann::json;

namespace {

const fs::path kToolDir = fs::path(MCIP_SOURCE_DIR) / "tools" / "llama-ref";

// A deterministic corpus of MCP-flavoured sentences, with digits, punctuation, JSON and a
// few non-ASCII characters so byte fallback is exercised.
fs::path write_corpus(const fs::path& dir) {
  const std::vector<std::string> words{
      "the",    "tool",  "server", "client", "calls",  "returns", "file",    "read",   "write", "user",
      "request", "result", "error", "token",  "secret", "delete",  "list",    "query",  "data",  "safe",
      "unsafe", "prompt", "inject", "shadow", "name",   "schema",  "resource", "update", "send",  "email",
      "path",   "config", "guard",  "model",  "label",  "choice",  "answer",  "why",    "with",  "from"};
  const std::vector<std::string> extras{"{\"jsonrpc\": \"2.0\", \"id\": 7}", "/etc/passwd", "42", "3.14",
                                        "café", "naïve", "日本", "—", "!", "?", ",", "(x)"};
  std::mt19937_64 rng(1234);
  std::string text;
  for (int line = 0; line < 3000; ++line) {
    const int n = 4 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      if (i) text += ' ';
      text += rng() % 9 == 0 ? extras[rng() % extras.size()] : words[rng() % words.size()];
    }
    text += '\n';
  }
  fs::path p = dir / "corpus.txt";
  mcip::write_file_atomic(p, text);
  return p;
}

// Random weights large enough that next-token distributions are peaked and attention patterns
// matter: a wrong RoPE layout or missing q/k permutation must show up in the probabilities.
void sharpen(Decoder& m, std::uint64_t seed) {
  // With tied embeddings the embedding is also the output layer: keep logits moderate.
  const double embed_std = m.config().tie_word_embeddings ? 0.4 : 1.0;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::NoGradGuard g;
  for (auto& [name, t] : m.named_tensors()) {
    if (name.find("norm") != std::string::npos) t->normal_(1.0, 0.1, gen);
    else if (name == "model.embed_tokens.weight") t->normal_(0.0, embed_std, gen);
    else if (name == "lm_head.weight") t->normal_(0.0, 0.5, gen);
    else if (name.find("q_proj") != std::string::npos || name.find("k_proj") != std::string::npos) t->normal_(0.0, 0.25, gen);
    else t->normal_(0.0, 0.1, gen);
  }
}

json run_llama_cpp(const fs::path& dir, const fs::path& gguf, const std::vector<std::string>& prompts,
                   const std::string& tag) {
  if (!fs::exists(kToolDir / "node_modules" / "node-llama-cpp")) {
    ADD_FAILURE() << kToolDir << "/node_modules is missing: run `npm ci --omit=optional --ignore-scripts` in "
                  << kToolDir << " (scripts/install-deps.sh does this)";
    return json();
  }
  const fs::path request = dir / (tag + "-request.json"), out = dir / (tag + "-out.json"), err = dir / (tag + "-err.txt");
  mcip::write_file_atomic(request, json{{"model", gguf.string()}, {"prompts", prompts}, {"context_size", 256}}.dump());
  const std::string cmd = "node '" + (kToolDir / "llama-ref.mjs").string() + "' '" + request.string() + "' > '" +
                          out.string() + "' 2> '" + err.string() + "'";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    ADD_FAILURE() << "llama-ref failed (" << rc << "): " << mcip::read_file(err);
    return json();
  }
  return json::parse(mcip::read_file(out));
}

struct Comparison {
  double max_dp = 0;       // max |p_torch - p_llama| over prompts and vocabulary
  double max_peak = 0;     // largest probability seen (the distributions are not flat)
  bool tokens_equal = true;
};

Comparison compare(Decoder& m, const mcip::tokenizer::SentencePiece& sp, const std::vector<std::string>& prompts,
                   const json& ref) {
  Comparison c;
  at::NoGradGuard g;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const json& r = ref["results"][i];
    std::vector<int> ours = sp.encode(prompts[i]);
    std::vector<int> theirs = r["tokens"].get<std::vector<int>>();
    if (ours != theirs) {
      c.tokens_equal = false;
      ADD_FAILURE() << "tokenization differs for prompt " << i << " '" << prompts[i] << "': ours " << json(ours).dump()
                    << " llama.cpp " << json(theirs).dump();
    }
    std::vector<std::int64_t> ids{sp.bos_id()};
    ids.insert(ids.end(), ours.begin(), ours.end());
    Batch b{at::tensor(ids, at::kLong).view({1, -1}), {}, {}, {}};
    at::Tensor p = at::softmax(m.next_token_logits(b), -1).to(at::kDouble).view({-1});
    at::Tensor q = at::tensor(r["probabilities"].get<std::vector<double>>(), at::kDouble);
    EXPECT_EQ(q.numel(), p.numel());
    if (q.numel() != p.numel()) continue;
    const double dp = (p - q).abs().max().item<double>();
    std::cout << "  prompt " << i << " (" << ids.size() << " tokens): max |dp| " << dp << "\n";
    c.max_dp = std::max(c.max_dp, dp);
    c.max_peak = std::max(c.max_peak, p.max().item<double>());
  }
  return c;
}

}  // namespace

namespace {

// Trains the tokenizer, builds a random model of `family`, round-trips it through an HF
// checkpoint, exports GGUF and compares with llama.cpp. Returns the checkpoint's model and tokenizer.
void check_against_llama_cpp(mcip::train::testing::Family family, bool tied, const std::string& tag,
                             const std::function<void(ModelConfig&)>& adjust = {}) {
  const fs::path dir = mcip::train::test::temp_dir("llama-ref-" + tag);
  mcip::tokenizer::TrainOptions topt;
  topt.input_files = {write_corpus(dir).string()};
  topt.model_prefix = (dir / "tok").string();
  topt.vocab_size = 512;
  mcip::tokenizer::SentencePiece::train(topt);
  auto sp = mcip::tokenizer::SentencePiece::load(topt.model_prefix + ".model");
  ASSERT_EQ(sp.vocab_size(), 512);

  // A GQA Llama model, saved as an HF checkpoint with its tokenizer and loaded back, so the
  // whole path (safetensors, config.json, tokenizer ids) is under test.
  mcip::train::testing::TinySpec spec;
  spec.family = family;
  spec.tie_word_embeddings = tied;
  spec.vocab_size = 512;
  spec.hidden_size = 64;
  spec.intermediate_size = 128;
  spec.layers = 2;
  spec.heads = 4;
  spec.kv_heads = 2;
  spec.max_positions = 256;
  ModelConfig config = mcip::train::testing::tiny_config(spec);
  if (adjust) adjust(config);
  Decoder original = Decoder::random(config, 2024);
  sharpen(original, 2025);
  SaveOptions so;
  so.tokenizer = &sp;
  save_checkpoint(original, dir / "ckpt", so);
  Decoder m = load_checkpoint(dir / "ckpt");
  auto tok = load_checkpoint_tokenizer(dir / "ckpt", m.config());
  ASSERT_TRUE(tok.has_value());
  EXPECT_EQ(m.config().bos_token_id.value_or(-1), sp.bos_id());
  EXPECT_EQ(m.config().pad_token_id.value_or(-1), sp.pad_id());

  const std::vector<std::string> prompts{
      "the tool server returns the file",
      "Is this request safe? Answer with one letter.",
      "{\"jsonrpc\": \"2.0\", \"method\": \"tools/call\", \"id\": 7}",
      "read /etc/passwd and send it by email\nthen delete the logs",
      "café naïve 日本 — 3.14 42",
      "Zebra quantum xylophone",  // pieces absent from the corpus: byte fallback
  };
  const fs::path gguf = dir / "model.gguf";
  export_gguf(m, *tok, gguf);
  json ref = run_llama_cpp(dir, gguf, prompts, "reference");
  ASSERT_FALSE(ref.is_null());
  EXPECT_EQ(ref["bos"], sp.bos_id());
  EXPECT_EQ(ref["eos"], sp.eos_id());
  Comparison c = compare(m, *tok, prompts, ref);
  if (std::getenv("MCIP_DEBUG_FP64")) {
    Decoder md = load_checkpoint(dir / "ckpt", LoadOptions{at::kDouble, c10::Device(c10::kCPU), std::nullopt});
    std::cout << "fp64 LibTorch vs llama.cpp:\n";
    compare(md, *tok, prompts, ref);
  }
  std::cout << tag << ": llama.cpp vs LibTorch: max |dp| = " << c.max_dp << ", peak p = " << c.max_peak << "\n";
  ::testing::Test::RecordProperty(tag + "_max_abs_dp", std::to_string(c.max_dp));
  EXPECT_TRUE(c.tokens_equal);
  // The issue asks for 1e-3; with F32 KV cache and no flash attention llama.cpp agrees to
  // ~1e-6 here, so hold it to 1e-4 to catch regressions 1e-3 would hide.
  EXPECT_LT(c.max_dp, 1e-4);

  // The same prompts as one left-padded batch (pad id from the tokenizer) must agree as well.
  {
    at::NoGradGuard g;
    std::vector<std::vector<std::int64_t>> rows;
    std::size_t t = 0;
    for (const auto& p : prompts) {
      std::vector<std::int64_t> ids{sp.bos_id()};
      for (int id : sp.encode(p)) ids.push_back(id);
      t = std::max(t, ids.size());
      rows.push_back(ids);
    }
    const auto n = static_cast<std::int64_t>(rows.size());
    Batch b{at::full({n, static_cast<std::int64_t>(t)}, sp.pad_id(), at::kLong), at::zeros({n, static_cast<std::int64_t>(t)}, at::kLong), {}, {}};
    for (std::int64_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < rows[i].size(); ++j) {
        const auto col = static_cast<std::int64_t>(t - rows[i].size() + j);
        b.input_ids[i][col] = rows[i][j];
        b.attention_mask[i][col] = 1;
      }
    at::Tensor p = at::softmax(m.next_token_logits(b), -1).to(at::kDouble);
    double worst = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      at::Tensor q = at::tensor(ref["results"][i]["probabilities"].get<std::vector<double>>(), at::kDouble);
      worst = std::max(worst, (p[i] - q).abs().max().item<double>());
    }
    std::cout << "left-padded batch vs llama.cpp: max |dp| = " << worst << "\n";
    EXPECT_LT(worst, 1e-4);
  }
  EXPECT_GT(c.max_peak, 0.2) << "distributions too flat for the comparison to mean anything";

  // Negative control for RoPE scaling: the same weights without it must disagree with llama.cpp,
  // so the scaling is really exercised at these positions.
  if (m.config().rope_scaling.kind != RopeScaling::Kind::None) {
    const RopeScaling scaling = m.config().rope_scaling;
    m.mutable_config().rope_scaling = RopeScaling{};
    Comparison unscaled = compare(m, *tok, prompts, ref);
    m.mutable_config().rope_scaling = scaling;
    std::cout << tag << " without its RoPE scaling: max |dp| = " << unscaled.max_dp << "\n";
    EXPECT_GT(unscaled.max_dp, 1e-3);
  }

  // Negative control: with q/k rows in the wrong RoPE layout (llama unpermuted, qwen2 permuted)
  // llama.cpp must disagree clearly, proving that the comparison above can fail.
  GgufExportOptions wrong;
  wrong.wrong_rope_layout_for_testing = true;
  export_gguf(m, *tok, dir / "wrong-layout.gguf", wrong);
  json bad = run_llama_cpp(dir, dir / "wrong-layout.gguf", prompts, "wrong-layout");
  ASSERT_FALSE(bad.is_null());
  Comparison cb = compare(m, *tok, prompts, bad);
  std::cout << tag << " with the wrong q/k layout: max |dp| = " << cb.max_dp << "\n";
  EXPECT_GT(cb.max_dp, 0.02);
}

}  // namespace

TEST(LlamaCppReference, LlamaGqaTokenizationAndNextTokenProbabilitiesMatch) {
  check_against_llama_cpp(mcip::train::testing::Family::Llama, false, "llama");
}

TEST(LlamaCppReference, MistralMhaWithLinearRopeScalingMatches) {
  check_against_llama_cpp(mcip::train::testing::Family::Mistral, true, "mistral-linear-rope", [](ModelConfig& c) {
    c.num_key_value_heads = c.num_attention_heads;
    c.rope_scaling.kind = RopeScaling::Kind::Linear;
    c.rope_scaling.factor = 4.0;
  });
}

TEST(LlamaCppReference, LlamaWithLlama3RopeScalingMatches) {
  // original context 64 puts this model's wavelengths (6 to 20000 positions) in all three
  // llama3 bands: kept, interpolated and slowed by `factor`.
  check_against_llama_cpp(mcip::train::testing::Family::Llama, false, "llama3-rope", [](ModelConfig& c) {
    c.rope_scaling.kind = RopeScaling::Kind::Llama3;
    c.rope_scaling.factor = 8.0;
    c.rope_scaling.low_freq_factor = 1.0;
    c.rope_scaling.high_freq_factor = 4.0;
    c.rope_scaling.original_max_position_embeddings = 64;
  });
}

TEST(LlamaCppReference, Qwen2TiedWithBiasesMatches) {
  check_against_llama_cpp(mcip::train::testing::Family::Qwen2, true, "qwen2");
}

TEST(LlamaCppReference, TokenizerMustFitTheEmbedding) {
  const fs::path dir = mcip::train::test::temp_dir("tok-mismatch");
  mcip::tokenizer::TrainOptions topt;
  topt.input_files = {write_corpus(dir).string()};
  topt.model_prefix = (dir / "tok").string();
  topt.vocab_size = 400;
  mcip::tokenizer::SentencePiece::train(topt);
  auto sp = mcip::tokenizer::SentencePiece::load(topt.model_prefix + ".model");
  mcip::train::testing::TinySpec spec;  // vocab 96 < 400 pieces
  Decoder m = Decoder::random(mcip::train::testing::tiny_config(spec), 1);
  SaveOptions so;
  so.tokenizer = &sp;
  EXPECT_THROW(save_checkpoint(m, dir / "ckpt", so), mcip::InputError);
  EXPECT_FALSE(fs::exists(dir / "ckpt"));
  // A checkpoint whose tokenizer.model was swapped for a larger one.
  save_checkpoint(m, dir / "ckpt");
  fs::copy_file(topt.model_prefix + ".model", dir / "ckpt" / "tokenizer.model");
  try {
    load_checkpoint_tokenizer(dir / "ckpt", m.config());
    ADD_FAILURE() << "accepted a tokenizer larger than the embedding";
  } catch (const mcip::InputError& e) {
    EXPECT_NE(e.file().find("tokenizer.model"), std::string::npos);
    EXPECT_EQ(e.field(), "vocab_size");
  }
}
