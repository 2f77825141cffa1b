#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "mcip/error.h"
#include "mcip/model.h"
#include "fused_ops.h"
#include "lora_linear.h"
#include "recompute.h"

namespace mcip::train {
namespace {

bool autocast_active(const at::Tensor& x) {
  return x.is_cuda() ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}

at::ScalarType autocast_dtype(const at::Tensor& x) {
  return x.is_cuda() ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}

at::Tensor dropout(const at::Tensor& x, double p, at::Generator* gen) {
  // Masks are drawn on the model's CPU generator so runs are reproducible whatever the device.
  at::Tensor keep = at::empty(x.sizes(), at::TensorOptions().dtype(at::kFloat)).bernoulli_(1.0 - p, *gen);
  return x * keep.to(x.device(), x.scalar_type()).div_(1.0 - p);
}

bool fused_kernels_apply(const at::Tensor& x) {
  const auto t = x.scalar_type();
  return x.device().is_cpu() && (t == at::kFloat || t == at::kBFloat16 || t == at::kDouble);
}

Linear make_linear(std::int64_t out, std::int64_t in, bool bias, const at::TensorOptions& opt) {
  Linear l;
  l.weight = at::zeros({out, in}, opt);
  if (bias) l.bias = at::zeros({out}, opt);
  return l;
}

}  // namespace

// Reductions and softmax run in fp32 at least (fp64 stays fp64 for gradient checks).
static at::ScalarType accumulate_type(at::ScalarType t) { return at::promote_types(t, at::kFloat); }

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor x32 = x.to(accumulate_type(x.scalar_type()));
  at::Tensor y = x32 * at::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * y.to(x.scalar_type());
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const std::int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  at::Tensor rotated = at::cat({-x2, x1}, -1);
  return x * cos.to(x.scalar_type()) + rotated * sin.to(x.scalar_type());
}

static at::Tensor attention_block(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const at::Tensor& mask_bias, bool fused_softmax) {
  const std::int64_t b = q.size(0), heads = q.size(1), t = q.size(2), d = q.size(3);
  const std::int64_t kv = k.size(1), groups = heads / kv, tk = k.size(2);
  // Query heads h = kv*groups + g share KV head kv (HF repeat_kv order), so folding the group
  // into the row dimension lets one matmul per KV head serve all its query heads.
  // The 1/sqrt(d) scale goes on q (tk/d times smaller than the scores): in place when the fold
  // into rows had to copy q anyway.
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  at::Tensor qg = q.is_contiguous() ? q.reshape({b, kv, groups * t, d}).mul(scale) : q.reshape({b, kv, groups * t, d}).mul_(scale);
  at::Tensor scores = at::matmul(qg, k.transpose(-1, -2)).view({b, kv, groups, t, tk});
  at::Tensor probs;
  if (fused_softmax && detail::fused_masked_softmax_applies(scores) && !mask_bias.requires_grad() && scores.scalar_type() == v.scalar_type()) {
    probs = detail::fused_masked_softmax(scores, mask_bias);
  } else {
    // bf16 scores + fp32 mask promote to fp32 in one pass (no separate cast).
    scores = at::add(scores, mask_bias.to(accumulate_type(q.scalar_type())));
    probs = at::softmax(scores, -1).to(v.scalar_type());
  }
  at::Tensor out = at::matmul(probs.view({b, kv, groups * t, tk}), v);
  return out.view({b, heads, t, d});
}

at::Tensor grouped_query_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                   const at::Tensor& mask_bias, bool fused_softmax, bool causal_blocks) {
  const std::int64_t t = q.size(2);
  // Under a causal mask the first half of the queries sees only the first half of the keys:
  // running it as its own block skips the masked quarter of both attention GEMMs and the
  // softmax. Exact for every query that sees a key; a padding query that sees none gets a
  // uniform average over fewer keys, which nothing reads.
  if (!causal_blocks || t != k.size(2) || t < 64)
    return attention_block(q, k, v, mask_bias, fused_softmax);
  const std::int64_t h = t / 2;
  at::Tensor first = attention_block(q.narrow(2, 0, h), k.narrow(2, 0, h), v.narrow(2, 0, h),
                                     mask_bias.narrow(-2, 0, h).narrow(-1, 0, h), fused_softmax);
  at::Tensor second = attention_block(q.narrow(2, h, t - h), k, v, mask_bias.narrow(-2, h, t - h), fused_softmax);
  return at::cat({first, second}, 2);
}

at::Tensor attention_mask_bias(const at::Tensor& attention_mask, const at::Tensor& segment_ids,
                               std::optional<std::int64_t> sliding_window, std::int64_t queries) {
  const std::int64_t b = attention_mask.size(0), t = attention_mask.size(1);
  if (queries < 0) queries = t;
  auto dev = attention_mask.device();
  at::Tensor key_idx = at::arange(t, at::TensorOptions().dtype(at::kLong).device(dev));
  at::Tensor query_idx = key_idx.narrow(0, t - queries, queries);
  at::Tensor allowed = (key_idx.unsqueeze(0) <= query_idx.unsqueeze(1)).unsqueeze(0);  // [1, q, t]
  allowed = allowed & attention_mask.to(at::kBool).unsqueeze(1);                       // [b, q, t]
  if (segment_ids.defined())
    allowed = allowed & (segment_ids.narrow(1, t - queries, queries).unsqueeze(2) == segment_ids.unsqueeze(1));
  if (sliding_window)
    allowed = allowed & ((query_idx.unsqueeze(1) - key_idx.unsqueeze(0)) < *sliding_window).unsqueeze(0);
  // A finite minimum (not -inf) keeps fully masked rows (left-padding queries) finite.
  at::Tensor bias = at::zeros({b, queries, t}, at::TensorOptions().dtype(at::kFloat).device(dev));
  bias.masked_fill_(allowed.logical_not(), std::numeric_limits<float>::lowest());
  return bias.view({b, 1, 1, queries, t});
}

AutocastScope::AutocastScope(c10::Device device, bool enabled, at::ScalarType dtype) {
  if (!enabled) return;
  active_ = true;
  cuda_ = device.is_cuda();
  if (cuda_) {
    prev_enabled_ = at::autocast::is_enabled();
    prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    prev_enabled_ = at::autocast::is_cpu_enabled();
    prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  if (cuda_) {
    at::autocast::set_enabled(prev_enabled_);
    at::autocast::set_autocast_gpu_dtype(prev_dtype_);
  } else {
    at::autocast::set_cpu_enabled(prev_enabled_);
    at::autocast::set_autocast_cpu_dtype(prev_dtype_);
  }
}

Decoder::Decoder(ModelConfig config, at::ScalarType dtype, c10::Device device)
    : config_(std::move(config)), dropout_gen_(at::make_generator<at::CPUGeneratorImpl>(0)) {
  config_.validate("model config");
  const auto& c = config_;
  auto opt = at::TensorOptions().dtype(dtype).device(device);
  embed_tokens = at::zeros({c.vocab_size, c.hidden_size}, opt);
  norm = at::ones({c.hidden_size}, opt);
  if (!c.tie_word_embeddings) lm_head = at::zeros({c.vocab_size, c.hidden_size}, opt);
  if (c.num_labels > 0) score_weight = at::zeros({c.num_labels, c.hidden_size}, opt.dtype(at::kFloat));
  layers.resize(static_cast<std::size_t>(c.num_hidden_layers));
  for (auto& l : layers) {
    l.input_layernorm = at::ones({c.hidden_size}, opt);
    l.post_attention_layernorm = at::ones({c.hidden_size}, opt);
    l.q_proj = make_linear(c.q_dim(), c.hidden_size, c.qkv_bias, opt);
    l.k_proj = make_linear(c.kv_dim(), c.hidden_size, c.qkv_bias, opt);
    l.v_proj = make_linear(c.kv_dim(), c.hidden_size, c.qkv_bias, opt);
    l.o_proj = make_linear(c.hidden_size, c.q_dim(), c.o_bias, opt);
    l.gate_proj = make_linear(c.intermediate_size, c.hidden_size, c.mlp_bias, opt);
    l.up_proj = make_linear(c.intermediate_size, c.hidden_size, c.mlp_bias, opt);
    l.down_proj = make_linear(c.hidden_size, c.intermediate_size, c.mlp_bias, opt);
  }
}

Decoder::Decoder(Decoder&&) noexcept = default;
Decoder& Decoder::operator=(Decoder&&) noexcept = default;
Decoder::~Decoder() = default;

Decoder Decoder::random(const ModelConfig& config, std::uint64_t seed, at::ScalarType dtype, c10::Device device) {
  Decoder m(config, at::kFloat, c10::Device(c10::kCPU));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  c10::NoGradGuard no_grad;
  for (auto& [name, t] : m.named_tensors()) {
    const bool is_norm = name.find("norm") != std::string::npos;
    if (is_norm) t->fill_(1.0);
    else t->normal_(0.0, 0.02, gen);
  }
  m.seed_dropout(seed ^ 0x9e3779b97f4a7c15ULL);
  m.to(device, dtype);
  return m;
}

c10::Device Decoder::device() const { return embed_tokens.device(); }

void Decoder::seed_dropout(std::uint64_t seed) { dropout_gen_ = at::make_generator<at::CPUGeneratorImpl>(seed); }

std::vector<std::pair<std::string, Linear*>> Decoder::named_linears() {
  std::vector<std::pair<std::string, Linear*>> out;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    auto& l = layers[i];
    const std::string p = fmt::format("model.layers.{}.", i);
    out.emplace_back(p + "self_attn.q_proj", &l.q_proj);
    out.emplace_back(p + "self_attn.k_proj", &l.k_proj);
    out.emplace_back(p + "self_attn.v_proj", &l.v_proj);
    out.emplace_back(p + "self_attn.o_proj", &l.o_proj);
    out.emplace_back(p + "mlp.gate_proj", &l.gate_proj);
    out.emplace_back(p + "mlp.up_proj", &l.up_proj);
    out.emplace_back(p + "mlp.down_proj", &l.down_proj);
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor*>> Decoder::named_tensors() {
  std::vector<std::pair<std::string, at::Tensor*>> out;
  out.emplace_back("model.embed_tokens.weight", &embed_tokens);
  auto linears = named_linears();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    out.emplace_back(p + "input_layernorm.weight", &layers[i].input_layernorm);
    out.emplace_back(p + "post_attention_layernorm.weight", &layers[i].post_attention_layernorm);
    for (std::size_t j = 0; j < 7; ++j) {
      auto& [name, lin] = linears[i * 7 + j];
      out.emplace_back(name + ".weight", &lin->weight);
      if (lin->bias.defined()) out.emplace_back(name + ".bias", &lin->bias);
    }
  }
  out.emplace_back("model.norm.weight", &norm);
  if (lm_head.defined()) out.emplace_back("lm_head.weight", &lm_head);
  if (score_weight.defined()) out.emplace_back("score.weight", &score_weight);
  return out;
}

std::vector<std::pair<std::string, at::Tensor*>> Decoder::named_lora_tensors() {
  std::vector<std::pair<std::string, at::Tensor*>> out;
  for (auto& [name, lin] : named_linears()) {
    if (!lin->lora) continue;
    out.emplace_back("base_model.model." + name + ".lora_A.weight", &lin->lora->A);
    out.emplace_back("base_model.model." + name + ".lora_B.weight", &lin->lora->B);
  }
  return out;
}

std::vector<at::Tensor> Decoder::trainable_parameters() {
  std::vector<at::Tensor> out;
  for (auto& [n, t] : named_tensors())
    if (t->requires_grad()) out.push_back(*t);
  for (auto& [n, t] : named_lora_tensors())
    if (t->requires_grad()) out.push_back(*t);
  return out;
}

void Decoder::freeze_all() {
  for (auto& [n, t] : named_tensors()) t->set_requires_grad(false);
  for (auto& [n, t] : named_lora_tensors()) t->set_requires_grad(false);
}

void Decoder::to(c10::Device device, std::optional<at::ScalarType> base_dtype) {
  c10::NoGradGuard no_grad;
  auto move = [&](at::Tensor* t, std::optional<at::ScalarType> dtype) {
    const bool rg = t->requires_grad();
    *t = dtype ? t->to(device, *dtype) : t->to(device);
    if (rg) t->set_requires_grad(true);
  };
  // Trainable heads and adapters stay fp32 whatever the base precision.
  for (auto& [name, t] : named_tensors()) move(t, name == "score.weight" ? std::nullopt : base_dtype);
  for (auto& [name, t] : named_lora_tensors()) move(t, std::nullopt);
}

at::Tensor Decoder::lora_delta(const LoraAdapter& lora, at::Tensor h, at::Generator* gen) const {
  if (training_ && lora.dropout > 0) h = dropout(h, lora.dropout, gen);
  if (!autocast_active(h) && h.scalar_type() != lora.A.scalar_type()) h = h.to(lora.A.scalar_type());
  // The scale goes on the rank-r intermediate, out/r times smaller than the output.
  return at::linear(at::linear(h, lora.A).mul_(lora.scale), lora.B);
}

bool Decoder::fused_lora_applies(const std::vector<const Linear*>& parts, const at::Tensor& weight,
                                 const at::Tensor& x) const {
  if (!fused_lora_ || weight.scalar_type() != x.scalar_type() || weight.requires_grad()) return false;
  bool any = false;
  for (const Linear* p : parts) {
    if (p->weight.requires_grad() || (p->bias.defined() && p->bias.requires_grad())) return false;
    const LoraAdapter* lora = p->lora.get();
    if (!lora || lora->merged) continue;
    // Dropout feeds the adapter a different input than the base: the ATen composition does that.
    if (training_ && lora->dropout > 0) return false;
    any = true;
  }
  return any;
}

static std::vector<detail::LoraPart> lora_parts(const std::vector<const Linear*>& parts) {
  std::vector<detail::LoraPart> out;
  for (const Linear* p : parts) {
    detail::LoraPart part;
    part.out = p->weight.size(0);
    if (p->lora && !p->lora->merged) {
      part.A = p->lora->A;
      part.B = p->lora->B;
      part.scale = p->lora->scale;
    }
    out.push_back(part);
  }
  return out;
}

at::Tensor Decoder::linear_forward(const Linear& linear, const at::Tensor& x, at::Generator* gen) const {
  if (fused_lora_applies({&linear}, linear.weight, x)) return detail::fused_lora_linear(x, linear.weight, linear.bias, lora_parts({&linear}));
  at::Tensor y = at::linear(x, linear.weight, linear.bias);
  const LoraAdapter* lora = linear.lora.get();
  if (!lora || lora->merged) return y;
  return y + lora_delta(*lora, x, gen).to(y.scalar_type());
}

const Decoder::FusedProjection* Decoder::fused_projection(std::size_t slot, const std::vector<const Linear*>& parts,
                                                          at::ScalarType dtype) {
  const bool biased = parts.front()->bias.defined();
  for (const Linear* p : parts) {
    // Trainable weights change every step (autocast caches their casts per step already), and a
    // weight already in the compute dtype needs no cast: fusing would only duplicate it.
    if (p->weight.requires_grad() || p->weight.scalar_type() == dtype) return nullptr;
    if (p->bias.defined() != biased || (biased && p->bias.requires_grad())) return nullptr;
  }
  std::vector<at::Tensor> sources;
  for (const Linear* p : parts) {
    sources.push_back(p->weight);
    if (biased) sources.push_back(p->bias);
  }
  if (fused_.size() <= slot) fused_.resize(slot + 1);
  FusedProjection& f = fused_[slot];
  bool fresh = f.weight.defined() && f.dtype == dtype && f.sources.size() == sources.size();
  for (std::size_t i = 0; fresh && i < sources.size(); ++i)
    fresh = f.sources[i].is_same(sources[i]) && f.versions[i] == sources[i]._version();
  if (fresh) return &f;
  c10::NoGradGuard no_grad;
  std::vector<at::Tensor> weights, biases;
  for (const Linear* p : parts) {
    weights.push_back(p->weight);
    if (biased) biases.push_back(p->bias);
  }
  f.weight = at::cat(weights, 0).to(dtype);
  f.bias = biased ? at::cat(biases, 0).to(dtype) : at::Tensor();
  f.dtype = dtype;
  f.versions.clear();
  for (const auto& t : sources) f.versions.push_back(t._version());
  f.sources = std::move(sources);
  return &f;
}

std::vector<at::Tensor> Decoder::projections(std::size_t slot, const std::vector<const Linear*>& parts,
                                             const at::Tensor& x, at::Generator* gen) {
  std::vector<at::Tensor> out;
  // Under autocast one explicit cast of the shared input serves every GEMM that reads it
  // (autocast would cast it again for each one, and sum as many casts in backward).
  const bool autocast = autocast_active(x);
  const at::Tensor xc = autocast ? x.to(autocast_dtype(x)) : x;
  const FusedProjection* fused = autocast && fuse_frozen_ ? fused_projection(slot, parts, xc.scalar_type()) : nullptr;
  if (!fused) {
    for (const Linear* p : parts) out.push_back(linear_forward(*p, xc, gen));
    return out;
  }
  std::vector<std::int64_t> sizes;
  for (const Linear* p : parts) sizes.push_back(p->weight.size(0));
  const bool lora_fused = fused_lora_applies(parts, fused->weight, xc);
  at::Tensor y = lora_fused ? detail::fused_lora_linear(xc, fused->weight, fused->bias, lora_parts(parts))
                            : at::linear(xc, fused->weight, fused->bias);
  // split (not narrow): its backward concatenates the parts' gradients once instead of
  // zero-filling a full-width gradient per part and summing them.
  out = parts.size() == 1 ? std::vector<at::Tensor>{y} : y.split_with_sizes(sizes, -1);
  if (lora_fused) return out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const LoraAdapter* lora = parts[i]->lora.get();
    if (lora && !lora->merged) out[i] = out[i] + lora_delta(*lora, xc, gen).to(out[i].scalar_type());
  }
  return out;
}

at::Tensor Decoder::attention(std::int64_t layer, const at::Tensor& x, const LayerInputs& in, at::Generator* gen,
                              KvCache* cache) {
  const DecoderLayer& l = layers[static_cast<std::size_t>(layer)];
  const auto& c = config_;
  const std::int64_t b = x.size(0), t = x.size(1);
  auto qkv = projections(4 * static_cast<std::size_t>(layer), {&l.q_proj, &l.k_proj, &l.v_proj}, x, gen);
  at::Tensor q = qkv[0].view({b, t, c.num_attention_heads, c.head_dim}).transpose(1, 2);
  at::Tensor k = qkv[1].view({b, t, c.num_key_value_heads, c.head_dim}).transpose(1, 2);
  at::Tensor v = qkv[2].view({b, t, c.num_key_value_heads, c.head_dim}).transpose(1, 2);
  q = apply_rope(q, in.cos, in.sin);
  k = apply_rope(k, in.cos, in.sin);
  v = v.contiguous();
  if (cache) {
    auto& ck = cache->keys[static_cast<std::size_t>(layer)];
    auto& cv = cache->values[static_cast<std::size_t>(layer)];
    if (ck.defined()) {
      k = at::cat({ck, k}, 2);
      v = at::cat({cv, v}, 2);
    }
    ck = k;
    cv = v;
  }
  // The mask is causal whatever else it holds (attention_mask_bias); with a cache the queries
  // are not the keys, and the split does not apply.
  at::Tensor out = grouped_query_attention(q, k, v, in.mask_bias, fused_softmax_, causal_blocks_ && !cache);
  out = out.transpose(1, 2).reshape({b, t, c.q_dim()});
  return projections(4 * static_cast<std::size_t>(layer) + 2, {&l.o_proj}, out, gen)[0];
}

// RMSNorm whose output feeds GEMMs: under autocast it is written directly in the autocast dtype.
static at::Tensor norm_for(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::ScalarType out =
      autocast_active(x) ? autocast_dtype(x) : at::promote_types(x.scalar_type(), weight.scalar_type());
  if (fused_kernels_apply(x) && fused_kernels_apply(weight)) return detail::fused_rms_norm(x, weight, eps, out);
  return rms_norm(x, weight, eps).to(out);
}

at::Tensor Decoder::layer_forward(std::int64_t layer, const at::Tensor& hidden, const LayerInputs& in,
                                  at::Generator* gen, KvCache* cache) {
  const DecoderLayer& l = layers[static_cast<std::size_t>(layer)];
  const double eps = config_.rms_norm_eps;
  at::Tensor h = hidden + attention(layer, norm_for(hidden, l.input_layernorm, eps), in, gen, cache);
  at::Tensor x = norm_for(h, l.post_attention_layernorm, eps);
  auto gate_up = projections(4 * static_cast<std::size_t>(layer) + 1, {&l.gate_proj, &l.up_proj}, x, gen);
  at::Tensor gate = gate_up[0], act;
  if (fused_kernels_apply(gate)) {
    act = detail::fused_swiglu(gate, gate_up[1]);
  } else {
    // SiLU in at least fp32 (more exact; the bf16 silu backward is also slow on CPU).
    act = (at::silu(gate.to(accumulate_type(gate.scalar_type()))) * gate_up[1]).to(gate.scalar_type());
  }
  return h + projections(4 * static_cast<std::size_t>(layer) + 3, {&l.down_proj}, act, gen)[0];
}

std::vector<at::Tensor> Decoder::layer_parameters(std::int64_t layer) {
  auto& l = layers[static_cast<std::size_t>(layer)];
  std::vector<at::Tensor> out{l.input_layernorm, l.post_attention_layernorm};
  for (Linear* lin : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj}) {
    out.push_back(lin->weight);
    if (lin->bias.defined()) out.push_back(lin->bias);
    if (lin->lora) {
      out.push_back(lin->lora->A);
      out.push_back(lin->lora->B);
    }
  }
  return out;
}

at::Tensor Decoder::inv_freq() const {
  const auto& c = config_;
  at::Tensor exponent = at::arange(0, c.head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(c.head_dim);
  at::Tensor inv = 1.0 / at::pow(c.rope_theta, exponent);
  const RopeScaling& rs = c.rope_scaling;
  if (rs.kind == RopeScaling::Kind::Linear) {
    inv = inv / rs.factor;
  } else if (rs.kind == RopeScaling::Kind::Llama3) {
    // transformers' _compute_llama3_parameters: long wavelengths are slowed by `factor`, short
    // ones kept, and the band in between interpolated smoothly.
    const double old_ctx = static_cast<double>(rs.original_max_position_embeddings);
    const double low_wavelen = old_ctx / rs.low_freq_factor, high_wavelen = old_ctx / rs.high_freq_factor;
    at::Tensor wavelen = 2.0 * M_PI / inv;
    at::Tensor scaled = at::where(wavelen > low_wavelen, inv / rs.factor, inv);
    at::Tensor smooth = (old_ctx / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    at::Tensor smoothed = (1 - smooth) * scaled / rs.factor + smooth * scaled;
    at::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    inv = at::where(medium, smoothed, scaled);
  }
  return inv;
}

Decoder::LayerInputs Decoder::layer_inputs(const Batch& batch, const at::Tensor& mask, std::int64_t queries) const {
  LayerInputs in;
  const std::int64_t t = mask.size(1);
  at::Tensor pos = batch.position_ids.defined()
                       ? batch.position_ids
                       : (mask.to(at::kLong).cumsum(1) - 1).clamp_min(0).narrow(1, t - queries, queries);
  at::Tensor freqs = pos.to(at::kFloat).unsqueeze(-1) * inv_freq().to(pos.device()).view({1, 1, -1});
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  in.cos = emb.cos().unsqueeze(1);
  in.sin = emb.sin().unsqueeze(1);
  // Under autocast q and k come out of the projections in the autocast dtype: cast the tables
  // once per batch, not twice per layer.
  if (autocast_active(emb)) {
    in.cos = in.cos.to(autocast_dtype(emb));
    in.sin = in.sin.to(autocast_dtype(emb));
  }
  in.mask_bias = attention_mask_bias(mask, batch.segment_ids, config_.sliding_window, queries);
  return in;
}

void Decoder::check_ids(const at::Tensor& ids) const {
  if (!ids.defined() || ids.dim() != 2 || ids.scalar_type() != at::kLong)
    throw std::invalid_argument("Decoder: input_ids must be a [batch, time] int64 tensor");
  if (ids.numel() == 0) return;
  auto [lo, hi] = at::aminmax(ids);
  if (lo.item<std::int64_t>() < 0 || hi.item<std::int64_t>() >= config_.vocab_size)
    throw InputError("", 0, "input_ids",
                     fmt::format("token ids span [{}, {}] but the model's vocabulary has {} entries",
                                 lo.item<std::int64_t>(), hi.item<std::int64_t>(), config_.vocab_size));
}

at::Tensor Decoder::final_norm(const at::Tensor& x) const {
  // Same dtype as the ATen composition gives (no autocast cast: the heads decide).
  if (fused_kernels_apply(x) && fused_kernels_apply(norm))
    return detail::fused_rms_norm(x, norm, config_.rms_norm_eps, at::promote_types(x.scalar_type(), norm.scalar_type()));
  return rms_norm(x, norm, config_.rms_norm_eps);
}

at::Tensor Decoder::hidden_states(const Batch& batch) {
  const at::Tensor& ids = batch.input_ids;
  check_ids(ids);
  at::Tensor mask = batch.attention_mask.defined() ? batch.attention_mask : at::ones_like(ids);
  if (mask.sizes() != ids.sizes()) throw std::invalid_argument("Decoder: attention_mask must match input_ids");
  const LayerInputs in = layer_inputs(batch, mask, ids.size(1));
  at::Tensor x = at::embedding(embed_tokens, ids);
  const bool recompute = recompute_ && c10::GradMode::is_enabled();
  for (std::int64_t i = 0; i < config_.num_hidden_layers; ++i)
    x = recompute ? detail::recomputed_layer(*this, i, x, in, &dropout_gen_) : layer_forward(i, x, in, &dropout_gen_);
  return final_norm(x);
}

at::Tensor Decoder::hidden_states(const Batch& batch, KvCache& cache) {
  const at::Tensor& ids = batch.input_ids;
  check_ids(ids);
  if (batch.segment_ids.defined()) throw std::invalid_argument("Decoder: segment_ids cannot be used with a KV cache");
  at::Tensor mask = batch.attention_mask.defined() ? batch.attention_mask : at::ones_like(ids);
  if (mask.sizes() != ids.sizes()) throw std::invalid_argument("Decoder: attention_mask must match input_ids");
  if (cache.length() > 0 && cache.attention_mask.size(0) != ids.size(0))
    throw std::invalid_argument("Decoder: batch size differs from the KV cache's");
  cache.keys.resize(static_cast<std::size_t>(config_.num_hidden_layers));
  cache.values.resize(static_cast<std::size_t>(config_.num_hidden_layers));
  at::Tensor all_mask = cache.length() > 0 ? at::cat({cache.attention_mask, mask.to(cache.attention_mask.scalar_type())}, 1) : mask;
  const LayerInputs in = layer_inputs(batch, all_mask, ids.size(1));
  at::Tensor x = at::embedding(embed_tokens, ids);
  for (std::int64_t i = 0; i < config_.num_hidden_layers; ++i) x = layer_forward(i, x, in, &dropout_gen_, &cache);
  cache.attention_mask = all_mask;
  return final_norm(x);
}

std::vector<std::vector<std::int64_t>> Decoder::generate_greedy(const Batch& prompt, std::int64_t max_new_tokens,
                                                                std::optional<std::int64_t> stop_token) {
  const std::int64_t b = prompt.input_ids.size(0);
  std::vector<std::vector<std::int64_t>> out(static_cast<std::size_t>(b));
  std::vector<bool> done(static_cast<std::size_t>(b), false);
  KvCache cache;
  at::Tensor next = lm_logits(pool_last(hidden_states(prompt, cache), prompt.attention_mask)).argmax(-1);
  for (std::int64_t step = 0; step < max_new_tokens; ++step) {
    at::Tensor ids_cpu = next.to(c10::Device(c10::kCPU));
    bool all_done = true;
    for (std::int64_t i = 0; i < b; ++i) {
      if (done[i]) continue;
      const std::int64_t id = ids_cpu[i].item<std::int64_t>();
      out[i].push_back(id);
      if (stop_token && id == *stop_token) done[i] = true;
      all_done = all_done && done[i];
    }
    if (all_done || step + 1 == max_new_tokens) break;
    // Finished rows keep feeding a masked token so the batch stays rectangular.
    at::Tensor alive = at::tensor(std::vector<std::int64_t>(done.begin(), done.end()), at::kLong).logical_not().to(at::kLong);
    Batch step_batch{next.view({b, 1}), alive.view({b, 1}).to(next.device()), {}, {}};
    next = lm_logits(hidden_states(step_batch, cache).select(1, 0)).argmax(-1);
  }
  return out;
}

at::Tensor Decoder::pool_last(const at::Tensor& hidden, const at::Tensor& attention_mask) {
  const std::int64_t b = hidden.size(0), t = hidden.size(1), h = hidden.size(2);
  at::Tensor mask = attention_mask.defined() ? attention_mask.to(at::kBool)
                                             : at::ones({b, t}, at::TensorOptions().dtype(at::kBool).device(hidden.device()));
  at::Tensor idx = at::arange(t, at::TensorOptions().dtype(at::kLong).device(hidden.device())).expand({b, t});
  at::Tensor last = at::where(mask, idx, at::full_like(idx, -1)).amax(1).clamp_min(0);
  return hidden.gather(1, last.view({b, 1, 1}).expand({b, 1, h})).squeeze(1);
}

at::Tensor Decoder::score(const at::Tensor& pooled) const {
  if (!score_weight.defined())
    throw InputError("", 0, "num_labels", "this model has no classification head (num_labels is 0)");
  at::Tensor x = pooled;
  if (!autocast_active(x) && x.scalar_type() != score_weight.scalar_type()) x = x.to(score_weight.scalar_type());
  at::Tensor logits = at::linear(x, score_weight);
  return logits.to(accumulate_type(logits.scalar_type()));
}

at::Tensor Decoder::classify(const Batch& batch) {
  return score(pool_last(hidden_states(batch), batch.attention_mask));
}

at::Tensor Decoder::lm_logits(const at::Tensor& hidden) const {
  at::Tensor logits = at::linear(hidden, output_embedding());
  return logits.to(accumulate_type(logits.scalar_type()));
}

at::Tensor Decoder::next_token_logits(const Batch& batch) {
  return lm_logits(pool_last(hidden_states(batch), batch.attention_mask));
}

at::Tensor Decoder::choice_probabilities(const Batch& batch, const std::vector<std::int64_t>& choice_token_ids) {
  for (auto id : choice_token_ids)
    if (id < 0 || id >= config_.vocab_size)
      throw InputError("", 0, "choice_token_ids", fmt::format("token id {} outside the vocabulary", id));
  at::Tensor probs = at::softmax(next_token_logits(batch), -1);
  at::Tensor ids = at::tensor(choice_token_ids, at::TensorOptions().dtype(at::kLong)).to(probs.device());
  return probs.index_select(1, ids);
}

}  // namespace mcip::train
