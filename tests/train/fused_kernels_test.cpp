// The hand-fused training kernels against the ATen compositions they replace: the LoRA-linear
// autograd function (train/src/model/lora_linear.h) and the attention's masked softmax
// (fused_ops.h), forward and backward, and the decoder with each switched on and off.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <limits>

#include "fused_ops.h"
#include "lora_linear.h"
#include "mcip/lora.h"
#include "mcip/model.h"
#include "mcip/testing/random_checkpoint.h"
#include "test_util.h"

using namespace mcip::train;
using mcip::train::test::max_abs_diff;
namespace kernels = mcip::train::detail;

namespace {

// Three parts of one concatenated weight (q|k|v-like): different ranks and scales, the middle
// one without adapter.
struct LoraCase {
  at::Tensor x, weight, bias;
  std::vector<kernels::LoraPart> parts;
};

LoraCase lora_case(at::ScalarType x_dtype, at::ScalarType adapter_dtype, bool with_bias) {
  at::manual_seed(3);
  LoraCase c;
  const std::int64_t in = 12;
  const std::vector<std::int64_t> outs{8, 4, 6}, ranks{3, 0, 2};
  const std::vector<double> scales{2.0, 0.0, 0.5};
  std::int64_t total = 0;
  for (auto o : outs) total += o;
  c.x = at::randn({2, 5, in}, at::kDouble).to(x_dtype).requires_grad_();
  c.weight = at::randn({total, in}, at::kDouble).to(x_dtype);
  if (with_bias) c.bias = at::randn({total}, at::kDouble).to(x_dtype);
  for (std::size_t i = 0; i < outs.size(); ++i) {
    kernels::LoraPart p;
    p.out = outs[i];
    if (ranks[i] > 0) {
      p.A = at::randn({ranks[i], in}, at::kDouble).to(adapter_dtype).requires_grad_();
      p.B = at::randn({outs[i], ranks[i]}, at::kDouble).to(adapter_dtype).requires_grad_();
      p.scale = scales[i];
    }
    c.parts.push_back(p);
  }
  return c;
}

// What Decoder::projections did before the fused function: base GEMM, split, plus each
// adapter's scale * (x A^T) B^T.
at::Tensor lora_reference(const LoraCase& c) {
  at::Tensor y = at::linear(c.x, c.weight, c.bias);
  std::vector<std::int64_t> sizes;
  for (const auto& p : c.parts) sizes.push_back(p.out);
  auto outs = y.split_with_sizes(sizes, -1);
  for (std::size_t i = 0; i < c.parts.size(); ++i) {
    const auto& p = c.parts[i];
    if (p.A.defined())
      outs[i] = outs[i] + at::linear(at::linear(c.x, p.A.to(c.x.scalar_type())).mul(p.scale), p.B.to(c.x.scalar_type()));
  }
  return at::cat(outs, -1);
}

std::vector<at::Tensor> lora_inputs(const LoraCase& c) {
  std::vector<at::Tensor> v{c.x};
  for (const auto& p : c.parts)
    if (p.A.defined()) {
      v.push_back(p.A);
      v.push_back(p.B);
    }
  return v;
}

}  // namespace

TEST(FusedLoraLinear, MatchesTheAtenCompositionInFp64) {
  for (bool with_bias : {false, true}) {
    LoraCase c = lora_case(at::kDouble, at::kDouble, with_bias);
    at::Tensor got = kernels::fused_lora_linear(c.x, c.weight, c.bias, c.parts);
    at::Tensor want = lora_reference(c);
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_LT(max_abs_diff(got, want), 1e-12);
    const at::Tensor r = at::randn_like(want);
    auto inputs = lora_inputs(c);
    auto g_got = torch::autograd::grad({(got * r).sum()}, inputs);
    auto g_want = torch::autograd::grad({(want * r).sum()}, inputs);
    ASSERT_EQ(g_got.size(), g_want.size());
    for (std::size_t i = 0; i < g_got.size(); ++i) {
      EXPECT_EQ(g_got[i].scalar_type(), at::kDouble) << i;
      EXPECT_GT(g_want[i].abs().max().item<double>(), 0) << i;
      EXPECT_LT(max_abs_diff(g_got[i], g_want[i]), 1e-11) << "input " << i << " bias " << with_bias;
    }
  }
}

TEST(FusedLoraLinear, Bf16InputWithFp32AdaptersGivesFp32AdapterGradients) {
  LoraCase c = lora_case(at::kBFloat16, at::kFloat, true);
  at::Tensor got = kernels::fused_lora_linear(c.x, c.weight, c.bias, c.parts);
  EXPECT_EQ(got.scalar_type(), at::kBFloat16);
  // Reference in fp32 from the same (bf16-rounded) values.
  LoraCase ref = c;
  ref.x = c.x.detach().to(at::kFloat).requires_grad_();
  ref.weight = c.weight.to(at::kFloat);
  ref.bias = c.bias.to(at::kFloat);
  at::Tensor want = lora_reference(ref);
  const double scale = want.abs().max().item<double>();
  EXPECT_LT(max_abs_diff(got, want), 2e-2 * scale);
  const at::Tensor r = at::randn_like(want);
  auto g_got = torch::autograd::grad({(got.to(at::kFloat) * r).sum()}, lora_inputs(c));
  auto g_want = torch::autograd::grad({(want * r).sum()}, lora_inputs(ref));
  for (std::size_t i = 0; i < g_got.size(); ++i) {
    EXPECT_EQ(g_got[i].scalar_type(), i == 0 ? at::kBFloat16 : at::kFloat) << i;
    EXPECT_LT(max_abs_diff(g_got[i], g_want[i]), 3e-2 * g_want[i].abs().max().item<double>()) << i;
  }
}

TEST(FusedLoraLinear, DecoderGradientsMatchTheUnfusedPath) {
  // fp64 without autocast (exact) and fp32 weights under bf16 autocast (the training setup).
  for (bool autocast : {false, true}) {
    auto run = [&](bool fused) {
      Decoder m = Decoder::random(mcip::train::testing::tiny_config([] {
                                    mcip::train::testing::TinySpec s;
                                    s.num_labels = 11;
                                    return s;
                                  }()),
                                  43, autocast ? at::kFloat : at::kDouble);
      LoraConfig lc;
      lc.target_modules = {"q_proj", "v_proj", "up_proj", "down_proj"};
      lc.rank = 4;
      apply_lora(m, lc);
      mcip::train::test::randomize_lora_b(m);
      if (!autocast)
        for (auto& [name, t] : m.named_lora_tensors()) *t = t->detach().to(at::kDouble).requires_grad_();
      at::manual_seed(11);
      m.score_weight = m.score_weight.detach().to(autocast ? at::kFloat : at::kDouble).normal_(0, 0.5).requires_grad_();
      m.train(true);
      m.set_fused_lora(fused);
      Batch b{mcip::train::test::random_ids(2, 7, 96, 8), at::ones({2, 7}, at::kLong), {}, {}};
      b.attention_mask[1][0] = 0;
      return mcip::train::test::classify_loss_and_grads(m, b, autocast);
    };
    auto [l0, g0] = run(false);
    auto [l1, g1] = run(true);
    const double tol = autocast ? 3e-2 : 1e-10;
    EXPECT_NEAR(l0, l1, tol * std::abs(l0)) << "autocast " << autocast;
    ASSERT_EQ(g0.size(), g1.size());
    for (std::size_t i = 0; i < g0.size(); ++i)
      EXPECT_LT(max_abs_diff(g0[i], g1[i]), tol * g0[i].abs().max().item<double>() + 1e-12) << i << " autocast " << autocast;
  }
}

TEST(FusedMaskedSoftmax, MatchesAtenWithCausalPaddingAndFullyMaskedRows) {
  at::manual_seed(5);
  const std::int64_t b = 2, kv = 2, g = 2, t = 37;
  at::Tensor mask = at::ones({b, t}, at::kLong);
  mask[0].narrow(0, 0, 5).zero_();   // left padding: queries 0-4 see no key at all
  mask[1].narrow(0, 30, 7).zero_();  // right padding
  const at::Tensor bias = attention_mask_bias(mask, {}, std::nullopt);
  const at::Tensor scores32 = at::randn({b, kv, g, t, t}) * 3;
  const at::Tensor want = at::softmax(scores32 + bias, -1);
  const at::Tensor r = at::randn_like(want);
  auto aten_grad = [&](const at::Tensor& s) {
    at::Tensor x = s.detach().requires_grad_();
    return torch::autograd::grad({(at::softmax(x + bias, -1) * r).sum()}, {x})[0];
  };
  const at::Tensor want_grad = aten_grad(scores32);

  ASSERT_TRUE(kernels::fused_masked_softmax_applies(scores32));
  at::Tensor x32 = scores32.clone().requires_grad_();
  at::Tensor got32 = kernels::fused_masked_softmax(x32, bias);
  EXPECT_EQ(got32.scalar_type(), at::kFloat);
  EXPECT_LT(max_abs_diff(got32, want), 1e-6);
  EXPECT_LT(max_abs_diff(torch::autograd::grad({(got32 * r).sum()}, {x32})[0], want_grad), 1e-5);
  // Masked keys of rows that see any key are exactly 0; fully masked rows are uniform, as ATen's.
  const at::Tensor masked = (bias.expand_as(want) != 0);
  const at::Tensor fully = masked.all(-1, true).expand_as(want);
  EXPECT_EQ(got32.masked_select(masked & fully.logical_not()).abs().max().item<float>(), 0.0f);
  EXPECT_LT((got32.masked_select(fully) - 1.0 / t).abs().max().item<double>(), 1e-6);

  // bf16 in and out, fp32 math: within bf16 rounding of the fp32 result for the same inputs.
  const at::Tensor s16 = scores32.to(at::kBFloat16);
  at::Tensor x16 = s16.clone().requires_grad_();
  at::Tensor got16 = kernels::fused_masked_softmax(x16, bias);
  EXPECT_EQ(got16.scalar_type(), at::kBFloat16);
  const at::Tensor want16 = at::softmax(s16.to(at::kFloat) + bias, -1);
  EXPECT_LT(max_abs_diff(got16, want16), 4e-3);
  at::Tensor g16 = torch::autograd::grad({(got16.to(at::kFloat) * r).sum()}, {x16})[0];
  EXPECT_EQ(g16.scalar_type(), at::kBFloat16);
  const at::Tensor want_grad16 = aten_grad(s16.to(at::kFloat));
  EXPECT_LT(max_abs_diff(g16, want_grad16), 2e-2 * want_grad16.abs().max().item<double>());
}

TEST(FusedMaskedSoftmax, AttentionIsTheSameWithAndWithoutIt) {
  at::manual_seed(6);
  at::Tensor q = at::randn({2, 4, 9, 8}), k = at::randn({2, 2, 9, 8}), v = at::randn({2, 2, 9, 8});
  at::Tensor mask = at::ones({2, 9}, at::kLong);
  mask[1].narrow(0, 0, 3).zero_();
  at::Tensor seg = at::tensor({0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, at::kLong).view({2, 9});
  for (const at::Tensor& segments : {at::Tensor(), seg}) {
    const at::Tensor bias = attention_mask_bias(mask, segments, 4);
    EXPECT_LT(max_abs_diff(grouped_query_attention(q, k, v, bias, true), grouped_query_attention(q, k, v, bias, false)), 1e-6);
  }
}

TEST(CausalBlocks, AttentionMatchesTheFullComputationForEveryQueryThatSeesAKey) {
  at::manual_seed(7);
  const std::int64_t t = 70;  // above the 64-position threshold, odd halves
  at::Tensor q = at::randn({2, 4, t, 8}), k = at::randn({2, 2, t, 8}), v = at::randn({2, 2, t, 8});
  at::Tensor mask = at::ones({2, t}, at::kLong);
  mask[0].narrow(0, 0, 3).zero_();   // left padding: queries 0-2 see no key
  mask[1].narrow(0, 60, 10).zero_();  // right padding
  at::Tensor seg = (at::arange(t, at::kLong) >= 40).to(at::kLong).unsqueeze(0).expand({2, t}).contiguous();
  for (const at::Tensor& segments : {at::Tensor(), seg})
    for (bool fused : {true, false}) {
      const at::Tensor bias = attention_mask_bias(mask, segments, std::nullopt);
      at::Tensor got = grouped_query_attention(q, k, v, bias, fused, true);
      at::Tensor want = grouped_query_attention(q, k, v, bias, fused, false);
      EXPECT_LT(max_abs_diff(got.narrow(2, 3, t - 3), want.narrow(2, 3, t - 3)), 1e-6) << "fused " << fused;
      EXPECT_LT(max_abs_diff(got.select(0, 1), want.select(0, 1)), 1e-6);
    }
}

TEST(CausalBlocks, DecoderLogitsAndGradientsAreTheSame) {
  auto run = [](bool blocks) {
    mcip::train::testing::TinySpec spec;
    spec.num_labels = 11;
    Decoder m = Decoder::random(mcip::train::testing::tiny_config(spec), 47);
    LoraConfig lc;
    lc.target_modules = {"all-linear"};
    apply_lora(m, lc);
    mcip::train::test::randomize_lora_b(m);
    m.score_weight.set_requires_grad(true);
    m.train(true);
    m.set_causal_blocks(blocks);
    Batch b{mcip::train::test::random_ids(2, 80, 96, 9), at::ones({2, 80}, at::kLong), {}, {}};
    b.attention_mask[0].narrow(0, 70, 10).zero_();
    return mcip::train::test::classify_loss_and_grads(m, b, true);
  };
  auto [l0, g0] = run(false);
  auto [l1, g1] = run(true);
  EXPECT_NEAR(l0, l1, 1e-3 * std::abs(l0));
  ASSERT_EQ(g0.size(), g1.size());
  for (std::size_t i = 0; i < g0.size(); ++i)
    EXPECT_LT(max_abs_diff(g0[i], g1[i]), 3e-2 * g0[i].abs().max().item<double>() + 1e-6) << i;
}
