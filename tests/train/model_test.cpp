// Decoder math: attention/GQA, padding, RoPE scaling, LoRA, recomputation, autocast, gradients.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "mcip/error.h"
#include "mcip/lora.h"
#include "mcip/model.h"
#include "mcip/testing/random_checkpoint.h"
#include "test_util.h"

using namespace mcip::train;
using mcip::train::test::max_abs_diff;
using mcip::train::test::random_ids;
using mcip::train::testing::Family;
using mcip::train::testing::TinySpec;
using mcip::train::testing::tiny_config;

namespace {

TinySpec classifier_spec(Family f = Family::Llama) {
  TinySpec s;
  s.family = f;
  s.num_labels = 11;
  return s;
}

// Plain multi-head attention with K/V explicitly repeated per query head (transformers'
// repeat_kv), as the reference for grouped_query_attention.
at::Tensor reference_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask) {
  const std::int64_t groups = q.size(1) / k.size(1);
  at::Tensor kr = k.repeat_interleave(groups, 1), vr = v.repeat_interleave(groups, 1);
  at::Tensor scores = at::matmul(q, kr.transpose(-1, -2)) / std::sqrt(static_cast<double>(q.size(-1)));
  scores = scores + mask.squeeze(1).to(scores.scalar_type());  // [b,1,t,t] broadcast over heads
  return at::matmul(at::softmax(scores, -1), vr);
}

// Central finite differences of scalar f() w.r.t. every element of x, compared to `analytic`.
double max_gradient_error(const std::function<double()>& f, at::Tensor x, const at::Tensor& analytic, double eps = 1e-6) {
  c10::NoGradGuard no_grad;
  at::Tensor flat = x.view({-1});
  at::Tensor g = analytic.reshape({-1});
  double worst = 0;
  for (std::int64_t i = 0; i < flat.numel(); ++i) {
    const double orig = flat[i].item<double>();
    flat[i].fill_(orig + eps);
    const double up = f();
    flat[i].fill_(orig - eps);
    const double down = f();
    flat[i].fill_(orig);
    worst = std::max(worst, std::abs((up - down) / (2 * eps) - g[i].item<double>()));
  }
  return worst;
}

Batch pad_batch(const std::vector<std::vector<std::int64_t>>& rows, bool left, std::int64_t pad_id) {
  std::size_t t = 0;
  for (auto& r : rows) t = std::max(t, r.size());
  const auto b = static_cast<std::int64_t>(rows.size());
  Batch batch;
  batch.input_ids = at::full({b, static_cast<std::int64_t>(t)}, pad_id, at::kLong);
  batch.attention_mask = at::zeros({b, static_cast<std::int64_t>(t)}, at::kLong);
  for (std::int64_t i = 0; i < b; ++i) {
    const auto& r = rows[i];
    const std::int64_t off = left ? static_cast<std::int64_t>(t - r.size()) : 0;
    for (std::size_t j = 0; j < r.size(); ++j) {
      batch.input_ids[i][off + static_cast<std::int64_t>(j)] = r[j];
      batch.attention_mask[i][off + static_cast<std::int64_t>(j)] = 1;
    }
  }
  return batch;
}

}  // namespace

TEST(ModelConfig, ParsesFamiliesAndRefusesUnknown) {
  auto q = tiny_config(classifier_spec(Family::Qwen2));
  EXPECT_TRUE(q.qkv_bias);
  EXPECT_FALSE(q.o_bias);
  EXPECT_DOUBLE_EQ(q.rope_theta, 1000000.0);  // from rope_parameters
  EXPECT_EQ(q.pad_token_id.value_or(-1), 3);
  EXPECT_EQ(q.num_labels, 11);
  auto l = tiny_config(TinySpec{});
  EXPECT_FALSE(l.qkv_bias);
  EXPECT_EQ(l.head_dim, 8);
  EXPECT_EQ(l.kv_groups(), 2);

  nlohmann::json j = l.to_json();
  auto round = ModelConfig::from_json(j, "rt");
  EXPECT_EQ(round.to_json(), j);

  auto expect_bad = [](nlohmann::json doc, const std::string& key) {
    try {
      ModelConfig::from_json(doc, "config.json");
      ADD_FAILURE() << "accepted " << doc.dump();
    } catch (const mcip::InputError& e) {
      EXPECT_EQ(e.field(), key) << e.what();
      EXPECT_EQ(e.file(), "config.json");
    }
  };
  nlohmann::json bad = j;
  bad["model_type"] = "gpt2";
  expect_bad(bad, "model_type");
  bad = j;
  bad.erase("hidden_size");
  expect_bad(bad, "hidden_size");
  bad = j;
  bad["num_key_value_heads"] = 3;
  expect_bad(bad, "num_key_value_heads");
  bad = j;
  bad["hidden_act"] = "gelu";
  expect_bad(bad, "hidden_act");
  bad = j;
  bad["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4}};
  expect_bad(bad, "rope_scaling.rope_type");
  bad = j;
  bad["eos_token_id"] = 100000;
  expect_bad(bad, "eos_token_id");

  nlohmann::json l3 = j;
  l3["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                        {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}};
  l3["eos_token_id"] = {2, 5};
  auto c3 = ModelConfig::from_json(l3, "l3");
  EXPECT_EQ(c3.rope_scaling.kind, RopeScaling::Kind::Llama3);
  EXPECT_EQ(c3.eos_token_id.value_or(-1), 2);
}

TEST(Attention, GroupedQueryMatchesExplicitRepeatKv) {
  at::manual_seed(1);
  at::Tensor q = at::randn({2, 6, 5, 4}, at::kDouble), k = at::randn({2, 2, 5, 4}, at::kDouble),
             v = at::randn({2, 2, 5, 4}, at::kDouble);
  at::Tensor mask = at::ones({2, 5}, at::kLong);
  mask[0][0] = 0;
  mask[1][4] = 0;
  at::Tensor bias = attention_mask_bias(mask, {}, std::nullopt);
  at::Tensor got = grouped_query_attention(q, k, v, bias);
  at::Tensor want = reference_attention(q, k, v, bias);
  EXPECT_LT(max_abs_diff(got, want), 1e-12);
}

TEST(Attention, MaskIsCausalPaddedSegmentedAndWindowed) {
  at::Tensor mask = at::tensor({0, 1, 1, 1}, at::kLong).view({1, 4});
  at::Tensor seg = at::tensor({0, 0, 0, 1}, at::kLong).view({1, 4});
  at::Tensor b = attention_mask_bias(mask, seg, 2).view({4, 4});
  auto allowed = [&](int i, int j) { return b[i][j].item<float>() == 0.0f; };
  EXPECT_FALSE(allowed(1, 0));  // padding key
  EXPECT_TRUE(allowed(2, 1));
  EXPECT_FALSE(allowed(1, 2));  // causal
  EXPECT_FALSE(allowed(3, 2));  // other segment
  EXPECT_TRUE(allowed(3, 3));
  at::Tensor w = attention_mask_bias(at::ones({1, 4}, at::kLong), {}, 2).view({4, 4});
  EXPECT_FALSE(w[3][1].item<float>() == 0.0f);  // outside the sliding window
  EXPECT_TRUE(w[3][2].item<float>() == 0.0f);
}

TEST(Attention, GradientMatchesFiniteDifferencesInFp64) {
  at::manual_seed(2);
  at::Tensor q = at::randn({1, 4, 3, 4}, at::kDouble).requires_grad_(), k = at::randn({1, 2, 3, 4}, at::kDouble).requires_grad_(),
             v = at::randn({1, 2, 3, 4}, at::kDouble).requires_grad_();
  at::Tensor mask = at::tensor({0, 1, 1}, at::kLong).view({1, 3});
  at::Tensor bias = attention_mask_bias(mask, {}, std::nullopt);
  at::Tensor r = at::randn({1, 4, 3, 4}, at::kDouble);
  // Query 0 is padding and sees no key at all; real losses never read such rows, and their
  // finite-minimum softmax is flat, so leave them out of the check.
  r.select(2, 0).zero_();
  auto loss = [&] { return (grouped_query_attention(q, k, v, bias) * r).sum(); };
  loss().backward();
  for (at::Tensor* x : {&q, &k, &v}) {
    at::Tensor g = x->grad().clone();
    EXPECT_LT(max_gradient_error([&] { return loss().item<double>(); }, x->detach(), g), 1e-7);
  }
}

TEST(Decoder, LeftAndRightPaddingGiveTheSamePooledLogits) {
  for (Family f : {Family::Llama, Family::Qwen2}) {
    Decoder m = Decoder::random(tiny_config(classifier_spec(f)), 7);
    { at::NoGradGuard g; m.score_weight.normal_(0, 0.5); }
    std::vector<std::vector<std::int64_t>> rows{{5, 9, 11, 40, 7, 8}, {12, 13, 14}, {20}};
    at::NoGradGuard no_grad;
    at::Tensor left = m.classify(pad_batch(rows, true, 0));
    at::Tensor right = m.classify(pad_batch(rows, false, 0));
    EXPECT_LT(max_abs_diff(left, right), 1e-5);
    // And the same as each row run alone, unpadded.
    for (std::size_t i = 0; i < rows.size(); ++i) {
      at::Tensor alone = m.classify(pad_batch({rows[i]}, false, 0));
      EXPECT_LT(max_abs_diff(alone[0], right[static_cast<std::int64_t>(i)]), 1e-5);
    }
    EXPECT_GT(left.abs().max().item<double>(), 1e-3);  // the head actually produces something
  }
}

TEST(Decoder, PackedSegmentsDoNotSeeEachOther) {
  Decoder m = Decoder::random(tiny_config(TinySpec{}), 3);
  at::NoGradGuard g;
  Batch a{at::tensor({5, 6, 7}, at::kLong).view({1, 3}), {}, {}, {}};
  Batch b{at::tensor({8, 9}, at::kLong).view({1, 2}), {}, {}, {}};
  Batch packed{at::tensor({5, 6, 7, 8, 9}, at::kLong).view({1, 5}), {}, at::tensor({0, 1, 2, 0, 1}, at::kLong).view({1, 5}),
               at::tensor({0, 0, 0, 1, 1}, at::kLong).view({1, 5})};
  at::Tensor hp = m.hidden_states(packed);
  EXPECT_LT(max_abs_diff(hp.narrow(1, 0, 3), m.hidden_states(a)), 1e-5);
  EXPECT_LT(max_abs_diff(hp.narrow(1, 3, 2), m.hidden_states(b)), 1e-5);
}

TEST(Decoder, LinearRopeScalingEqualsScaledPositions) {
  ModelConfig c = tiny_config(TinySpec{});
  ModelConfig scaled = c;
  scaled.rope_scaling.kind = RopeScaling::Kind::Linear;
  scaled.rope_scaling.factor = 2.0;
  Decoder m = Decoder::random(c, 11), ms = Decoder::random(scaled, 11);
  at::NoGradGuard g;
  at::Tensor ids = random_ids(1, 5, c.vocab_size, 1);
  Batch half{ids, {}, at::tensor({0, 1, 2, 3, 4}, at::kLong).view({1, 5}), {}};
  Batch twice{ids, {}, at::tensor({0, 2, 4, 6, 8}, at::kLong).view({1, 5}), {}};
  EXPECT_LT(max_abs_diff(m.hidden_states(half), ms.hidden_states(twice)), 1e-5);
  EXPECT_GT(max_abs_diff(m.hidden_states(half), m.hidden_states(twice)), 1e-3);  // positions matter
}

TEST(Decoder, RefusesOutOfVocabularyIds) {
  Decoder m = Decoder::random(tiny_config(TinySpec{}), 1);
  Batch b{at::tensor({1, 500}, at::kLong).view({1, 2}), {}, {}, {}};
  EXPECT_THROW(m.hidden_states(b), mcip::InputError);
}

TEST(Decoder, TiedEmbeddingsAndChoiceProbabilities) {
  TinySpec s;
  s.tie_word_embeddings = true;
  Decoder m = Decoder::random(tiny_config(s), 5);
  EXPECT_FALSE(m.lm_head.defined());
  at::NoGradGuard g;
  Batch b{random_ids(2, 4, 96, 3), {}, {}, {}};
  at::Tensor logits = m.next_token_logits(b);
  at::Tensor h = m.hidden_states(b).select(1, 3);
  EXPECT_LT(max_abs_diff(logits, at::matmul(h, m.embed_tokens.t())), 1e-5);
  at::Tensor p = m.choice_probabilities(b, {10, 11, 12});
  EXPECT_LT(max_abs_diff(p, at::softmax(logits, -1).index_select(1, at::tensor({10, 11, 12}, at::kLong))), 1e-7);
}

TEST(Lora, ZeroBLeavesOutputsUnchangedAndFreezesTheBase) {
  Decoder m = Decoder::random(tiny_config(classifier_spec(Family::Qwen2)), 9);
  Batch b{random_ids(2, 6, 96, 4), {}, {}, {}};
  at::Tensor before;
  {
    at::NoGradGuard g;
    before = m.classify(b);
  }
  LoraConfig lc;
  lc.target_modules = {"all-linear"};
  lc.rank = 4;
  EXPECT_EQ(apply_lora(m, lc), 2u * 7u);
  at::NoGradGuard g;
  EXPECT_TRUE(at::equal(m.classify(b), before));
  for (auto& [name, t] : m.named_tensors()) EXPECT_FALSE(t->requires_grad()) << name;
  EXPECT_EQ(m.trainable_parameters().size(), 2u * 7u * 2u);
  auto* a = m.named_lora_tensors()[0].second;
  EXPECT_EQ(a->scalar_type(), at::kFloat);
  const double bound = 1.0 / std::sqrt(32.0);
  EXPECT_LE(a->abs().max().item<double>(), bound);
  EXPECT_GT(a->abs().max().item<double>(), bound * 0.5);

  LoraConfig bad;
  bad.target_modules = {"qkv"};
  EXPECT_THROW(apply_lora(m, bad), mcip::InputError);
}

TEST(Lora, MergeEqualsUnmergedForward) {
  for (at::ScalarType base : {at::kFloat, at::kBFloat16}) {
    Decoder m = Decoder::random(tiny_config(classifier_spec()), 21, base);
    LoraConfig lc;
    lc.target_modules = {"q_proj", "v_proj", "down_proj"};
    lc.use_rslora = true;
    apply_lora(m, lc);
    mcip::train::test::randomize_lora_b(m);
    at::NoGradGuard g;
    Batch b{random_ids(2, 6, 96, 5), {}, {}, {}};
    at::Tensor unmerged = m.next_token_logits(b);
    at::Tensor base_weight = m.layers[0].q_proj.weight.clone();
    merge_lora(m);
    at::Tensor merged = m.next_token_logits(b);
    const double tol = base == at::kFloat ? 1e-5 : 3e-2;
    EXPECT_LT(max_abs_diff(merged, unmerged), tol) << c10::toString(base);
    EXPECT_GT(max_abs_diff(m.layers[0].q_proj.weight, base_weight), 1e-4);
    unmerge_lora(m);
    EXPECT_LT(max_abs_diff(m.layers[0].q_proj.weight, base_weight), base == at::kFloat ? 1e-6 : 1e-2);
  }
}

TEST(Lora, GradientsMatchFiniteDifferencesInFp64) {
  Decoder m = Decoder::random(tiny_config(classifier_spec(Family::Qwen2)), 13, at::kDouble);
  LoraConfig lc;
  lc.target_modules = {"q_proj", "k_proj", "up_proj"};
  lc.rank = 2;
  apply_lora(m, lc);
  {
    at::NoGradGuard g;
    for (auto& [name, t] : m.named_lora_tensors()) *t = t->to(at::kDouble).normal_(0, 0.3).requires_grad_();
    m.score_weight = m.score_weight.to(at::kDouble).normal_(0, 0.5).requires_grad_();
  }
  Batch b = pad_batch({{5, 9, 11, 40}, {12, 13}}, true, 0);
  auto loss = [&] { return m.classify(b).pow(2).sum(); };
  loss().backward();
  for (auto& [name, t] : m.named_lora_tensors()) {
    if (name.find("layers.1") == std::string::npos) continue;
    at::Tensor g = t->grad().clone();
    ASSERT_GT(g.abs().max().item<double>(), 0) << name;
    EXPECT_LT(max_gradient_error([&] { return loss().item<double>(); }, t->detach(), g), 1e-6) << name;
  }
}

TEST(Decoder, RecomputationGivesTheSameGradients) {
  auto run = [](bool recompute) {
    Decoder m = Decoder::random(tiny_config(classifier_spec()), 17);
    LoraConfig lc;
    lc.target_modules = {"all-linear"};
    lc.dropout = 0.2;
    apply_lora(m, lc);
    mcip::train::test::randomize_lora_b(m);
    m.score_weight.set_requires_grad(true);
    m.train(true);
    m.seed_dropout(99);
    m.set_recompute(recompute);
    Batch b = pad_batch({{5, 9, 11, 40}, {12, 13}}, false, 0);
    at::Tensor loss = m.classify(b).logsumexp(-1).sum();
    loss.backward();
    std::vector<at::Tensor> grads;
    for (auto& p : m.trainable_parameters()) grads.push_back(p.grad().clone());
    return std::make_pair(loss.item<double>(), grads);
  };
  auto [l0, g0] = run(false);
  auto [l1, g1] = run(true);
  EXPECT_DOUBLE_EQ(l0, l1);
  ASSERT_EQ(g0.size(), g1.size());
  for (std::size_t i = 0; i < g0.size(); ++i) EXPECT_LT(max_abs_diff(g0[i], g1[i]), 1e-6) << i;
}

TEST(Decoder, Bf16AutocastAndBf16WeightsStayCloseToFp32) {
  Decoder m = Decoder::random(tiny_config(classifier_spec()), 23);
  { at::NoGradGuard g; m.score_weight.normal_(0, 0.5); }
  Batch b = pad_batch({{5, 9, 11, 40}, {12, 13}}, true, 0);
  at::NoGradGuard g;
  at::Tensor fp32 = m.next_token_logits(b);
  at::Tensor autocast;
  {
    AutocastScope scope(c10::Device(c10::kCPU), true);
    autocast = m.next_token_logits(b);
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  EXPECT_EQ(autocast.scalar_type(), at::kFloat);
  EXPECT_LT(max_abs_diff(autocast, fp32), 2e-2);
  EXPECT_GT(max_abs_diff(autocast, fp32), 0.0);  // bf16 really was used
  m.to(c10::Device(c10::kCPU), at::kBFloat16);
  EXPECT_EQ(m.embed_tokens.scalar_type(), at::kBFloat16);
  EXPECT_EQ(m.score_weight.scalar_type(), at::kFloat);
  at::Tensor bf16 = m.next_token_logits(b);
  EXPECT_LT(max_abs_diff(bf16, fp32), 5e-2);
  EXPECT_TRUE(at::isfinite(m.classify(b)).all().item<bool>());
}

TEST(Lora, TrainsThroughAutogradOnABf16Base) {
  Decoder m = Decoder::random(tiny_config(classifier_spec()), 29, at::kBFloat16);
  LoraConfig lc;
  lc.target_modules = {"all-linear"};
  apply_lora(m, lc);
  m.score_weight.set_requires_grad(true);
  m.train(true);
  m.set_recompute(true);
  Batch b = pad_batch({{5, 9, 11, 40}, {12, 13}, {30, 31, 32}}, true, 0);
  at::Tensor labels = at::tensor({3, 7, 1}, at::kLong);
  std::vector<at::Tensor> params = m.trainable_parameters();
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    at::Tensor loss;
    {
      AutocastScope scope(c10::Device(c10::kCPU), true);
      loss = at::cross_entropy_loss(m.classify(b), labels);
    }
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    loss.backward();
    at::NoGradGuard g;
    for (auto& p : params) p.sub_(p.grad() * 1.0);
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, first * 0.5) << "first " << first << " last " << last;
  for (auto& [name, t] : m.named_lora_tensors())
    if (name.find("lora_B") != std::string::npos) {
      EXPECT_GT(t->abs().max().item<double>(), 0) << name;
    }
}

TEST(Lora, FusedFrozenProjectionsMatchSeparateOnesUnderAutocast) {
  // One GEMM over q|k|v and gate|up with weights cast once must give what separate autocast
  // linears give (dropout masks drawn in the same order), and follow in-place and replaced weights.
  for (Family f : {Family::Llama, Family::Qwen2}) {
    auto run = [&](bool fused, bool recompute) {
      Decoder m = Decoder::random(tiny_config(classifier_spec(f)), 31);
      LoraConfig lc;
      lc.target_modules = {"all-linear"};
      lc.dropout = 0.1;
      apply_lora(m, lc);
      mcip::train::test::randomize_lora_b(m);
      m.score_weight.set_requires_grad(true);
      m.train(true);
      m.seed_dropout(5);
      m.set_recompute(recompute);
      m.set_fuse_frozen_projections(fused);
      Batch b = pad_batch({{5, 9, 11, 40, 41, 42}, {12, 13}}, false, 0);
      return mcip::train::test::classify_loss_and_grads(m, b, true);
    };
    auto [l0, g0] = run(false, false);
    for (bool recompute : {false, true}) {
      auto [l1, g1] = run(true, recompute);
      EXPECT_NEAR(l0, l1, 1e-3 * std::abs(l0)) << static_cast<int>(f);
      ASSERT_EQ(g0.size(), g1.size());
      for (std::size_t i = 0; i < g0.size(); ++i)
        EXPECT_LT(max_abs_diff(g0[i], g1[i]), 5e-2 * g0[i].abs().max().item<double>() + 1e-6) << i;
    }

    Decoder m = Decoder::random(tiny_config(classifier_spec(f)), 37);
    LoraConfig lc;
    lc.target_modules = {"all-linear"};
    apply_lora(m, lc);
    mcip::train::test::randomize_lora_b(m);
    Batch b = pad_batch({{5, 9, 11, 40}, {12, 13}}, false, 0);
    at::NoGradGuard g;
    auto logits = [&](bool fused) {
      m.set_fuse_frozen_projections(fused);
      AutocastScope scope(c10::Device(c10::kCPU), true);
      return m.classify(b);
    };
    const at::Tensor before = logits(true);
    EXPECT_LT(max_abs_diff(before, logits(false)), 2e-2);
    merge_lora(m);  // changes the base weights in place: the fused copy must follow
    EXPECT_LT(max_abs_diff(logits(true), logits(false)), 2e-2);
    EXPECT_LT(max_abs_diff(logits(true), before), 5e-2);
    m.layers[0].up_proj.weight = m.layers[0].up_proj.weight * 3;  // a replaced tensor
    const at::Tensor replaced = logits(true);
    EXPECT_LT(max_abs_diff(replaced, logits(false)), 2e-2);
    EXPECT_GT(max_abs_diff(replaced, before), 1e-2);
  }
}

TEST(Decoder, KvCacheMatchesTheFullForward) {
  for (Family f : {Family::Llama, Family::Qwen2}) {
    Decoder m = Decoder::random(tiny_config(TinySpec{f}), 41);
    at::NoGradGuard g;
    // Left-padded prompts, then three more tokens fed as 2 + 1 through the cache.
    Batch prompt = pad_batch({{5, 9, 11, 40, 7}, {12, 13}}, true, 0);
    at::Tensor more = at::tensor({20, 21, 22, 30, 31, 32}, at::kLong).view({2, 3});
    KvCache cache;
    at::Tensor h0 = m.hidden_states(prompt, cache);
    at::Tensor h1 = m.hidden_states(Batch{more.narrow(1, 0, 2), {}, {}, {}}, cache);
    at::Tensor h2 = m.hidden_states(Batch{more.narrow(1, 2, 1), {}, {}, {}}, cache);
    EXPECT_EQ(cache.length(), 8);
    Batch full{at::cat({prompt.input_ids, more}, 1), at::cat({prompt.attention_mask, at::ones({2, 3}, at::kLong)}, 1), {}, {}};
    at::Tensor hf = m.hidden_states(full);
    at::Tensor hc = at::cat({h0, h1, h2}, 1);
    // Compare real tokens only (padding rows are never read).
    at::Tensor real = full.attention_mask.to(at::kBool).unsqueeze(-1);
    EXPECT_LT(max_abs_diff(hc.masked_fill(real.logical_not(), 0), hf.masked_fill(real.logical_not(), 0)), 1e-5);
  }
}

TEST(Decoder, GreedyGenerationWithCacheEqualsRecomputingEveryStep) {
  Decoder m = Decoder::random(tiny_config(TinySpec{}), 43);
  {
    at::NoGradGuard g;
    m.lm_head.normal_(0, 0.5);  // peaked enough that greedy choices are not ties
  }
  at::NoGradGuard g;
  std::vector<std::vector<std::int64_t>> rows{{5, 9, 11, 40, 7}, {12, 13}};
  auto got = m.generate_greedy(pad_batch(rows, true, 0), 6, std::nullopt);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::vector<std::int64_t> seq = rows[r];
    std::vector<std::int64_t> want;
    for (int step = 0; step < 6; ++step) {
      at::Tensor logits = m.next_token_logits(pad_batch({seq}, false, 0));
      const std::int64_t id = logits.argmax(-1).item<std::int64_t>();
      want.push_back(id);
      seq.push_back(id);
    }
    EXPECT_EQ(got[r], want) << "row " << r;
  }
  // A stop token ends a row early and is kept.
  const std::int64_t stop = got[0][1];
  auto stopped = m.generate_greedy(pad_batch(rows, false, 0), 6, stop);
  const auto first = std::find(got[0].begin(), got[0].end(), stop) - got[0].begin();
  EXPECT_EQ(stopped[0].size(), static_cast<std::size_t>(first + 1));
  EXPECT_EQ(stopped[0].back(), stop);
}
