// Shared helpers for the model tests.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "common/test_support.h"
#include "mcip/model.h"

namespace mcip::train::test {

// This test program's scratch folder (under <build>/test-scratch), removed when the program ends.
inline const std::filesystem::path& process_temp_root() {
  static const mcip::test::ScratchDir root("train");
  return root.path;
}

inline std::filesystem::path temp_dir(const std::string& name) {
  auto d = process_temp_root() / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Random ids in [4, vocab) (0-3 are the specials) from a fixed seed.
inline at::Tensor random_ids(std::int64_t b, std::int64_t t, std::int64_t vocab, std::uint64_t seed) {
  at::manual_seed(seed);
  return at::randint(4, vocab, {b, t}, at::kLong);
}

// Sets every LoRA B to random values so adapters change the output.
inline void randomize_lora_b(Decoder& m, double std = 0.05, std::uint64_t seed = 77) {
  at::NoGradGuard g;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& [name, t] : m.named_lora_tensors())
    if (name.find("lora_B") != std::string::npos) t->normal_(0.0, std, gen);
}

// One classify step for gradient comparisons: logsumexp of the logits summed (optionally under
// bf16 autocast), backward; returns the loss and a copy of every trainable gradient.
inline std::pair<double, std::vector<at::Tensor>> classify_loss_and_grads(Decoder& m, const Batch& b, bool autocast) {
  at::Tensor loss;
  {
    AutocastScope scope(c10::Device(c10::kCPU), autocast);
    loss = m.classify(b).logsumexp(-1).sum();
  }
  loss.backward();
  std::vector<at::Tensor> grads;
  for (auto& p : m.trainable_parameters()) grads.push_back(p.grad().clone());
  return {loss.item<double>(), grads};
}

}  // namespace mcip::train::test
