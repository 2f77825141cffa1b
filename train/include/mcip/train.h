// mcip_train: the LibTorch side of mcip (device selection now; model, LoRA and the trainer
// follow). Only this component and mcip-guard include LibTorch headers.
#pragma once
#include <string>
#include <string_view>

#include <c10/core/Device.h>

namespace mcip::train {

// Resolves a config's `device: auto|cpu|cuda[:N]`. auto picks CUDA when this LibTorch has
// it and a GPU is visible. Asking for CUDA without it is an InputError naming `field`.
c10::Device resolve_device(std::string_view spec, const std::string& field = "device");

// One paragraph describing the runtime: LibTorch version, CUDA, threads, bf16 support.
std::string runtime_summary();

}  // namespace mcip::train
