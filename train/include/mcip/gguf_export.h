// Decoder + SentencePiece tokenizer -> GGUF for llama.cpp, following llama.cpp's
// convert_hf_to_gguf.py: llama/mistral as the "llama" architecture (with the q/k row permutation
// from HF's rotate-half to GGML's interleaved RoPE), qwen2 as "qwen2" (q/k/v biases, NeoX RoPE,
// no permutation); tensor names, hyper-parameter keys, SentencePiece vocab in tokenizer.ggml.*.
#pragma once
#include <filesystem>
#include <string>

#include <ATen/core/Tensor.h>

#include "mcip/gguf.h"
#include "mcip/model.h"

namespace mcip::tokenizer {
class SentencePiece;
}

namespace mcip::train {

struct GgufExportOptions {
  gguf::TensorType type = gguf::TensorType::F32;  // matrices; norms are always F32
  std::string name = "mcip-guardian";
  // Writes q/k rows in the wrong RoPE layout for the architecture (permuted for qwen2, not for
  // llama). Only for tests proving the llama.cpp comparison notices a layout mistake.
  bool wrong_rope_layout_for_testing = false;
};

// llama3 RoPE scaling is written as llama.cpp's `rope_freqs.weight`, linear as
// rope.scaling.{type,factor}. Throws InputError for what this writer cannot express yet (sliding
// windows, llama o_proj/MLP biases, llama3 scaling on qwen2) and for a tokenizer larger than the
// embedding. LoRA adapters must
// be merged (merge_lora) or absent.
void export_gguf(Decoder& model, const tokenizer::SentencePiece& sp, const std::filesystem::path& out,
                       const GgufExportOptions& options = {});

// HF rotate-half row order -> GGML interleaved order for q_proj/k_proj weights or biases
// (LlamaModel.permute in convert_hf_to_gguf.py).
at::Tensor permute_rope_rows(const at::Tensor& w, std::int64_t n_head);

}  // namespace mcip::train
