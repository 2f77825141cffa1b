#include "fused_ops.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace mcip::train::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

template <class T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Rows of a [..., n] tensor as a 2-D [rows, n] view whose rows may be strided (a split of a
// wider GEMM output) but whose elements are contiguous.
at::Tensor as_rows(const at::Tensor& t) {
  at::Tensor r = t.reshape({-1, t.size(-1)});
  return r.stride(1) == 1 ? r : r.contiguous();
}

constexpr std::int64_t kGrain = 16;  // rows per parallel task

struct RmsNorm : torch::autograd::Function<RmsNorm> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, double eps,
                            std::int64_t out_dtype) {
    RECORD_FUNCTION("mcip::rms_norm", std::vector<c10::IValue>());
    const at::Tensor x2 = as_rows(x), w = weight.contiguous();
    const std::int64_t rows = x2.size(0), n = x2.size(1);
    at::Tensor out = at::empty({rows, n}, x.options().dtype(static_cast<at::ScalarType>(out_dtype)));
    at::Tensor rstd = at::empty({rows}, x.options().dtype(x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat));
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "mcip_rms_norm_x", [&] {
      using xt = scalar_t;
      using acc = acc_t<xt>;
      AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, w.scalar_type(), "mcip_rms_norm_w", [&] {
        using wt = scalar_t;
        AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, out.scalar_type(), "mcip_rms_norm_out", [&] {
          using ot = scalar_t;
          const xt* xp = x2.data_ptr<xt>();
          const wt* wp = w.data_ptr<wt>();
          ot* op = out.data_ptr<ot>();
          acc* rp = rstd.data_ptr<acc>();
          const std::int64_t xs = x2.stride(0);
          at::parallel_for(0, rows, kGrain, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t r = begin; r < end; ++r) {
              const xt* xr = xp + r * xs;
              acc sq = 0;
              for (std::int64_t i = 0; i < n; ++i) sq += static_cast<acc>(xr[i]) * static_cast<acc>(xr[i]);
              const acc inv = acc(1) / std::sqrt(sq / static_cast<acc>(n) + static_cast<acc>(eps));
              rp[r] = inv;
              ot* o = op + r * n;
              for (std::int64_t i = 0; i < n; ++i) o[i] = static_cast<ot>(static_cast<acc>(wp[i]) * (static_cast<acc>(xr[i]) * inv));
            }
          });
        });
      });
    });
    ctx->save_for_backward({x2, weight, rstd});
    ctx->saved_data["shape"] = x.sizes().vec();
    return out.view(x.sizes());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor x2 = saved[0], weight = saved[1], rstd = saved[2];
    const at::Tensor w = weight.contiguous();
    const at::Tensor dy = as_rows(grad_outputs[0]);
    const std::int64_t rows = x2.size(0), n = x2.size(1);
    at::Tensor dx = at::empty({rows, n}, x2.options());
    const bool want_dw = ctx->needs_input_grad(1);
    // Per-row contributions to the weight gradient, summed by ATen afterwards (full training only).
    at::Tensor dw_rows = want_dw ? at::empty({rows, n}, x2.options().dtype(rstd.scalar_type())) : at::Tensor();
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x2.scalar_type(), "mcip_rms_norm_bwd_x", [&] {
      using xt = scalar_t;
      using acc = acc_t<xt>;
      AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, w.scalar_type(), "mcip_rms_norm_bwd_w", [&] {
        using wt = scalar_t;
        AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, dy.scalar_type(), "mcip_rms_norm_bwd_dy", [&] {
          using gt = scalar_t;
          const xt* xp = x2.data_ptr<xt>();
          const wt* wp = w.data_ptr<wt>();
          const gt* gp = dy.data_ptr<gt>();
          const acc* rp = rstd.data_ptr<acc>();
          xt* dxp = dx.data_ptr<xt>();
          acc* dwp = want_dw ? dw_rows.data_ptr<acc>() : nullptr;
          const std::int64_t xs = x2.stride(0), gs = dy.stride(0);
          at::parallel_for(0, rows, kGrain, [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t r = begin; r < end; ++r) {
              const xt* xr = xp + r * xs;
              const gt* g = gp + r * gs;
              const acc inv = rp[r];
              // y = w * x * inv: dx = inv * (w*dy - x*inv * mean(w*dy * x*inv))
              acc dot = 0;
              for (std::int64_t i = 0; i < n; ++i)
                dot += static_cast<acc>(wp[i]) * static_cast<acc>(g[i]) * static_cast<acc>(xr[i]) * inv;
              const acc mean = dot / static_cast<acc>(n);
              xt* d = dxp + r * n;
              for (std::int64_t i = 0; i < n; ++i) {
                const acc xn = static_cast<acc>(xr[i]) * inv;
                d[i] = static_cast<xt>(inv * (static_cast<acc>(wp[i]) * static_cast<acc>(g[i]) - xn * mean));
              }
              if (dwp)
                for (std::int64_t i = 0; i < n; ++i) dwp[r * n + i] = static_cast<acc>(g[i]) * static_cast<acc>(xr[i]) * inv;
            }
          });
        });
      });
    });
    const auto shape = ctx->saved_data["shape"].toIntVector();
    return {dx.view(shape), want_dw ? dw_rows.sum(0).to(weight.scalar_type()) : at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// Row kernels for bf16/fp32 storage, written so GCC vectorizes them (no calls, no branches;
// reductions declared with `omp simd`, compiled with -fopenmp-simd) and cloned for AVX-512,
// AVX2 and baseline x86-64, picked at load time by CPU feature (not CPU model: an AMD EPYC with
// AVX-512 must get the AVX-512 clone). Measured on this machine: the AVX-512 clone of the
// softmax rows is ~4x faster than the baseline one.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MCIP_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MCIP_SIMD_CLONES
#endif
#define MCIP_INLINE inline __attribute__((always_inline))

MCIP_INLINE float load(float v) { return v; }
MCIP_INLINE float load(std::uint16_t h) {  // bf16 bits -> fp32
  const std::uint32_t u = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
MCIP_INLINE void store(float& out, float v) { out = v; }
MCIP_INLINE void store(std::uint16_t& out, float v) {  // fp32 -> bf16, round to nearest even
  std::uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  out = static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

// exp in fp32 (Cephes expf: Cody-Waite range reduction and a degree-6 polynomial, ~1 ulp),
// branch-free so it vectorizes. Arguments below -80 give 0 (exp(-80) = 2e-35): the clamp keeps
// every intermediate a normal float, since denormal operands cost ~100 cycles per lane, and the
// causally masked half of every attention row lands there.
MCIP_INLINE float exp_approx(float x) {
  const bool underflow = x < -80.0f;
  x = x < -80.0f ? -80.0f : x;
  x = x > 88.7f ? 88.7f : x;
  // Round x/ln2 to the nearest integer with the 1.5 * 2^23 trick (exact without fast-math).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const std::uint32_t bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return underflow ? 0.0f : p * scale;
}


// silu(g) * u over rows (g, u rows strided by gs, us); keeps sigmoid(g) for backward.
template <class T>
MCIP_INLINE void swiglu_rows(const T* g, std::int64_t gs, const T* u, std::int64_t us, T* out, float* sig,
                             std::int64_t first, std::int64_t last, std::int64_t n) {
  for (std::int64_t r = first; r < last; ++r) {
    const T* gr = g + r * gs;
    const T* ur = u + r * us;
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) {
      const float gv = load(gr[i]);
      const float sv = 1.0f / (1.0f + exp_approx(-gv));
      sig[r * n + i] = sv;
      store(out[r * n + i], gv * sv * load(ur[i]));
    }
  }
}

template <class T>
MCIP_INLINE void swiglu_backward_rows(const T* g, std::int64_t gs, const T* u, std::int64_t us, const T* d,
                                      std::int64_t ds, const float* sig, T* dg, T* du, std::int64_t first,
                                      std::int64_t last, std::int64_t n) {
  for (std::int64_t r = first; r < last; ++r) {
    const T* gr = g + r * gs;
    const T* ur = u + r * us;
    const T* dr = d + r * ds;
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) {
      const float gv = load(gr[i]), uv = load(ur[i]), dy = load(dr[i]), sv = sig[r * n + i];
      // d silu(g)/dg = s * (1 + g * (1 - s))
      store(dg[r * n + i], dy * uv * sv * (1.0f + gv * (1.0f - sv)));
      store(du[r * n + i], dy * gv * sv);
    }
  }
}

MCIP_SIMD_CLONES void swiglu_rows_bf16(const std::uint16_t* g, std::int64_t gs, const std::uint16_t* u, std::int64_t us,
                                       std::uint16_t* out, float* sig, std::int64_t first, std::int64_t last,
                                       std::int64_t n) {
  swiglu_rows(g, gs, u, us, out, sig, first, last, n);
}
MCIP_SIMD_CLONES void swiglu_backward_rows_bf16(const std::uint16_t* g, std::int64_t gs, const std::uint16_t* u,
                                                std::int64_t us, const std::uint16_t* d, std::int64_t ds,
                                                const float* sig, std::uint16_t* dg, std::uint16_t* du,
                                                std::int64_t first, std::int64_t last, std::int64_t n) {
  swiglu_backward_rows(g, gs, u, us, d, ds, sig, dg, du, first, last, n);
}

const std::uint16_t* bits(const at::Tensor& t) { return reinterpret_cast<const std::uint16_t*>(t.data_ptr<at::BFloat16>()); }
std::uint16_t* mutable_bits(at::Tensor& t) { return reinterpret_cast<std::uint16_t*>(t.data_ptr<at::BFloat16>()); }

template <class acc>
inline acc sigmoid(acc v) {
  return acc(1) / (acc(1) + std::exp(-v));
}

struct SwiGlu : torch::autograd::Function<SwiGlu> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    RECORD_FUNCTION("mcip::swiglu", std::vector<c10::IValue>());
    const at::Tensor g2 = as_rows(gate), u2 = as_rows(up.to(gate.scalar_type()));
    const std::int64_t rows = g2.size(0), n = g2.size(1);
    at::Tensor out = at::empty({rows, n}, gate.options());
    // sigmoid(gate) in the accumulation type, kept for backward: the exponential is the
    // expensive part and backward then needs none.
    at::Tensor sig = at::empty({rows, n}, gate.options().dtype(gate.scalar_type() == at::kDouble ? at::kDouble : at::kFloat));
    if (gate.scalar_type() == at::kBFloat16) {  // the autocast case: vectorized rows
      at::parallel_for(0, rows, kGrain, [&](std::int64_t begin, std::int64_t end) {
        swiglu_rows_bf16(bits(g2), g2.stride(0), bits(u2), u2.stride(0), mutable_bits(out), sig.data_ptr<float>(), begin,
                         end, n);
      });
    } else AT_DISPATCH_FLOATING_TYPES(gate.scalar_type(), "mcip_swiglu", [&] {
      using acc = acc_t<scalar_t>;
      const scalar_t* gp = g2.data_ptr<scalar_t>();
      const scalar_t* up_ = u2.data_ptr<scalar_t>();
      scalar_t* op = out.data_ptr<scalar_t>();
      acc* sp = sig.data_ptr<acc>();
      const std::int64_t gs = g2.stride(0), us = u2.stride(0);
      at::parallel_for(0, rows, kGrain, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r)
          for (std::int64_t i = 0; i < n; ++i) {
            const acc g = static_cast<acc>(gp[r * gs + i]);
            const acc s = sigmoid(g);
            sp[r * n + i] = s;
            op[r * n + i] = static_cast<scalar_t>(g * s * static_cast<acc>(up_[r * us + i]));
          }
      });
    });
    ctx->save_for_backward({g2, u2, sig});
    ctx->saved_data["shape"] = gate.sizes().vec();
    ctx->saved_data["up_dtype"] = static_cast<std::int64_t>(up.scalar_type());
    return out.view(gate.sizes());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor g2 = saved[0], u2 = saved[1], sig = saved[2];
    const at::Tensor d = as_rows(grad_outputs[0].to(g2.scalar_type()));
    const std::int64_t rows = g2.size(0), n = g2.size(1);
    at::Tensor dg = at::empty({rows, n}, g2.options()), du = at::empty({rows, n}, g2.options());
    if (g2.scalar_type() == at::kBFloat16) {
      at::parallel_for(0, rows, kGrain, [&](std::int64_t begin, std::int64_t end) {
        swiglu_backward_rows_bf16(bits(g2), g2.stride(0), bits(u2), u2.stride(0), bits(d), d.stride(0), sig.data_ptr<float>(),
                                  mutable_bits(dg), mutable_bits(du), begin, end, n);
      });
    } else AT_DISPATCH_FLOATING_TYPES(g2.scalar_type(), "mcip_swiglu_bwd", [&] {
      using acc = acc_t<scalar_t>;
      const scalar_t* gp = g2.data_ptr<scalar_t>();
      const scalar_t* up_ = u2.data_ptr<scalar_t>();
      const scalar_t* dp = d.data_ptr<scalar_t>();
      const acc* sp = sig.data_ptr<acc>();
      scalar_t* dgp = dg.data_ptr<scalar_t>();
      scalar_t* dup = du.data_ptr<scalar_t>();
      const std::int64_t gs = g2.stride(0), us = u2.stride(0), ds = d.stride(0);
      at::parallel_for(0, rows, kGrain, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r)
          for (std::int64_t i = 0; i < n; ++i) {
            const acc g = static_cast<acc>(gp[r * gs + i]), u = static_cast<acc>(up_[r * us + i]);
            const acc dy = static_cast<acc>(dp[r * ds + i]);
            const acc s = sp[r * n + i];
            // d silu(g)/dg = s * (1 + g * (1 - s))
            dgp[r * n + i] = static_cast<scalar_t>(dy * u * s * (acc(1) + g * (acc(1) - s)));
            dup[r * n + i] = static_cast<scalar_t>(dy * g * s);
          }
      });
    });
    const auto shape = ctx->saved_data["shape"].toIntVector();
    const auto up_dtype = static_cast<at::ScalarType>(ctx->saved_data["up_dtype"].toInt());
    return {dg.view(shape), du.view(shape).to(up_dtype)};
  }
};

// softmax(x + bias) of one row; `buf` holds n floats of scratch. Masked keys (bias = fp32
// lowest) end at exp(< -80) = 0 exactly; a row whose keys are all masked has x + bias equal to
// lowest everywhere (x is absorbed) and gets the uniform row ATen's softmax gives.
template <class T>
MCIP_INLINE void softmax_row(const T* x, const float* bias, T* out, float* buf, std::int64_t n) {
  float mx = std::numeric_limits<float>::lowest();
#pragma omp simd reduction(max : mx)
  for (std::int64_t j = 0; j < n; ++j) {
    const float v = load(x[j]) + bias[j];
    buf[j] = v;
    mx = v > mx ? v : mx;
  }
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (std::int64_t j = 0; j < n; ++j) {
    const float e = exp_approx(buf[j] - mx);
    buf[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (std::int64_t j = 0; j < n; ++j) store(out[j], buf[j] * inv);
}

// ds = p * (dp - sum(p * dp)) of one row.
template <class T>
MCIP_INLINE void softmax_backward_row(const T* p, const T* dp, T* ds, std::int64_t n) {
  float dot = 0;
#pragma omp simd reduction(+ : dot)
  for (std::int64_t j = 0; j < n; ++j) dot += load(p[j]) * load(dp[j]);
#pragma omp simd
  for (std::int64_t j = 0; j < n; ++j) store(ds[j], load(p[j]) * (load(dp[j]) - dot));
}

// Rows [first, last) of scores [..., tq, n]; the bias row of score row r is
// bias[(r / rows_per_bias) * batch_stride + (r % tq) * row_stride ...] (a strided view: a block of a larger mask).
struct BiasLayout {
  std::int64_t tq, rows_per_bias, batch_stride, row_stride;
  const float* row(const float* bias, std::int64_t r) const {
    return bias + (r / rows_per_bias) * batch_stride + (r % tq) * row_stride;
  }
};

MCIP_SIMD_CLONES void softmax_rows_bf16(const std::uint16_t* x, const float* bias, std::uint16_t* out, float* buf,
                                        std::int64_t first, std::int64_t last, std::int64_t n, BiasLayout layout) {
  for (std::int64_t r = first; r < last; ++r) softmax_row(x + r * n, layout.row(bias, r), out + r * n, buf, n);
}
MCIP_SIMD_CLONES void softmax_rows_f32(const float* x, const float* bias, float* out, float* buf, std::int64_t first,
                                       std::int64_t last, std::int64_t n, BiasLayout layout) {
  for (std::int64_t r = first; r < last; ++r) softmax_row(x + r * n, layout.row(bias, r), out + r * n, buf, n);
}
MCIP_SIMD_CLONES void softmax_backward_rows_bf16(const std::uint16_t* p, const std::uint16_t* dp, std::uint16_t* ds,
                                                 std::int64_t first, std::int64_t last, std::int64_t n) {
  for (std::int64_t r = first; r < last; ++r) softmax_backward_row(p + r * n, dp + r * n, ds + r * n, n);
}
MCIP_SIMD_CLONES void softmax_backward_rows_f32(const float* p, const float* dp, float* ds, std::int64_t first,
                                                std::int64_t last, std::int64_t n) {
  for (std::int64_t r = first; r < last; ++r) softmax_backward_row(p + r * n, dp + r * n, ds + r * n, n);
}

// Softmax over the last dim of `scores` + an additive mask, for attention: the scores come out
// of a bf16 GEMM and the probabilities go into one, so storing them in fp32 (ATen's path: add
// with promotion, fp32 softmax, cast; backward: cast, fp32 softmax backward, cast) moves 3-4x
// the bytes. Math is fp32 here, storage the scores' dtype both ways; backward works from the
// saved probabilities. fp64 (gradient checks) takes the ATen composition.
struct MaskedSoftmax : torch::autograd::Function<MaskedSoftmax> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& scores, const at::Tensor& bias) {
    RECORD_FUNCTION("mcip::masked_softmax", std::vector<c10::IValue>());
    const std::int64_t tk = scores.size(-1), tq = scores.size(-2);
    const at::Tensor s = scores.contiguous();
    const std::int64_t rows = s.numel() / tk;
    // bias: [b or 1, 1, ..., tq, tk], broadcast over the middle (head) dims.
    // A block of a larger mask (causal query blocks) stays a strided view: no copy.
    const std::int64_t bias_batches = bias.size(0);
    at::Tensor bm = bias.reshape({bias_batches, tq, tk}).to(at::kFloat);
    if (bm.stride(2) != 1) bm = bm.contiguous();
    const BiasLayout layout{tq, bias_batches == 1 ? rows : rows / scores.size(0), bias_batches == 1 ? 0 : bm.stride(0),
                            bm.stride(1)};
    at::Tensor out = at::empty_like(s);
    const float* bp = bm.data_ptr<float>();
    at::parallel_for(0, rows, kGrain, [&](std::int64_t begin, std::int64_t end) {
      std::vector<float> buf(static_cast<size_t>(tk));
      if (s.scalar_type() == at::kBFloat16)
        softmax_rows_bf16(bits(s), bp, mutable_bits(out), buf.data(), begin, end, tk, layout);
      else
        softmax_rows_f32(s.data_ptr<float>(), bp, out.data_ptr<float>(), buf.data(), begin, end, tk, layout);
    });
    ctx->save_for_backward({out});
    return out.view(scores.sizes());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    RECORD_FUNCTION("mcip::masked_softmax_backward", std::vector<c10::IValue>());
    const at::Tensor p = ctx->get_saved_variables()[0];
    const at::Tensor dp = grad_outputs[0].to(p.scalar_type()).contiguous();
    const std::int64_t tk = p.size(-1), rows = p.numel() / tk;
    at::Tensor ds = at::empty_like(p);
    at::parallel_for(0, rows, kGrain, [&](std::int64_t begin, std::int64_t end) {
      if (p.scalar_type() == at::kBFloat16)
        softmax_backward_rows_bf16(bits(p), bits(dp), mutable_bits(ds), begin, end, tk);
      else
        softmax_backward_rows_f32(p.data_ptr<float>(), dp.data_ptr<float>(), ds.data_ptr<float>(), begin, end, tk);
    });
    return {ds, at::Tensor()};
  }
};

}  // namespace

at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, at::ScalarType out_dtype) {
  return RmsNorm::apply(x, weight, eps, static_cast<std::int64_t>(out_dtype));
}

at::Tensor fused_swiglu(const at::Tensor& gate, const at::Tensor& up) { return SwiGlu::apply(gate, up); }

bool fused_masked_softmax_applies(const at::Tensor& scores) {
  return scores.device().is_cpu() && (scores.scalar_type() == at::kBFloat16 || scores.scalar_type() == at::kFloat);
}

at::Tensor fused_masked_softmax(const at::Tensor& scores, const at::Tensor& bias) { return MaskedSoftmax::apply(scores, bias); }

}  // namespace mcip::train::detail
