// A GGUF LoRA adapter for llama.cpp (`--lora`), laid out as llama.cpp's convert_lora_to_gguf.py
// writes it: general.type "adapter", adapter.type "lora", adapter.lora.alpha, tensors
// `<base GGUF name>.lora_a` [r, in] / `.lora_b` [out, r] (dims reversed on disk), and for the
// llama architecture the q/k RoPE row permutation applied to lora_b only.
#pragma once
#include <filesystem>
#include <string>

#include "mcip/lora.h"
#include "mcip/model.h"

namespace mcip::guard {

// `model` carries unmerged adapters. llama.cpp scales by alpha / r, so an rsLoRA adapter
// (alpha / sqrt(r)) is written with alpha * sqrt(r). Throws InputError for merged adapters.
void export_gguf_lora(train::Decoder& model, const train::LoraConfig& lora, const std::filesystem::path& out,
                      const std::string& name);

}  // namespace mcip::guard
