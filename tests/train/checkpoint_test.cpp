// HF-layout checkpoints: round trips (llama/qwen2, sharded or not, fp32/bf16) and bad input.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/test_support.h"
#include "mcip/atomic_file.h"
#include "mcip/checkpoint.h"
#include "mcip/error.h"
#include "mcip/testing/random_checkpoint.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace mcip::train;
using mcip::train::testing::Family;
using mcip::train::testing::TinySpec;
using mcip::train::testing::write_random_checkpoint;

namespace {

void expect_identical(Decoder& a, Decoder& b) {
  auto ta = a.named_tensors(), tb = b.named_tensors();
  ASSERT_EQ(ta.size(), tb.size());
  for (std::size_t i = 0; i < ta.size(); ++i) {
    EXPECT_EQ(ta[i].first, tb[i].first);
    EXPECT_EQ(ta[i].second->scalar_type(), tb[i].second->scalar_type()) << ta[i].first;
    EXPECT_TRUE(at::equal(*ta[i].second, *tb[i].second)) << ta[i].first;
  }
}

// Expects load_checkpoint to fail with an InputError naming `file_part` and `field`.
void expect_load_error(const fs::path& dir, const std::string& file_part, const std::string& field) {
  try {
    load_checkpoint(dir);
    FAIL() << "loaded " << dir;
  } catch (const mcip::InputError& e) {
    EXPECT_NE(e.file().find(file_part), std::string::npos) << e.what();
    EXPECT_EQ(e.field(), field) << e.what();
  }
}

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(mcip::read_file(p)); }
void write_json(const fs::path& p, const nlohmann::json& j) { std::ofstream(p) << j.dump(2); }

}  // namespace

TEST(Checkpoint, LoadSaveLoadIsIdentical) {
  struct Case {
    Family family;
    bool tied;
    std::int64_t labels;
    std::uint64_t shard;
    std::optional<at::ScalarType> dtype;
  };
  for (const Case& c : {Case{Family::Llama, false, 0, 0, std::nullopt}, Case{Family::Llama, true, 11, 20000, std::nullopt},
                        Case{Family::Qwen2, true, 11, 0, at::kBFloat16}, Case{Family::Qwen2, false, 0, 30000, at::kHalf},
                        Case{Family::Mistral, false, 11, 0, std::nullopt}}) {
    TinySpec s;
    s.family = c.family;
    s.tie_word_embeddings = c.tied;
    s.num_labels = c.labels;
    fs::path d1 = mcip::train::test::temp_dir("rt1"), d2 = mcip::train::test::temp_dir("rt2");
    SaveOptions so;
    so.max_shard_bytes = c.shard;
    so.dtype = c.dtype;
    write_random_checkpoint(d1, s, 31, so);
    EXPECT_EQ(fs::exists(d1 / "model.safetensors.index.json"), c.shard > 0);
    if (c.shard > 0) {
      auto index = read_json(d1 / "model.safetensors.index.json");
      EXPECT_TRUE(index["metadata"]["total_size"].is_number());
      EXPECT_TRUE(fs::exists(d1 / "model-00001-of-00003.safetensors") || fs::exists(d1 / "model-00001-of-00002.safetensors") ||
                  fs::exists(d1 / "model-00001-of-00004.safetensors"));
    }
    // CPU LibTorch has no fp16 matmul: F16 checkpoints are computed in fp32.
    const at::ScalarType load_type = c.dtype == at::kHalf ? at::kFloat : c.dtype.value_or(at::kFloat);
    LoadOptions lo;
    lo.dtype = load_type;
    Decoder a = load_checkpoint(d1, lo);
    EXPECT_EQ(a.config().model_type, read_json(d1 / "config.json")["model_type"]);
    save_checkpoint(a, d2, SaveOptions{c.dtype, c.shard, nullptr});
    Decoder b = load_checkpoint(d2, lo);
    expect_identical(a, b);
    EXPECT_EQ(read_json(d1 / "config.json"), read_json(d2 / "config.json"));
    // Forward works on what was loaded.
    at::NoGradGuard g;
    Batch batch{mcip::train::test::random_ids(1, 5, 96, 2), {}, {}, {}};
    EXPECT_TRUE(at::isfinite(b.next_token_logits(batch)).all().item<bool>());
  }
}

TEST(Checkpoint, SavedFilesAreWhatTransformersExpects) {
  TinySpec s;
  s.family = Family::Qwen2;
  s.num_labels = 11;
  fs::path d = mcip::train::test::temp_dir("names");
  write_random_checkpoint(d, s, 3);
  auto cfg = read_json(d / "config.json");
  EXPECT_EQ(cfg["architectures"][0], "Qwen2ForSequenceClassification");
  EXPECT_EQ(cfg["num_labels"], 11);
  EXPECT_EQ(cfg["id2label"].size(), 11u);
  EXPECT_EQ(cfg["pad_token_id"], 3);
  auto f = mcip::safetensors::File::open(d / "model.safetensors");
  EXPECT_EQ(f.tensor("model.layers.1.self_attn.q_proj.bias").shape, (std::vector<std::int64_t>{32}));
  EXPECT_EQ(f.tensor("model.layers.0.self_attn.k_proj.weight").shape, (std::vector<std::int64_t>{16, 32}));
  EXPECT_EQ(f.tensor("score.weight").shape, (std::vector<std::int64_t>{11, 32}));
  EXPECT_EQ(f.header().find("model.layers.0.self_attn.o_proj.bias"), nullptr);
  EXPECT_EQ(f.header().metadata.at("format"), "pt");
}

TEST(Checkpoint, FreshClassificationHeadOnACausalLm) {
  fs::path d = mcip::train::test::temp_dir("fresh");
  write_random_checkpoint(d, TinySpec{}, 4);
  LoadOptions lo;
  lo.num_labels = 11;
  Decoder m = load_checkpoint(d, lo);
  EXPECT_EQ(m.score_weight.sizes(), (at::IntArrayRef{11, 32}));
}

TEST(Checkpoint, BadCheckpointsAreRefusedNamingFileAndTensor) {
  TinySpec s;
  fs::path d = mcip::train::test::temp_dir("bad");
  SaveOptions sharded;
  sharded.max_shard_bytes = 20000;
  write_random_checkpoint(d, s, 5, sharded);
  auto index = read_json(d / "model.safetensors.index.json");
  const std::string shard2 = index["weight_map"]["model.norm.weight"];
  fs::rename(d / shard2, d / "moved");
  try {
    load_checkpoint(d);
    ADD_FAILURE() << "loaded with a missing shard";
  } catch (const mcip::InputError& e) {
    EXPECT_NE(e.file().find(shard2), std::string::npos) << e.what();
    EXPECT_EQ(index["weight_map"][e.field()], shard2) << e.what();  // a tensor that lives in that shard
  }
  fs::rename(d / "moved", d / shard2);

  // Shape mismatch against config.json.
  auto cfg = read_json(d / "config.json");
  auto cfg2 = cfg;
  cfg2["intermediate_size"] = 64;
  write_json(d / "config.json", cfg2);
  expect_load_error(d, ".safetensors", "model.layers.0.mlp.gate_proj.weight");
  cfg2 = cfg;
  cfg2["model_type"] = "gemma";
  write_json(d / "config.json", cfg2);
  expect_load_error(d, "config.json", "model_type");
  cfg2 = cfg;
  cfg2["num_hidden_layers"] = 1;  // the weights have a second layer nobody asked for
  write_json(d / "config.json", cfg2);
  expect_load_error(d, ".safetensors", "model.layers.1.input_layernorm.weight");
  cfg2 = cfg;
  cfg2["num_labels"] = 11;  // a causal LM ignores num_labels, as transformers does
  write_json(d / "config.json", cfg2);
  EXPECT_EQ(load_checkpoint(d).config().num_labels, 0);
  cfg2["architectures"] = {"LlamaForSequenceClassification"};  // a head the weights do not have
  write_json(d / "config.json", cfg2);
  expect_load_error(d, "", "score.weight");
  write_json(d / "config.json", cfg);
  EXPECT_NO_THROW(load_checkpoint(d));

  // A shard whose header lies about its size.
  fs::path single = mcip::train::test::temp_dir("bad-single");
  write_random_checkpoint(single, s, 6);
  fs::resize_file(single / "model.safetensors", fs::file_size(single / "model.safetensors") - 4);
  expect_load_error(single, "model.safetensors", "model.norm.weight");
  fs::remove(single / "model.safetensors");
  expect_load_error(single, "bad-single", "");
  fs::remove(single / "config.json");
  expect_load_error(single, "config.json", "");
}

namespace {

mcip::test::CommandResult run_cli(const std::string& args) {
  return mcip::test::run_command(mcip::test::bin("mcip-train") + " " + args);
}

}  // namespace

TEST(InspectCli, SummarisesGoodCheckpointsAndExitsTwoOnBadOnes) {
  TinySpec s;
  s.family = Family::Qwen2;
  s.num_labels = 11;
  fs::path d = mcip::train::test::temp_dir("cli-ckpt");
  write_random_checkpoint(d, s, 8);
  const auto ok = run_cli("inspect --model '" + d.string() + "' --dtype bfloat16");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("qwen2 (Qwen2ForSequenceClassification)"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("heads 4 (kv 2, head_dim 8)"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("classification labels 11"), std::string::npos) << ok.output;

  fs::resize_file(d / "model.safetensors", fs::file_size(d / "model.safetensors") + 3);
  const auto bad = run_cli("inspect --model '" + d.string() + "'");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("model.safetensors"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("trailing bytes"), std::string::npos) << bad.output;

  const auto missing = run_cli("inspect --model '" + (d / "nope").string() + "'");
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find("not found"), std::string::npos) << missing.output;
}
