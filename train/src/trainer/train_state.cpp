#include "train_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <c10/util/StringUtil.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/model.h"

namespace mcip::train {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDone = "DONE";

// Writes and fsyncs an archive. Torch's own file writer cannot report a short write (a full
// disk): its destructor throws while finishing the zip, which ends the process in
// std::terminate. So torch writes through a function that always accepts the bytes and keeps
// the first error, and the error is raised here once torch is done.
void save_archive(torch::serialize::OutputArchive& archive, const fs::path& file) {
  FILE* f = std::fopen(file.c_str(), "wb");
  if (!f) throw std::runtime_error(fmt::format("cannot create {}: {}", file.string(), std::strerror(errno)));
  int error = 0;
  archive.save_to([&](const void* data, size_t n) -> size_t {
    if (error == 0 && n > 0 && std::fwrite(data, 1, n, f) != n) error = errno ? errno : EIO;
    return n;
  });
  if (std::fflush(f) != 0 && error == 0) error = errno;
  if (::fsync(fileno(f)) != 0 && error == 0) error = errno;
  if (std::fclose(f) != 0 && error == 0) error = errno;
  if (error != 0) throw std::runtime_error(fmt::format("writing {} failed: {}", file.string(), std::strerror(error)));
}

void write_tensors(const fs::path& file, Decoder& model) {
  torch::serialize::OutputArchive archive;
  for (auto& [name, t] : named_trainable(model)) archive.write(name, t->detach());
  archive.write("rng.dropout", model.dropout_generator().get_state());
  save_archive(archive, file);
}

void read_tensors(const fs::path& file, Decoder& model) {
  if (!fs::exists(file)) throw InputError(file.string(), 0, "", "checkpoint file missing");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(file.string());
  } catch (const c10::Error& e) {
    throw InputError(file.string(), 0, "", fmt::format("unreadable checkpoint: {}", e.what_without_backtrace()));
  }
  c10::NoGradGuard no_grad;
  for (auto& [name, t] : named_trainable(model)) {
    at::Tensor loaded;
    if (!archive.try_read(name, loaded))
      throw InputError(file.string(), 0, name, "tensor missing (was the checkpoint written with another config?)");
    if (loaded.sizes() != t->sizes())
      throw InputError(file.string(), 0, name,
                       fmt::format("shape {} does not match the model's {}", c10::str(loaded.sizes()), c10::str(t->sizes())));
    t->copy_(loaded);
  }
  at::Tensor rng;
  if (archive.try_read("rng.dropout", rng)) model.dropout_generator().set_state(rng);
}

}  // namespace

std::vector<std::pair<std::string, at::Tensor*>> named_trainable(Decoder& model) {
  std::vector<std::pair<std::string, at::Tensor*>> out;
  for (auto& [n, t] : model.named_tensors())
    if (t->requires_grad()) out.emplace_back(n, t);
  for (auto& [n, t] : model.named_lora_tensors())
    if (t->requires_grad()) out.emplace_back(n, t);
  return out;
}

nlohmann::json TrainState::to_json() const {
  return {{"step", step},           {"micro_batches", micro_batches},
          {"best_value", best_value}, {"best_step", best_step},
          {"evals_without_improvement", evals_without_improvement},
          {"tokens_seen", tokens_seen}, {"last_eval", last_eval}};
}

TrainState TrainState::from_json(const nlohmann::json& j, const std::string& origin) {
  TrainState s;
  try {
    s.step = j.at("step").get<std::int64_t>();
    s.micro_batches = j.at("micro_batches").get<std::int64_t>();
    s.best_value = j.at("best_value").get<double>();
    s.best_step = j.at("best_step").get<std::int64_t>();
    s.evals_without_improvement = j.at("evals_without_improvement").get<std::int64_t>();
    s.tokens_seen = j.at("tokens_seen").get<std::int64_t>();
    s.last_eval = j.value("last_eval", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(origin, 0, "", fmt::format("bad training state: {}", e.what()));
  }
  return s;
}

void fsync_file(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot open {} to fsync", file.string()));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw std::runtime_error(fmt::format("fsync {} failed", file.string()));
}

void save_trainable(const fs::path& file, Decoder& model) {
  const fs::path tmp = file.string() + ".tmp";
  try {
    write_tensors(tmp, model);
    fs::rename(tmp, file);
    fsync_directory(file.parent_path());
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw std::runtime_error(fmt::format("writing {} failed: {}", file.string(), e.what()));
  }
}

void load_trainable(const fs::path& file, Decoder& model) { read_tensors(file, model); }

void save_train_checkpoint(const fs::path& checkpoints_dir, Decoder& model, torch::optim::Optimizer& optimizer,
                           const TrainState& state, std::int64_t keep_last) {
  const std::string name = fmt::format("step-{:08d}", state.step);
  const fs::path final_dir = checkpoints_dir / name, tmp = checkpoints_dir / (".tmp-" + name);
  try {
    fs::create_directories(checkpoints_dir);
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    write_tensors(tmp / "trainable.pt", model);
    {
      torch::serialize::OutputArchive archive;
      optimizer.save(archive);
      save_archive(archive, tmp / "optimizer.pt");
    }
    write_file_atomic(tmp / "state.json", state.to_json().dump(2) + "\n");
    fsync_directory(tmp);
    fs::remove_all(final_dir);  // a stale, unmarked directory of the same step
    fs::rename(tmp, final_dir);
    fsync_directory(checkpoints_dir);
    write_file_atomic(final_dir / kDone, fmt::format("{}\n", state.step));
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw std::runtime_error(fmt::format("saving checkpoint {} failed ({}); earlier checkpoints are intact",
                                         final_dir.string(), e.what()));
  }
  // Retention: only complete checkpoints count; the newest keep_last survive.
  std::vector<fs::path> complete;
  for (const auto& e : fs::directory_iterator(checkpoints_dir))
    if (e.is_directory() && e.path().filename().string().rfind("step-", 0) == 0 && fs::exists(e.path() / kDone))
      complete.push_back(e.path());
  std::sort(complete.begin(), complete.end());
  for (size_t i = 0; i + static_cast<size_t>(keep_last) < complete.size(); ++i) {
    std::error_code ec;
    fs::remove(complete[i] / kDone, ec);  // unmark first: a crash mid-delete leaves no half checkpoint
    fs::remove_all(complete[i], ec);
  }
}

std::optional<fs::path> latest_train_checkpoint(const fs::path& checkpoints_dir) {
  if (!fs::exists(checkpoints_dir)) return std::nullopt;
  std::optional<fs::path> best;
  for (const auto& e : fs::directory_iterator(checkpoints_dir)) {
    const std::string n = e.path().filename().string();
    if (!e.is_directory() || n.rfind("step-", 0) != 0 || !fs::exists(e.path() / kDone)) continue;
    if (!best || n > best->filename().string()) best = e.path();
  }
  return best;
}

TrainState load_train_checkpoint(const fs::path& dir, Decoder& model, torch::optim::Optimizer& optimizer) {
  read_tensors(dir / "trainable.pt", model);
  torch::serialize::InputArchive archive;
  try {
    archive.load_from((dir / "optimizer.pt").string());
    optimizer.load(archive);
  } catch (const c10::Error& e) {
    throw InputError((dir / "optimizer.pt").string(), 0, "",
                     fmt::format("cannot restore the optimizer: {}", e.what_without_backtrace()));
  }
  const auto state_file = dir / "state.json";
  nlohmann::json j = nlohmann::json::parse(read_file(state_file), nullptr, false);
  if (j.is_discarded()) throw InputError(state_file.string(), 0, "", "not valid JSON");
  return TrainState::from_json(j, state_file.string());
}

}  // namespace mcip::train
