#include "mcip/lora.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "mcip/error.h"

namespace mcip::train {
namespace {

const std::set<std::string>& known_modules() {
  static const std::set<std::string> k{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  return k;
}

std::string short_name(const std::string& path) { return path.substr(path.rfind('.') + 1); }

at::Tensor delta_weight(const LoraAdapter& a) {
  return at::matmul(a.B.to(at::kFloat), a.A.to(at::kFloat)).mul_(a.scale);
}

}  // namespace

double LoraConfig::scale() const {
  return use_rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank);
}

void LoraConfig::validate(const std::string& origin) const {
  if (rank < 1) throw InputError(origin, 0, "lora.rank", fmt::format("must be >= 1, got {}", rank));
  if (!(alpha > 0)) throw InputError(origin, 0, "lora.alpha", fmt::format("must be > 0, got {}", alpha));
  if (!(dropout >= 0 && dropout < 1)) throw InputError(origin, 0, "lora.dropout", "must be in [0, 1)");
  if (target_modules.empty()) throw InputError(origin, 0, "lora.target_modules", "must name at least one module");
  for (const auto& m : target_modules) {
    if (m == "all-linear") {
      if (target_modules.size() != 1)
        throw InputError(origin, 0, "lora.target_modules", "'all-linear' cannot be combined with module names");
    } else if (!known_modules().count(m)) {
      throw InputError(origin, 0, "lora.target_modules",
                       fmt::format("unknown module '{}' (expected q_proj, k_proj, v_proj, o_proj, gate_proj, "
                                   "up_proj, down_proj or all-linear)",
                                   m));
    }
  }
}

std::size_t apply_lora(Decoder& model, const LoraConfig& config) {
  config.validate("lora config");
  const bool all = config.target_modules.size() == 1 && config.target_modules[0] == "all-linear";
  const std::set<std::string> targets(config.target_modules.begin(), config.target_modules.end());
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(config.seed);
  model.freeze_all();
  c10::NoGradGuard no_grad;
  std::size_t count = 0;
  for (auto& [path, lin] : model.named_linears()) {
    // all-linear means every linear inside the decoder blocks; the LM head and score stay out,
    // as in PEFT.
    if (!all && !targets.count(short_name(path))) continue;
    const std::int64_t out = lin->weight.size(0), in = lin->weight.size(1);
    auto a = std::make_unique<LoraAdapter>();
    a->rank = config.rank;
    a->alpha = config.alpha;
    a->scale = config.scale();
    a->dropout = config.dropout;
    // kaiming_uniform_(a=sqrt(5)) on [rank, in]: bound = sqrt(6 / ((1 + 5) * fan_in)) = 1/sqrt(in).
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    a->A = at::empty({config.rank, in}, at::kFloat).uniform_(-bound, bound, gen).to(lin->weight.device());
    a->B = at::zeros({out, config.rank}, at::TensorOptions().dtype(at::kFloat).device(lin->weight.device()));
    a->A.set_requires_grad(true);
    a->B.set_requires_grad(true);
    lin->lora = std::move(a);
    ++count;
  }
  return count;
}

void merge_lora(Decoder& model) {
  c10::NoGradGuard no_grad;
  for (auto& [path, lin] : model.named_linears()) {
    if (!lin->lora || lin->lora->merged) continue;
    lin->weight.copy_((lin->weight.to(at::kFloat) + delta_weight(*lin->lora)).to(lin->weight.scalar_type()));
    lin->lora->merged = true;
  }
}

void unmerge_lora(Decoder& model) {
  c10::NoGradGuard no_grad;
  for (auto& [path, lin] : model.named_linears()) {
    if (!lin->lora || !lin->lora->merged) continue;
    lin->weight.copy_((lin->weight.to(at::kFloat) - delta_weight(*lin->lora)).to(lin->weight.scalar_type()));
    lin->lora->merged = false;
  }
}

void drop_lora(Decoder& model) {
  for (auto& [path, lin] : model.named_linears()) lin->lora.reset();
}

}  // namespace mcip::train
