// Frozen linear(s) + LoRA adapters as one autograd function with one output buffer.
//
// The ATen composition `linear(x, W) + scale * linear(linear(x, A), B)` writes the base output,
// a separate full-width delta, then their sum, and in backward sums the input gradients of the
// base and of every adapter reading the same x. Here the adapters' products are accumulated into
// the base GEMM's output (addmm_) and into the base's input gradient (addmm_), the A matrices
// of all parts run as one GEMM, and no gradient is formed for the frozen W and bias.
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

namespace mcip::train::detail {

struct LoraPart {
  std::int64_t out = 0;  // this part's rows of the (concatenated) weight
  at::Tensor A, B;       // [rank, in], [out, rank]; undefined = a part without adapter
  double scale = 0;
};

// y = x W^T + bias, with y[..., part] += scale * (x A^T) B^T for every part that has an adapter.
// x: [..., in]; weight: [sum(out), in] frozen, in x's dtype; bias: [sum(out)] or undefined,
// frozen. A and B may be in another dtype (fp32 adapters under bf16 autocast): they are cast to
// x's dtype for the GEMMs and their gradients returned in their own dtype.
at::Tensor fused_lora_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                             const std::vector<LoraPart>& parts);

}  // namespace mcip::train::detail
