// Decoder + SentencePiece tokenizer -> GGUF for llama.cpp ("llama" architecture), following
// llama.cpp's convert_hf_to_gguf.py: tensor names, hyper-parameter keys, SentencePiece vocab in
// tokenizer.ggml.*, and the q/k row permutation from HF's rotate-half to GGML's interleaved RoPE.
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
  // Only for tests that prove the llama.cpp comparison would notice a missing permutation.
  bool permute_qk = true;
};

// Throws InputError for models the llama architecture cannot express (qwen2, llama3 rope
// scaling, sliding windows, a tokenizer larger than the embedding). LoRA adapters must be merged
// (merge_lora) or absent.
void export_llama_gguf(Decoder& model, const tokenizer::SentencePiece& sp, const std::filesystem::path& out,
                       const GgufExportOptions& options = {});

// HF rotate-half row order -> GGML interleaved order for q_proj/k_proj weights or biases
// (LlamaModel.permute in convert_hf_to_gguf.py).
at::Tensor permute_rope_rows(const at::Tensor& w, std::int64_t n_head);

}  // namespace mcip::train
