#include "distributed.h"

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>

#include <fmt/format.h>

#include "mcip/error.h"

namespace mcip::train {
namespace {

std::string env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

int env_int(const char* name, int fallback, int min, int max) {
  const std::string v = env(name, "");
  if (v.empty()) return fallback;
  try {
    size_t used = 0;
    const int x = std::stoi(v, &used);
    if (used != v.size() || x < min || x > max) throw std::out_of_range(name);
    return x;
  } catch (const std::exception&) {
    throw InputError("environment", 0, name, fmt::format("'{}' is not an integer in [{}, {}]", v, min, max));
  }
}

}  // namespace

struct Distributed::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  c10::Device device{c10::kCPU};  // where collective buffers live (the GPU for NCCL)
  std::string backend;
};

Distributed::Distributed() = default;
Distributed::Distributed(Distributed&&) noexcept = default;
Distributed& Distributed::operator=(Distributed&&) noexcept = default;
Distributed::~Distributed() = default;

c10::Device Distributed::device_for_process(c10::Device resolved, bool index_given) {
  if (!resolved.is_cuda() || index_given || env_int("WORLD_SIZE", 1, 1, 1 << 16) == 1) return resolved;
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(env_int("LOCAL_RANK", env_int("RANK", 0, 0, 1 << 16), 0, 1 << 15)));
}

Distributed Distributed::from_environment(std::chrono::milliseconds timeout, c10::Device device) {
  Distributed d;
  d.world_ = env_int("WORLD_SIZE", 1, 1, 1 << 16);
  d.rank_ = env_int("RANK", 0, 0, d.world_ - 1);
  d.local_rank_ = env_int("LOCAL_RANK", d.rank_, 0, 1 << 16);
  if (d.world_ == 1) return d;
  const std::string addr = env("MASTER_ADDR", "127.0.0.1");
  const int port = env_int("MASTER_PORT", 29500, 1, 65535);
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port);
  so.isServer = d.rank_ == 0;
  so.numWorkers = static_cast<std::size_t>(d.world_);
  so.timeout = timeout;
  d.group_ = std::make_unique<Group>();
  try {
    d.group_->store = c10::make_intrusive<c10d::TCPStore>(addr, so);
#ifdef USE_C10D_NCCL
    // Untested in this repository's CI (CPU-only LibTorch); follows torch.distributed's NCCL setup.
    if (device.is_cuda()) {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      d.group_->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(d.group_->store, d.rank_, d.world_, options);
      d.group_->device = device;
      d.group_->backend = "nccl";
    }
#endif
    if (!d.group_->pg) {
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(addr));
      options->threads = 1;
      d.group_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(d.group_->store, d.rank_, d.world_, options);
      d.group_->backend = device.is_cuda() ? "gloo; this LibTorch has no NCCL" : "gloo";
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("distributed: rank {} of {} could not join {}:{}: {}", d.rank_, d.world_, addr,
                                         port, e.what()));
  }
  return d;
}

std::string Distributed::describe() const {
  return world_ == 1 ? "single process" : fmt::format("rank {} of {} ({})", rank_, world_, group_->backend);
}

void Distributed::all_reduce_sum(const std::vector<at::Tensor>& tensors) {
  if (world_ == 1 || tensors.empty()) return;
  std::vector<at::Tensor> flat_parts;
  for (const auto& t : tensors) flat_parts.push_back(t.reshape({-1}).to(group_->device, at::kFloat));
  std::vector<at::Tensor> buffer{at::cat(flat_parts)};
  group_->pg->allreduce(buffer)->wait();
  std::int64_t at = 0;
  for (const auto& t : tensors) {
    const std::int64_t n = t.numel();
    t.copy_(buffer[0].narrow(0, at, n).view(t.sizes()));
    at += n;
  }
}

void Distributed::all_reduce_sum(std::vector<double>& values) {
  if (world_ == 1 || values.empty()) return;
  std::vector<at::Tensor> buffer{at::tensor(values, at::TensorOptions().dtype(at::kDouble)).to(group_->device)};
  group_->pg->allreduce(buffer)->wait();
  const at::Tensor t = buffer[0].cpu();
  for (size_t i = 0; i < values.size(); ++i) values[i] = t[static_cast<std::int64_t>(i)].item<double>();
}

void Distributed::barrier() {
  if (world_ == 1) return;
  group_->pg->barrier()->wait();
}

}  // namespace mcip::train
