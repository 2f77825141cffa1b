#include "fused_ops.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

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

template <class acc>
inline acc sigmoid(acc v) {
  return acc(1) / (acc(1) + std::exp(-v));
}

struct SwiGlu : torch::autograd::Function<SwiGlu> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    const at::Tensor g2 = as_rows(gate), u2 = as_rows(up.to(gate.scalar_type()));
    const std::int64_t rows = g2.size(0), n = g2.size(1);
    at::Tensor out = at::empty({rows, n}, gate.options());
    // sigmoid(gate) in the accumulation type, kept for backward: the exponential is the
    // expensive part and backward then needs none.
    at::Tensor sig = at::empty({rows, n}, gate.options().dtype(gate.scalar_type() == at::kDouble ? at::kDouble : at::kFloat));
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, gate.scalar_type(), "mcip_swiglu", [&] {
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
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, g2.scalar_type(), "mcip_swiglu_bwd", [&] {
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

}  // namespace

at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, at::ScalarType out_dtype) {
  return RmsNorm::apply(x, weight, eps, static_cast<std::int64_t>(out_dtype));
}

at::Tensor fused_swiglu(const at::Tensor& gate, const at::Tensor& up) { return SwiGlu::apply(gate, up); }

}  // namespace mcip::train::detail
