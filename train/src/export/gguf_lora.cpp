#include "mcip/export_gguf_lora.h"

#include <ATen/ATen.h>

#include <cmath>
#include <map>

#include <fmt/format.h>

#include "mcip/error.h"
#include "mcip/gguf.h"
#include "mcip/gguf_export.h"

namespace mcip::guard {

namespace {

// HF module short name -> llama.cpp tensor name inside blk.N.
const std::map<std::string, std::string>& gguf_names() {
  static const std::map<std::string, std::string> m{
      {"q_proj", "attn_q"},     {"k_proj", "attn_k"}, {"v_proj", "attn_v"},    {"o_proj", "attn_output"},
      {"gate_proj", "ffn_gate"}, {"up_proj", "ffn_up"}, {"down_proj", "ffn_down"}};
  return m;
}

std::string bytes_of(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kCPU, at::kFloat).contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.nbytes()));
}

}  // namespace

void export_gguf_lora(train::Decoder& model, const train::LoraConfig& lora, const std::filesystem::path& out,
                      const std::string& name) {
  const auto& c = model.config();
  const bool qwen2 = c.model_type == "qwen2";
  const std::string arch = qwen2 ? "qwen2" : "llama";
  gguf::Writer w;
  w.add_string("general.architecture", arch);
  w.add_string("general.type", "adapter");
  w.add_string("general.name", name);
  w.add_string("adapter.type", "lora");
  const double alpha = lora.use_rslora ? lora.alpha * std::sqrt(static_cast<double>(lora.rank)) : lora.alpha;
  w.add_f32("adapter.lora.alpha", static_cast<float>(alpha));
  for (auto& [path, lin] : model.named_linears()) {
    if (!lin->lora) continue;
    if (lin->lora->merged) throw InputError("", 0, path, "LoRA adapter is merged; export the GGUF adapter before merging");
    // path: model.layers.N.(self_attn|mlp).<short>
    const auto layer_start = std::string("model.layers.").size();
    const auto layer = path.substr(layer_start, path.find('.', layer_start) - layer_start);
    const std::string short_name = path.substr(path.rfind('.') + 1);
    const std::string base = fmt::format("blk.{}.{}.weight", layer, gguf_names().at(short_name));
    at::Tensor B = lin->lora->B.detach().to(at::kFloat);
    // llama.cpp applies lora_b's output rows in the permuted (interleaved RoPE) order of attn_q/attn_k.
    if (!qwen2 && short_name == "q_proj") B = train::permute_rope_rows(B, c.num_attention_heads);
    if (!qwen2 && short_name == "k_proj") B = train::permute_rope_rows(B, c.num_key_value_heads);
    w.add_tensor(base + ".lora_a", gguf::TensorType::F32, lin->lora->A.sizes().vec(), bytes_of(lin->lora->A));
    w.add_tensor(base + ".lora_b", gguf::TensorType::F32, B.sizes().vec(), bytes_of(B));
  }
  if (w.tensor_count() == 0) throw InputError("", 0, "adapter", "the model carries no LoRA adapters");
  w.write(out);
}

}  // namespace mcip::guard
