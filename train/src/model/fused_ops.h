// Hand-fused CPU kernels for the elementwise blocks that dominate a LoRA step after the GEMMs
// (measured with bench_train --profile): RMSNorm, SwiGLU and the attention's masked softmax. ATen runs each as 5-10
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

// softmax(scores + bias, -1) in scores' dtype (fp32 math). scores: [b, ..., tq, tk] bf16 or fp32
// on CPU (fused_masked_softmax_applies); bias: fp32 additive mask [b or 1, 1, ..., tq, tk]
// (broadcast over the middle dims), no gradient; masked entries hold the fp32 lowest value, as
// attention_mask_bias writes them.
bool fused_masked_softmax_applies(const at::Tensor& scores);
at::Tensor fused_masked_softmax(const at::Tensor& scores, const at::Tensor& bias);

}  // namespace mcip::train::detail
