// LoRA (Hu et al. 2021) on the decoder's linear layers, with the conventions of Hugging Face
// PEFT: A [rank, in] Kaiming-uniform (a = sqrt(5)), B [out, rank] zero, scale alpha/rank or
// alpha/sqrt(rank) (rsLoRA), dropout on the adapter input only. Adapters are fp32 and
// trainable; the base stays frozen in whatever dtype it has.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "mcip/model.h"

namespace mcip::train {

struct LoraConfig {
  std::int64_t rank = 8;
  double alpha = 16;
  double dropout = 0.0;
  bool use_rslora = false;
  // Module short names (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj) or
  // the single entry "all-linear".
  std::vector<std::string> target_modules{"q_proj", "v_proj"};
  std::uint64_t seed = 0;

  double scale() const;
  // Throws InputError naming `origin` and the field for bad ranks, unknown modules, etc.
  void validate(const std::string& origin) const;
};

// Attaches adapters to every targeted linear (replacing existing ones), freezes all base
// weights and makes the adapters trainable. Returns the number of wrapped layers.
std::size_t apply_lora(Decoder& model, const LoraConfig& config);
// Folds scale*B@A into each base weight (computed in fp32, stored in the weight's dtype) and
// stops using the adapter path; unmerge subtracts it again.
void merge_lora(Decoder& model);
void unmerge_lora(Decoder& model);
// Removes all adapters (after merge_lora this leaves a plain merged model).
void drop_lora(Decoder& model);

}  // namespace mcip::train
