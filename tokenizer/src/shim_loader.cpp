#include "shim_loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace fs = std::filesystem;

namespace mcip::tokenizer::detail {
namespace {

std::vector<fs::path> candidate_paths() {
  std::vector<fs::path> paths;
  if (const char* env = std::getenv("MCIP_SPM_SHIM"); env && *env) paths.emplace_back(env);
  std::error_code ec;
  fs::path exe_dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
  if (!ec) {
    paths.push_back(exe_dir / MCIP_SHIM_INSTALL_REL);           // installed layout
    paths.push_back(exe_dir / "../lib/libmcip_spm_shim.so");    // build tree: build/bin -> build/lib
  }
  paths.emplace_back(MCIP_SHIM_BUILD_PATH);
  return paths;
}

template <typename Fn>
void bind(void* lib, const char* name, Fn& fn, const fs::path& path) {
  void* sym = dlsym(lib, name);
  if (!sym) throw std::runtime_error(fmt::format("{}: missing symbol {}", path.string(), name));
  fn = reinterpret_cast<Fn>(sym);
}

ShimApi load_shim() {
  std::string tried;
  for (const fs::path& p : candidate_paths()) {
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      tried += "\n  " + p.string() + " (not found)";
      continue;
    }
    // A fresh namespace gives the shim its own libprotobuf/libstdc++ copies, which is what
    // keeps SentencePiece's protobuf 3.14 away from LibTorch's 3.21.
    void* lib = dlmopen(LM_ID_NEWLM, p.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      tried += "\n  " + p.string() + " (" + dlerror() + ")";
      continue;
    }
    ShimApi api{};
    api.path = fs::canonical(p, ec).string();
    int (*abi)(void) = nullptr;
    bind(lib, "mcip_spm_abi_version", abi, p);
    if (abi() != MCIP_SPM_ABI_VERSION)
      throw std::runtime_error(fmt::format("{}: shim ABI {} but this binary expects {}; rebuild mcip", p.string(), abi(), MCIP_SPM_ABI_VERSION));
    bind(lib, "mcip_spm_train", api.train, p);
    bind(lib, "mcip_spm_load_file", api.load_file, p);
    bind(lib, "mcip_spm_load_bytes", api.load_bytes, p);
    bind(lib, "mcip_spm_free", api.free_handle, p);
    bind(lib, "mcip_spm_vocab_size", api.vocab_size, p);
    bind(lib, "mcip_spm_special_id", api.special_id, p);
    bind(lib, "mcip_spm_encode", api.encode, p);
    bind(lib, "mcip_spm_decode", api.decode, p);
    bind(lib, "mcip_spm_piece", api.piece, p);
    bind(lib, "mcip_spm_piece_to_id", api.piece_to_id, p);
    bind(lib, "mcip_spm_score", api.score, p);
    bind(lib, "mcip_spm_piece_kind", api.piece_kind, p);
    bind(lib, "mcip_spm_serialized", api.serialized, p);
    return api;  // the library stays loaded for the life of the process
  }
  throw std::runtime_error("cannot load the SentencePiece shim libmcip_spm_shim.so; tried:" + tried +
                           "\n(set MCIP_SPM_SHIM to its path)");
}

}  // namespace

const ShimApi& shim() {
  // Loaded once: a process can only afford a handful of link namespaces.
  static std::once_flag once;
  static ShimApi api;
  std::call_once(once, [] { api = load_shim(); });
  return api;
}

}  // namespace mcip::tokenizer::detail
