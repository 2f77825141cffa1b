// The guardian's decoder: one config-driven implementation of the Hugging Face Llama family
// (llama, mistral, qwen2) on plain ATen tensors, with LoRA-capable linear layers, a sequence
// classification head (`score`) and the LM head. Parameters keep their Hugging Face names so
// checkpoints map one to one.
//
// Attention is written by hand for LibTorch 1.13 (no SDPA): causal + padding (+ optional
// packing-segment and sliding-window) mask, grouped-query attention computed per KV head
// without repeating K/V, softmax in fp32.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "mcip/model_config.h"

namespace mcip::train {

// LoRA adapter attached to one Linear: y = W x + b + scale * B(A(dropout(x))).
struct LoraAdapter {
  at::Tensor A;  // [rank, in], fp32, trainable
  at::Tensor B;  // [out, rank], fp32, trainable
  std::int64_t rank = 0;
  double alpha = 0, scale = 0, dropout = 0;
  bool merged = false;  // scale*B@A has been added into the base weight
};

struct Linear {
  at::Tensor weight;  // [out, in] (HF layout)
  at::Tensor bias;    // [out] or undefined
  std::unique_ptr<LoraAdapter> lora;
};

struct DecoderLayer {
  at::Tensor input_layernorm, post_attention_layernorm;
  Linear q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj;
};

// One batch. attention_mask: 1 = token, 0 = padding, either side. position_ids default to
// cumsum(mask) - 1, which is right for left and right padding alike. segment_ids (optional)
// stop attention across packed examples; with packing pass position_ids restarting per segment.
struct Batch {
  at::Tensor input_ids;       // [b, t] int64
  at::Tensor attention_mask;  // [b, t] (bool or integer); undefined = all ones
  at::Tensor position_ids;    // [b, t] int64; optional
  at::Tensor segment_ids;     // [b, t] int64; optional
};

// Keys/values of the tokens seen so far, for incremental decoding (generation, label scoring
// after a shared prefix). Keys are stored after RoPE; one entry per layer.
struct KvCache {
  std::vector<at::Tensor> keys, values;  // [b, kv_heads, T, head_dim]
  at::Tensor attention_mask;             // [b, T] of every token fed so far
  std::int64_t length() const { return attention_mask.defined() ? attention_mask.size(1) : 0; }
};

class Decoder {
 public:
  // Allocates uninitialised parameters (zeros) in `dtype` on `device`.
  Decoder(ModelConfig config, at::ScalarType dtype = at::kFloat, c10::Device device = c10::Device(c10::kCPU));
  Decoder(Decoder&&) noexcept;
  Decoder& operator=(Decoder&&) noexcept;
  ~Decoder();

  // Random initialisation like transformers' (normal(0, 0.02) for linears and embeddings, ones
  // for norms) except that biases are normal(0, 0.02) too, so tests see them take effect. Drawn
  // on CPU in fp32 from `seed`, so every device and dtype gets the same model.
  static Decoder random(const ModelConfig& config, std::uint64_t seed, at::ScalarType dtype = at::kFloat,
                        c10::Device device = c10::Device(c10::kCPU));

  const ModelConfig& config() const { return config_; }
  ModelConfig& mutable_config() { return config_; }
  c10::Device device() const;

  // The Hugging Face state dict: name -> tensor (lm_head absent when tied, score only with
  // labels, LoRA adapters excluded). Pointers stay valid for the Decoder's lifetime.
  std::vector<std::pair<std::string, at::Tensor*>> named_tensors();
  // LoRA adapter tensors in PEFT on-disk naming
  // (base_model.model.<module>.lora_A.weight / lora_B.weight).
  std::vector<std::pair<std::string, at::Tensor*>> named_lora_tensors();
  // Every linear layer by HF module path (e.g. model.layers.0.self_attn.q_proj).
  std::vector<std::pair<std::string, Linear*>> named_linears();
  // Tensors with requires_grad set.
  std::vector<at::Tensor> trainable_parameters();

  // Freezes everything (requires_grad=false); LoRA and the trainer unfreeze what they train.
  void freeze_all();
  // Casts base weights (not LoRA adapters, which stay fp32) to `dtype`, moves all to `device`.
  void to(c10::Device device, std::optional<at::ScalarType> base_dtype = std::nullopt);

  // Dropout (LoRA) is active only in training mode; draws come from this model's generator.
  void train(bool on) { training_ = on; }
  bool is_training() const { return training_; }
  void seed_dropout(std::uint64_t seed);
  at::Generator& dropout_generator() { return dropout_gen_; }

  // Activation recomputation: layers keep only their inputs and rerun in backward.
  void set_recompute(bool on) { recompute_ = on; }
  bool recompute() const { return recompute_; }
  // Under autocast, frozen projections that read the same input (q|k|v, gate|up) run as one GEMM
  // over their weights concatenated once in the autocast dtype (o and down over their own weight
  // cast once), instead of autocast casting each weight at every call. Rebuilt when a weight changes (in place or replaced). On by default;
  // costs one copy of those weights in the autocast dtype.
  void set_fuse_frozen_projections(bool on) { fuse_frozen_ = on; }
  // LoRA linears over a frozen base run as one autograd function (train/src/model/lora_linear.h)
  // that accumulates the adapters into the base GEMM's output and input gradient. On by default;
  // off gives the plain ATen composition (tests compare the two).
  void set_fused_lora(bool on) { fused_lora_ = on; }
  // Attention's masked softmax as one CPU kernel in the scores' dtype (see grouped_query_attention).
  void set_fused_softmax(bool on) { fused_softmax_ = on; }
  // Causal attention in two query blocks, skipping the masked quarter (see grouped_query_attention).
  void set_causal_blocks(bool on) { causal_blocks_ = on; }

  // Final-norm hidden states [b, t, hidden].
  at::Tensor hidden_states(const Batch& batch);
  // The same for `batch` fed after the tokens already in `cache` (which it then extends). The
  // batch's attention_mask covers only its new tokens; positions continue from the cache.
  // Segment ids and recomputation do not apply here.
  at::Tensor hidden_states(const Batch& batch, KvCache& cache);
  // Greedy decoding with a KV cache: up to `max_new_tokens` per row after the (left- or
  // right-padded) prompt; a row stops after emitting `stop_token` (kept in its output).
  std::vector<std::vector<std::int64_t>> generate_greedy(const Batch& prompt, std::int64_t max_new_tokens,
                                                          std::optional<std::int64_t> stop_token);
  // Hidden state of each row's rightmost non-pad token [b, hidden].
  static at::Tensor pool_last(const at::Tensor& hidden, const at::Tensor& attention_mask);
  // Sequence-classification logits [b, num_labels] from the pooled hidden state.
  at::Tensor classify(const Batch& batch);
  at::Tensor score(const at::Tensor& pooled) const;
  // LM logits for every position [b, t, vocab] (fp32).
  at::Tensor lm_logits(const at::Tensor& hidden) const;
  // Next-token logits after each row's last non-pad token [b, vocab] (fp32).
  at::Tensor next_token_logits(const Batch& batch);
  // Label-token scoring: probability of each choice token (e.g. letters A-K) as the next
  // token. Returns [b, n] full-vocabulary probabilities (renormalise over the choices if wanted).
  at::Tensor choice_probabilities(const Batch& batch, const std::vector<std::int64_t>& choice_token_ids);

  // Internal API shared with the recomputation autograd function.
  struct LayerInputs {
    at::Tensor cos, sin;     // [b, 1, t, head_dim]
    at::Tensor mask_bias;    // [b, 1, 1, t, t] fp32 additive
  };
  at::Tensor layer_forward(std::int64_t layer, const at::Tensor& hidden, const LayerInputs& in, at::Generator* gen,
                           KvCache* cache = nullptr);
  at::Tensor linear_forward(const Linear& linear, const at::Tensor& x, at::Generator* gen) const;
  // The outputs of several linears applied to one input (fused when possible, see above).
  std::vector<at::Tensor> projections(std::size_t slot, const std::vector<const Linear*>& parts, const at::Tensor& x,
                                      at::Generator* gen);
  std::vector<at::Tensor> layer_parameters(std::int64_t layer);

  at::Tensor embed_tokens, norm, lm_head, score_weight;
  std::vector<DecoderLayer> layers;

 private:
  at::Tensor attention(std::int64_t layer, const at::Tensor& x, const LayerInputs& in, at::Generator* gen,
                       KvCache* cache);
  void check_ids(const at::Tensor& ids) const;
  at::Tensor inv_freq() const;
  // `mask` covers every key (cached + new); the queries are its last `queries` positions.
  LayerInputs layer_inputs(const Batch& batch, const at::Tensor& mask, std::int64_t queries) const;
  const at::Tensor& output_embedding() const { return config_.tie_word_embeddings ? embed_tokens : lm_head; }

  struct FusedProjection {
    at::Tensor weight, bias;           // parts concatenated along the output dimension, in `dtype`
    at::ScalarType dtype = at::kFloat;
    std::vector<at::Tensor> sources;   // the part tensors it was built from (held: no address reuse)
    std::vector<std::int64_t> versions;
  };
  const FusedProjection* fused_projection(std::size_t slot, const std::vector<const Linear*>& parts, at::ScalarType dtype);
  at::Tensor lora_delta(const LoraAdapter& lora, at::Tensor h, at::Generator* gen) const;
  // Whether `parts` (computed as one GEMM over `weight`) can run through the fused LoRA function.
  bool fused_lora_applies(const std::vector<const Linear*>& parts, const at::Tensor& weight, const at::Tensor& x) const;
  at::Tensor final_norm(const at::Tensor& x) const;

  ModelConfig config_;
  bool training_ = false;
  bool recompute_ = false;
  bool fuse_frozen_ = true;
  bool fused_lora_ = true;
  bool fused_softmax_ = true;
  bool causal_blocks_ = true;
  std::vector<FusedProjection> fused_;  // slots 4*layer + 0: q|k|v, 1: gate|up, 2: o, 3: down
  at::Generator dropout_gen_;
};

// RMSNorm as in transformers: normalise in fp32, cast back, then scale.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
// Rotary embedding, Hugging Face rotate-half convention (x*cos + rotate_half(x)*sin).
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
// Grouped-query attention on [b, heads, t, d] queries and [b, kv_heads, t, d] keys/values
// with an fp32 additive mask broadcastable to [b, 1, 1, t, t]. Returns [b, heads, t, d].
// fused_softmax: on CPU, softmax(scores + mask) as one kernel that keeps the probabilities in
// the scores' dtype (bf16 under autocast) and computes in fp32; off: the ATen composition.
// causal_blocks: the mask is causal (query i sees no key after i) and q, k cover the same
// positions: from 64 positions on, the first half of the queries runs against the first half of
// the keys only (exact for every query that sees any key).
at::Tensor grouped_query_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const at::Tensor& mask_bias, bool fused_softmax = true, bool causal_blocks = false);
// fp32 additive mask [b, 1, 1, q, t] for the last q of t positions (q = t without a cache):
// causal, padding, optional segments and sliding window.
at::Tensor attention_mask_bias(const at::Tensor& attention_mask, const at::Tensor& segment_ids,
                               std::optional<std::int64_t> sliding_window, std::int64_t queries = -1);

// CPU (and CUDA) bf16 autocast for the scope of this object; restores the previous state.
class AutocastScope {
 public:
  AutocastScope(c10::Device device, bool enabled, at::ScalarType dtype = at::kBFloat16);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false, cuda_ = false, prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

}  // namespace mcip::train
