// Data-parallel training through torch's own c10d process groups, started like torchrun:
// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. Without them (or WORLD_SIZE=1) every
// call is a no-op, so the single-process path has no extra cost. CPU processes use Gloo; CUDA
// processes use NCCL when this LibTorch was built with it (USE_C10D_NCCL), else Gloo.
#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace mcip::train {

class Distributed {
 public:
  // Reads the torchrun environment; connects the process group when WORLD_SIZE > 1: NCCL for a
  // CUDA `device` when available, Gloo otherwise.
  static Distributed from_environment(std::chrono::milliseconds timeout, c10::Device device);
  // The device this process trains on: with several processes and CUDA, `cuda:LOCAL_RANK`
  // unless the config named an index (torchrun starts one process per GPU).
  static c10::Device device_for_process(c10::Device resolved, bool index_given);
  Distributed();
  Distributed(Distributed&&) noexcept;
  Distributed& operator=(Distributed&&) noexcept;
  ~Distributed();

  int rank() const { return rank_; }
  int world() const { return world_; }
  int local_rank() const { return local_rank_; }
  bool is_main() const { return rank_ == 0; }
  std::string describe() const;

  // Sums the tensors over all processes in place (one flattened all-reduce on the group's device).
  void all_reduce_sum(const std::vector<at::Tensor>& tensors);
  void all_reduce_sum(std::vector<double>& values);
  void barrier();

 private:
  struct Group;
  int rank_ = 0, world_ = 1, local_rank_ = 0;
  std::unique_ptr<Group> group_;
};

}  // namespace mcip::train
