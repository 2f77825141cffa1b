#include "recompute.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

namespace mcip::train::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Inputs: hidden, cos, sin, mask_bias, then the layer's parameters (so their gradients flow
// through this node), then non-tensor arguments (which backward answers with undefined).
struct RecomputedLayer : torch::autograd::Function<RecomputedLayer> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& cos,
                            const at::Tensor& sin, const at::Tensor& mask_bias, at::TensorList params, Decoder* model,
                            std::int64_t layer, at::Generator* gen) {
    // Dropout must draw the same masks when the layer is rerun: keep a copy of the generator.
    at::Generator snapshot = gen->clone();
    at::Tensor out = model->layer_forward(layer, hidden, {cos, sin, mask_bias}, gen);
    ctx->save_for_backward({hidden, cos, sin, mask_bias});
    ctx->saved_data["model"] = reinterpret_cast<std::int64_t>(model);  // IValue has no raw pointers
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["gen"] = snapshot;
    ctx->saved_data["n_params"] = static_cast<std::int64_t>(params.size());
    ctx->saved_data["autocast_cpu"] = at::autocast::is_cpu_enabled();
    ctx->saved_data["autocast_cpu_dtype"] = static_cast<std::int64_t>(at::autocast::get_autocast_cpu_dtype());
    ctx->saved_data["autocast_cuda"] = at::autocast::is_enabled();
    ctx->saved_data["autocast_cuda_dtype"] = static_cast<std::int64_t>(at::autocast::get_autocast_gpu_dtype());
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    auto* model = reinterpret_cast<Decoder*>(ctx->saved_data["model"].toInt());
    const std::int64_t layer = ctx->saved_data["layer"].toInt();
    const auto n_params = static_cast<std::size_t>(ctx->saved_data["n_params"].toInt());
    at::Generator gen = ctx->saved_data["gen"].toGenerator().clone();

    // Rerun under the autocast state of the original forward, with gradients on.
    const bool prev_cpu = at::autocast::is_cpu_enabled(), prev_cuda = at::autocast::is_enabled();
    const auto prev_cpu_dtype = at::autocast::get_autocast_cpu_dtype();
    const auto prev_cuda_dtype = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_cpu_enabled(ctx->saved_data["autocast_cpu"].toBool());
    at::autocast::set_autocast_cpu_dtype(static_cast<at::ScalarType>(ctx->saved_data["autocast_cpu_dtype"].toInt()));
    at::autocast::set_enabled(ctx->saved_data["autocast_cuda"].toBool());
    at::autocast::set_autocast_gpu_dtype(static_cast<at::ScalarType>(ctx->saved_data["autocast_cuda_dtype"].toInt()));
    struct Restore {
      bool cpu, cuda;
      at::ScalarType cpu_dtype, cuda_dtype;
      ~Restore() {
        at::autocast::clear_cache();
        at::autocast::set_cpu_enabled(cpu);
        at::autocast::set_autocast_cpu_dtype(cpu_dtype);
        at::autocast::set_enabled(cuda);
        at::autocast::set_autocast_gpu_dtype(cuda_dtype);
      }
    } restore{prev_cpu, prev_cuda, prev_cpu_dtype, prev_cuda_dtype};

    const bool hidden_needs_grad = ctx->needs_input_grad(0);
    at::Tensor hidden = saved[0].detach().requires_grad_(hidden_needs_grad);
    at::Tensor out;
    {
      c10::AutoGradMode grad_on(true);
      out = model->layer_forward(layer, hidden, {saved[1], saved[2], saved[3]}, &gen);
    }
    // Differentiate with respect to everything the outer graph asked for.
    std::vector<at::Tensor> params = model->layer_parameters(layer);
    variable_list wrt;
    std::vector<std::size_t> slots;  // index into the result list
    if (hidden_needs_grad) {
      wrt.push_back(hidden);
      slots.push_back(0);
    }
    for (std::size_t i = 0; i < n_params && i < params.size(); ++i)
      if (ctx->needs_input_grad(4 + i) && params[i].requires_grad()) {
        wrt.push_back(params[i]);
        slots.push_back(4 + i);
      }
    // hidden, cos, sin, mask, params..., model, layer, gen
    variable_list result(4 + n_params + 3);
    if (wrt.empty()) return result;
    variable_list grads = torch::autograd::grad({out}, wrt, {grad_outputs[0]}, /*retain_graph=*/false,
                                                /*create_graph=*/false, /*allow_unused=*/true);
    for (std::size_t i = 0; i < grads.size(); ++i) result[slots[i]] = grads[i];
    return result;
  }
};

}  // namespace

at::Tensor recomputed_layer(Decoder& model, std::int64_t layer, const at::Tensor& hidden,
                            const Decoder::LayerInputs& inputs, at::Generator* gen) {
  std::vector<at::Tensor> params = model.layer_parameters(layer);
  return RecomputedLayer::apply(hidden, inputs.cos, inputs.sin, inputs.mask_bias, at::TensorList(params), &model,
                                layer, gen);
}

}  // namespace mcip::train::detail
