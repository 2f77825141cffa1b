#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <fmt/format.h>

#include "mcip/error.h"
#include "mcip/train.h"

namespace mcip::train {

c10::Device resolve_device(std::string_view spec, const std::string& field) {
  const bool cuda = torch::cuda::is_available();
  if (spec == "auto") return cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec.rfind("cuda", 0) == 0) {
    if (!cuda)
      throw InputError("", 0, field,
                       fmt::format("'{}' requested but this LibTorch has no usable CUDA device (build with "
                                   "-DTorch_DIR=<CUDA libtorch> and check nvidia-smi), or use 'auto'",
                                   spec));
    try {
      c10::Device d{std::string(spec)};
      if (d.index() >= static_cast<int>(torch::cuda::device_count()))
        throw InputError("", 0, field, fmt::format("'{}': only {} CUDA devices visible", spec, torch::cuda::device_count()));
      return d;
    } catch (const c10::Error&) {
      throw InputError("", 0, field, fmt::format("'{}' is not a device (expected auto, cpu, cuda or cuda:N)", spec));
    }
  }
  throw InputError("", 0, field, fmt::format("'{}' is not a device (expected auto, cpu, cuda or cuda:N)", spec));
}

std::string runtime_summary() {
  return fmt::format("LibTorch {} | CUDA {} ({} devices) | intra-op threads {} | mkldnn bf16 {}", TORCH_VERSION,
                     torch::cuda::is_available() ? "available" : "not available", torch::cuda::device_count(),
                     at::get_num_threads(), at::hasMKLDNN() ? "yes" : "no");
}

}  // namespace mcip::train
