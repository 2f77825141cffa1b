// Hand-fused CPU kernels for the two elementwise blocks that dominate a LoRA step after the
// GEMMs (measured with bench_train --profile): RMSNorm and SwiGLU. ATen runs each as 5-10
// passes over the activations, with dtype casts in between under autocast; these make one pass
// forward and one backward, computing in fp32 (fp64 stays fp64) whatever the storage dtype.
// CPU only; other devices use the ATen composition in decoder.cpp.
#pragma once
#include <ATen/core/Tensor.h>

namespace mcip::train::detail {

// weight * x / rms(x), written in `out_dtype` (the dtype the next GEMM reads). x: [..., h].
at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, at::ScalarType out_dtype);

// silu(gate) * up, in gate's dtype. gate, up: [..., n] with unit stride in the last dim.
at::Tensor fused_swiglu(const at::Tensor& gate, const at::Tensor& up);

}  // namespace mcip::train::detail
