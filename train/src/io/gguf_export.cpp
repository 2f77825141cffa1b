#include "mcip/gguf_export.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

#include <fmt/format.h>

#include "mcip/error.h"
#include "mcip/tokenizer.h"

namespace mcip::train {
namespace {

std::string tensor_bytes(const at::Tensor& t, gguf::TensorType type) {
  at::ScalarType st = type == gguf::TensorType::F32 ? at::kFloat : type == gguf::TensorType::F16 ? at::kHalf : at::kBFloat16;
  at::Tensor c = t.detach().to(c10::Device(c10::kCPU)).to(st).contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), static_cast<std::size_t>(c.nbytes()));
}

// llama3 RoPE scaling as llama.cpp expects it: per-frequency divisors in `rope_freqs.weight`,
// computed the way convert_hf_to_gguf.py does (deliberately not from the Decoder's inv_freq, so
// the llama.cpp comparison checks one against the other).
std::vector<float> llama3_rope_factors(const ModelConfig& c) {
  const RopeScaling& rs = c.rope_scaling;
  const double old_ctx = static_cast<double>(rs.original_max_position_embeddings);
  const double low_wavelen = old_ctx / rs.low_freq_factor, high_wavelen = old_ctx / rs.high_freq_factor;
  std::vector<float> factors;
  for (std::int64_t i = 0; i < c.head_dim; i += 2) {
    const float freq = 1.0f / std::pow(static_cast<float>(c.rope_theta), static_cast<float>(i) / static_cast<float>(c.head_dim));
    const double wavelen = 2 * M_PI / freq;
    if (wavelen < high_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      factors.push_back(static_cast<float>(rs.factor));
    } else {
      const double smooth = (old_ctx / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
      factors.push_back(static_cast<float>(1.0 / ((1 - smooth) / rs.factor + smooth)));
    }
  }
  return factors;
}

}  // namespace

at::Tensor permute_rope_rows(const at::Tensor& w, std::int64_t n_head) {
  std::vector<std::int64_t> shape(w.sizes().begin(), w.sizes().end());
  std::vector<std::int64_t> split{n_head, 2, w.size(0) / n_head / 2};
  split.insert(split.end(), shape.begin() + 1, shape.end());
  return w.reshape(split).transpose(1, 2).reshape(shape);
}

void export_gguf(Decoder& model, const tokenizer::SentencePiece& sp, const std::filesystem::path& out,
                       const GgufExportOptions& options) {
  const ModelConfig& c = model.config();
  const std::string origin = out.string();
  // llama.cpp's qwen2 architecture uses NeoX (rotate-half) RoPE like Hugging Face, so its q/k
  // rows are written as they are; llama/mistral use GGML's interleaved RoPE and need permuting.
  const bool qwen2 = c.model_type == "qwen2";
  const std::string arch = qwen2 ? "qwen2" : "llama";
  const bool permute = qwen2 == options.wrong_rope_layout_for_testing;
  if (!qwen2 && (c.o_bias || c.mlp_bias))
    throw InputError(origin, 0, "attention_bias", "o_proj/MLP biases are not exported yet");
  if (qwen2 && c.rope_scaling.kind == RopeScaling::Kind::Llama3)
    throw InputError(origin, 0, "rope_scaling", "llama3 rope scaling is only exported for the llama architecture");
  if (c.sliding_window && *c.sliding_window < c.max_position_embeddings)
    throw InputError(origin, 0, "sliding_window", "sliding-window attention is not exported");
  if (sp.vocab_size() > c.vocab_size)
    throw InputError(origin, 0, "vocab_size",
                     fmt::format("tokenizer has {} pieces, the embedding {} rows", sp.vocab_size(), c.vocab_size));
  for (auto& [name, lin] : model.named_linears())
    if (lin->lora && !lin->lora->merged)
      throw InputError(origin, 0, name, "unmerged LoRA adapter: call merge_lora before exporting");

  gguf::Writer w;
  w.add_string("general.architecture", arch);
  w.add_string("general.type", "model");
  w.add_string("general.name", options.name);
  w.add_u32("general.file_type", options.type == gguf::TensorType::F32 ? 0 : options.type == gguf::TensorType::F16 ? 1 : 32);
  w.add_u32(arch + ".vocab_size", static_cast<std::uint32_t>(c.vocab_size));
  w.add_u32(arch + ".context_length", static_cast<std::uint32_t>(c.max_position_embeddings));
  w.add_u32(arch + ".embedding_length", static_cast<std::uint32_t>(c.hidden_size));
  w.add_u32(arch + ".block_count", static_cast<std::uint32_t>(c.num_hidden_layers));
  w.add_u32(arch + ".feed_forward_length", static_cast<std::uint32_t>(c.intermediate_size));
  w.add_u32(arch + ".attention.head_count", static_cast<std::uint32_t>(c.num_attention_heads));
  w.add_u32(arch + ".attention.head_count_kv", static_cast<std::uint32_t>(c.num_key_value_heads));
  w.add_f32(arch + ".attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  w.add_f32(arch + ".rope.freq_base", static_cast<float>(c.rope_theta));
  w.add_u32(arch + ".rope.dimension_count", static_cast<std::uint32_t>(c.head_dim));
  if (c.head_dim * c.num_attention_heads != c.hidden_size) {
    w.add_u32(arch + ".attention.key_length", static_cast<std::uint32_t>(c.head_dim));
    w.add_u32(arch + ".attention.value_length", static_cast<std::uint32_t>(c.head_dim));
  }
  if (c.rope_scaling.kind == RopeScaling::Kind::Linear) {
    w.add_string(arch + ".rope.scaling.type", "linear");
    w.add_f32(arch + ".rope.scaling.factor", static_cast<float>(c.rope_scaling.factor));
  }

  // SentencePiece vocabulary; rows beyond the tokenizer are padding, as convert_hf_to_gguf.py does.
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<std::int32_t> types;
  for (int i = 0; i < c.vocab_size; ++i) {
    if (i < sp.vocab_size()) {
      tokens.push_back(sp.piece(i));
      scores.push_back(sp.score(i));
      types.push_back(static_cast<std::int32_t>(sp.kind(i)));
    } else {
      tokens.push_back(fmt::format("[PAD{}]", i));
      scores.push_back(-1000.0f);
      types.push_back(static_cast<std::int32_t>(tokenizer::PieceKind::Unused));
    }
  }
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_string_array("tokenizer.ggml.tokens", tokens);
  w.add_f32_array("tokenizer.ggml.scores", scores);
  w.add_i32_array("tokenizer.ggml.token_type", types);
  if (sp.bos_id() >= 0) w.add_u32("tokenizer.ggml.bos_token_id", static_cast<std::uint32_t>(sp.bos_id()));
  if (sp.eos_id() >= 0) w.add_u32("tokenizer.ggml.eos_token_id", static_cast<std::uint32_t>(sp.eos_id()));
  if (sp.unk_id() >= 0) w.add_u32("tokenizer.ggml.unknown_token_id", static_cast<std::uint32_t>(sp.unk_id()));
  if (sp.pad_id() >= 0) w.add_u32("tokenizer.ggml.padding_token_id", static_cast<std::uint32_t>(sp.pad_id()));
  w.add_bool("tokenizer.ggml.add_bos_token", true);
  w.add_bool("tokenizer.ggml.add_eos_token", false);
  w.add_bool("tokenizer.ggml.add_space_prefix", true);

  c10::NoGradGuard no_grad;
  const auto type = options.type;
  const auto f32 = gguf::TensorType::F32;
  auto add = [&](const std::string& name, const at::Tensor& t, gguf::TensorType tt) {
    w.add_tensor(name, tt, std::vector<std::int64_t>(t.sizes().begin(), t.sizes().end()), tensor_bytes(t, tt));
  };
  auto add_linear = [&](const std::string& base, const Linear& l, std::int64_t permute_heads) {
    if (!permute) permute_heads = 0;
    at::Tensor weight = permute_heads ? permute_rope_rows(l.weight, permute_heads) : l.weight;
    add(base + ".weight", weight, type);
    if (l.bias.defined()) add(base + ".bias", permute_heads ? permute_rope_rows(l.bias, permute_heads) : l.bias, f32);
  };
  add("token_embd.weight", model.embed_tokens, type);
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    const DecoderLayer& l = model.layers[i];
    const std::string p = fmt::format("blk.{}.", i);
    add(p + "attn_norm.weight", l.input_layernorm, f32);
    add_linear(p + "attn_q", l.q_proj, c.num_attention_heads);
    add_linear(p + "attn_k", l.k_proj, c.num_key_value_heads);
    add_linear(p + "attn_v", l.v_proj, 0);
    add_linear(p + "attn_output", l.o_proj, 0);
    add(p + "ffn_norm.weight", l.post_attention_layernorm, f32);
    add_linear(p + "ffn_gate", l.gate_proj, 0);
    add_linear(p + "ffn_up", l.up_proj, 0);
    add_linear(p + "ffn_down", l.down_proj, 0);
  }
  if (c.rope_scaling.kind == RopeScaling::Kind::Llama3) {
    const std::vector<float> factors = llama3_rope_factors(c);
    w.add_tensor("rope_freqs.weight", f32, {static_cast<std::int64_t>(factors.size())},
                 {reinterpret_cast<const char*>(factors.data()), factors.size() * sizeof(float)});
  }
  add("output_norm.weight", model.norm, f32);
  if (!c.tie_word_embeddings) add("output.weight", model.lm_head, type);
  w.write(out);
}

}  // namespace mcip::train
