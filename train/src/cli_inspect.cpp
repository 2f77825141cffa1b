#include "cli_inspect.h"

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <c10/core/GradMode.h>

#include <iostream>

#include <fmt/format.h>

#include "mcip/checkpoint.h"
#include "mcip/error.h"
#include "mcip/tokenizer.h"
#include "mcip/train.h"

namespace mcip::train::cli {

CLI::App* add_inspect_command(CLI::App& app, InspectOptions& o) {
  auto* cmd = app.add_subcommand("inspect", "Load and validate a Hugging Face checkpoint directory, print a summary");
  cmd->add_option("--model", o.model_dir, "Checkpoint directory (config.json + *.safetensors [+ tokenizer.model])")
      ->required();
  cmd->add_option("--dtype", o.dtype, "Weights dtype after loading")->check(CLI::IsMember({"float32", "bfloat16"}));
  cmd->add_option("--device", o.device, "auto, cpu, cuda or cuda:N");
  cmd->add_option("--prompt", o.prompt, "Also print the most likely next tokens after BOS + this text");
  cmd->add_option("--top", o.top, "How many next tokens to print")->check(CLI::Range(1, 100));
  return cmd;
}

int run_inspect(const InspectOptions& o) {
  LoadOptions lo;
  lo.dtype = o.dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
  lo.device = resolve_device(o.device);
  Decoder model = load_checkpoint(o.model_dir, lo);
  const ModelConfig& c = model.config();
  std::int64_t params = 0;
  for (auto& [name, t] : model.named_tensors()) params += t->numel();
  std::cout << fmt::format("{}: {} ({})\n", o.model_dir, c.model_type,
                           c.architectures.empty() ? std::string("no architectures key") : c.architectures[0]);
  std::cout << fmt::format(
      "  vocab {} | hidden {} | layers {} | heads {} (kv {}, head_dim {}) | mlp {} | max positions {}\n", c.vocab_size,
      c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.head_dim,
      c.intermediate_size, c.max_position_embeddings);
  std::cout << fmt::format("  rope theta {} scaling {} | rms eps {} | tied embeddings {} | qkv bias {}\n", c.rope_theta,
                           c.rope_scaling.kind == RopeScaling::Kind::None     ? "none"
                           : c.rope_scaling.kind == RopeScaling::Kind::Linear ? "linear"
                                                                              : "llama3",
                           c.rms_norm_eps, c.tie_word_embeddings, c.qkv_bias);
  std::cout << fmt::format("  parameters {} ({:.2f} M) | classification labels {} | device {} | dtype {}\n", params,
                           static_cast<double>(params) / 1e6, c.num_labels, model.device().str(), o.dtype);
  auto sp = load_checkpoint_tokenizer(o.model_dir, c);
  if (!sp) {
    std::cout << "  tokenizer: none (no tokenizer.model)\n";
    if (!o.prompt.empty()) throw InputError(o.model_dir, 0, "--prompt", "needs a tokenizer.model in the checkpoint");
    return 0;
  }
  std::cout << fmt::format("  tokenizer: {} pieces, bos {} eos {} pad {} unk {}, hash {}\n", sp->vocab_size(),
                           sp->bos_id(), sp->eos_id(), sp->pad_id(), sp->unk_id(), sp->hash().substr(0, 12));
  if (o.prompt.empty()) return 0;
  std::vector<std::int64_t> ids;
  if (sp->bos_id() >= 0) ids.push_back(sp->bos_id());
  for (int id : sp->encode(o.prompt)) ids.push_back(id);
  c10::NoGradGuard no_grad;
  Batch b{at::tensor(ids, at::kLong).view({1, -1}).to(model.device()), {}, {}, {}};
  at::Tensor probs = at::softmax(model.next_token_logits(b), -1).view({-1}).to(at::kDouble).cpu();
  auto [p, idx] = probs.topk(std::min<std::int64_t>(o.top, probs.numel()));
  std::cout << fmt::format("  prompt: {} tokens; next token:\n", ids.size());
  for (std::int64_t i = 0; i < p.numel(); ++i) {
    const auto id = idx[i].item<std::int64_t>();
    std::cout << fmt::format("    {:>6} {:<20} {:.6f}\n", id,
                             id < sp->vocab_size() ? sp->piece(static_cast<int>(id)) : std::string("<pad row>"),
                             p[i].item<double>());
  }
  return 0;
}

}  // namespace mcip::train::cli
