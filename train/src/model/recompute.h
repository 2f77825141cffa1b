// Activation recomputation for one decoder layer (LibTorch 1.13 has no checkpoint helper).
#pragma once
#include <ATen/core/Tensor.h>

#include "mcip/model.h"

namespace mcip::train::detail {

// Runs layer `layer` without keeping its activations; backward reruns it (same dropout draws,
// same autocast state) and differentiates the rerun. Layer parameters are inputs of the autograd
// node, so LoRA weights get gradients even when `hidden` does not require grad.
at::Tensor recomputed_layer(Decoder& model, std::int64_t layer, const at::Tensor& hidden,
                            const Decoder::LayerInputs& inputs, at::Generator* gen);

}  // namespace mcip::train::detail
