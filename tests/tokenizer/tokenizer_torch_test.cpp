#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include "common/test_support.h"
#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/tokenizer.h"

namespace fs = std::filesystem;
using mcip::tokenizer::PieceKind;
using mcip::tokenizer::SentencePiece;
using mcip::tokenizer::TrainOptions;

namespace {

class TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = std::make_unique<mcip::test::ScratchDir>("tokenizer");
    dir_ = scratch_->path;
    // A small MCP-flavoured corpus; a fixed generator so the test is reproducible.
    std::mt19937 rng(7);
    const std::vector<std::string> words = {"tools/call", "transfer_funds", "amount", "user", "server", "read_file",
                                            "{\"jsonrpc\":\"2.0\"}", "calendar", "patient", "Choice: A", "Rationale:",
                                            "identity", "replay", "héllo", "数据", "token", "path", "/tmp/x"};
    std::ofstream out(dir_ / "corpus.txt");
    for (int i = 0; i < 3000; ++i) {
      for (int w = 0; w < 12; ++w) out << words[rng() % words.size()] << (w + 1 < 12 ? " " : "");
      out << "\n";
    }
  }
  static void TearDownTestSuite() { scratch_.reset(); }

  static TrainOptions options(const std::string& prefix) {
    TrainOptions o;
    o.input_files = {(dir_ / "corpus.txt").string()};
    o.model_prefix = (dir_ / prefix).string();
    o.vocab_size = 320;
    return o;
  }
  static std::unique_ptr<mcip::test::ScratchDir> scratch_;
  static fs::path dir_;
};
std::unique_ptr<mcip::test::ScratchDir> TokenizerTest::scratch_;
fs::path TokenizerTest::dir_;

}  // namespace

TEST_F(TokenizerTest, TrainsLoadsAndEncodesInATorchLinkedProcess) {
  // Touch LibTorch first so both worlds are live in this process.
  at::Tensor warm = at::ones({2, 2});
  ASSERT_EQ(warm.sum().item<float>(), 4.0f);

  SentencePiece::train(options("spm"));
  ASSERT_TRUE(fs::exists(dir_ / "spm.model"));
  ASSERT_TRUE(fs::exists(dir_ / "spm.vocab"));
  auto sp = SentencePiece::load((dir_ / "spm.model").string());
  EXPECT_EQ(sp.vocab_size(), 320);
  EXPECT_EQ(sp.unk_id(), 0);
  EXPECT_EQ(sp.bos_id(), 1);
  EXPECT_EQ(sp.eos_id(), 2);
  EXPECT_EQ(sp.pad_id(), 3);
  EXPECT_EQ(sp.kind(sp.bos_id()), PieceKind::Control);
  EXPECT_EQ(sp.kind(sp.unk_id()), PieceKind::Unknown);

  const std::string text = "tools/call transfer_funds amount 500 to 数据 héllo\nnew  line {\"a\": 1}";
  auto ids = sp.encode(text);
  ASSERT_FALSE(ids.empty());
  EXPECT_TRUE(sp.decode(ids) == text) << "lossless round trip expected, got: " << sp.decode(ids);
  // Unseen characters fall back to byte pieces instead of <unk>.
  auto emoji = sp.encode("🙂");
  for (int id : emoji) EXPECT_NE(id, sp.unk_id());

  at::Tensor t = at::tensor(ids, at::kLong);
  EXPECT_EQ(t.numel(), static_cast<int64_t>(ids.size()));
  EXPECT_EQ(t.max().item<int64_t>() < sp.vocab_size(), true);
}

TEST_F(TokenizerTest, TrainingIsDeterministicAndSerializationRoundTrips) {
  SentencePiece::train(options("a"));
  SentencePiece::train(options("b"));
  // The .model bytes embed the trainer's file paths, so compare what the model encodes.
  auto sp = SentencePiece::load((dir_ / "a.model").string());
  auto other = SentencePiece::load((dir_ / "b.model").string());
  ASSERT_EQ(other.vocab_size(), sp.vocab_size());
  for (int id = 0; id < sp.vocab_size(); ++id) {
    ASSERT_EQ(other.piece(id), sp.piece(id)) << id;
    ASSERT_EQ(other.score(id), sp.score(id)) << id;
  }
  auto copy = SentencePiece::from_bytes(sp.serialized(), "memory");
  EXPECT_EQ(copy.hash(), sp.hash());
  EXPECT_EQ(copy.encode("read_file /tmp/x"), sp.encode("read_file /tmp/x"));
  for (int id = 0; id < sp.vocab_size(); ++id) {
    EXPECT_EQ(sp.piece_to_id(sp.piece(id)), id);
    EXPECT_FLOAT_EQ(copy.score(id), sp.score(id));
  }
}

TEST_F(TokenizerTest, ConcurrentEncodingIsSafe) {
  SentencePiece::train(options("mt"));
  auto sp = SentencePiece::load((dir_ / "mt.model").string());
  auto expected = sp.encode("patient calendar identity replay");
  at::parallel_for(0, 64, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) EXPECT_EQ(sp.encode("patient calendar identity replay"), expected);
  });
}

TEST_F(TokenizerTest, BadInputsAreClearErrors) {
  EXPECT_THROW(SentencePiece::load((dir_ / "missing.model").string()), mcip::InputError);
  mcip::write_file_atomic(dir_ / "garbage.model", std::string("this is not a protobuf"));
  try {
    SentencePiece::load((dir_ / "garbage.model").string());
    FAIL() << "garbage accepted";
  } catch (const mcip::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("garbage.model"), std::string::npos);
  }
  auto o = options("never");
  o.input_files = {(dir_ / "no_corpus.txt").string()};
  EXPECT_THROW(SentencePiece::train(o), mcip::InputError);
  EXPECT_FALSE(fs::exists(dir_ / "never.model"));
  auto sp_opts = options("ok");
  SentencePiece::train(sp_opts);
  auto sp = SentencePiece::load((dir_ / "ok.model").string());
  EXPECT_THROW(sp.decode({999999}), std::runtime_error);
  EXPECT_THROW(sp.piece(-1), std::out_of_range);
}
