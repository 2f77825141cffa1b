#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <utility>

#include <fmt/format.h>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/hash.h"
#include "mcip/tokenizer.h"
#include "shim_loader.h"

namespace fs = std::filesystem;

namespace mcip::tokenizer {

using detail::shim;

namespace {
constexpr size_t kErrLen = 1024;

// SentencePiece flags are whitespace-separated; a path with spaces cannot be passed safely.
std::string flag_path(const std::string& name, const std::string& path) {
  if (path.find_first_of(" \t\n") != std::string::npos)
    throw InputError(path, 0, name, "SentencePiece cannot take paths containing whitespace");
  return path;
}
}  // namespace

SentencePiece::SentencePiece(void* handle, std::string origin) : handle_(handle), origin_(std::move(origin)) {
  const auto& api = shim();
  vocab_size_ = api.vocab_size(handle_);
  unk_id_ = api.special_id(handle_, MCIP_SPM_UNK);
  bos_id_ = api.special_id(handle_, MCIP_SPM_BOS);
  eos_id_ = api.special_id(handle_, MCIP_SPM_EOS);
  pad_id_ = api.special_id(handle_, MCIP_SPM_PAD);
  hash_ = hash_hex(serialized());
}

SentencePiece::SentencePiece(SentencePiece&& o) noexcept { *this = std::move(o); }

SentencePiece& SentencePiece::operator=(SentencePiece&& o) noexcept {
  if (this != &o) {
    if (handle_) shim().free_handle(handle_);
    handle_ = std::exchange(o.handle_, nullptr);
    origin_ = std::move(o.origin_);
    hash_ = std::move(o.hash_);
    vocab_size_ = o.vocab_size_;
    unk_id_ = o.unk_id_;
    bos_id_ = o.bos_id_;
    eos_id_ = o.eos_id_;
    pad_id_ = o.pad_id_;
  }
  return *this;
}

SentencePiece::~SentencePiece() {
  if (handle_) shim().free_handle(handle_);
}

SentencePiece SentencePiece::load(const std::string& model_path) {
  if (!fs::exists(model_path)) throw InputError(model_path, 0, "", "tokenizer model not found");
  // Read the bytes ourselves: SentencePiece's own error for a bad file says little.
  std::string bytes = read_file(model_path);
  char err[kErrLen] = {0};
  void* h = shim().load_bytes(bytes.data(), bytes.size(), err, sizeof err);
  if (!h) throw InputError(model_path, 0, "", fmt::format("not a valid SentencePiece model: {}", err));
  return SentencePiece(h, model_path);
}

SentencePiece SentencePiece::from_bytes(std::string_view serialized, const std::string& origin) {
  char err[kErrLen] = {0};
  void* h = shim().load_bytes(serialized.data(), serialized.size(), err, sizeof err);
  if (!h) throw InputError(origin, 0, "", fmt::format("not a valid SentencePiece model: {}", err));
  return SentencePiece(h, origin);
}

void SentencePiece::train(const TrainOptions& o) {
  if (o.input_files.empty()) throw InputError("", 0, "input", "no training text given");
  std::string inputs;
  for (const auto& f : o.input_files) {
    if (!fs::exists(f)) throw InputError(f, 0, "input", "training text not found");
    inputs += (inputs.empty() ? "" : ",") + flag_path("input", f);
  }
  if (o.model_prefix.empty()) throw InputError("", 0, "model_prefix", "must not be empty");
  if (o.vocab_size < 8) throw InputError("", 0, "vocab_size", "must be at least 8");
  // Train under a temporary prefix, then rename, so a failed or interrupted run never
  // leaves a model file that looks complete.
  const fs::path final_prefix(o.model_prefix);
  if (!final_prefix.parent_path().empty()) fs::create_directories(final_prefix.parent_path());
  // No pid in the name: SentencePiece stores model_prefix inside the .model it writes, and the
  // same corpus and settings must give the same bytes (the refresh job caches by content).
  const std::string tmp_prefix = flag_path("model_prefix", o.model_prefix + ".partial");
  std::string args = fmt::format(
      "--input={} --model_prefix={} --vocab_size={} --model_type={} --byte_fallback={} "
      "--character_coverage={} --max_sentence_length={} --num_threads={} "
      "--unk_id={} --bos_id={} --eos_id={} --pad_id={} --shuffle_input_sentence=false "
      "--input_sentence_size=0 --hard_vocab_limit=false --minloglevel=2 --normalization_rule_name={} "
      "--remove_extra_whitespaces={} --split_digits={} --allow_whitespace_only_pieces=true",
      inputs, tmp_prefix, o.vocab_size, o.model_type, o.byte_fallback ? "true" : "false", o.character_coverage,
      o.max_sentence_length, o.num_threads, o.unk_id, o.bos_id, o.eos_id, o.pad_id, o.normalization,
      o.remove_extra_whitespaces ? "true" : "false", o.split_digits ? "true" : "false");
  if (!o.user_defined_symbols.empty()) {
    std::string syms;
    for (const auto& s : o.user_defined_symbols) syms += (syms.empty() ? "" : ",") + s;
    args += " --user_defined_symbols=" + syms;
  }
  if (!o.extra_flags.empty()) args += " " + o.extra_flags;
  char err[kErrLen] = {0};
  if (shim().train(args.c_str(), err, sizeof err) != 0) {
    std::error_code ec;
    fs::remove(tmp_prefix + ".model", ec);
    fs::remove(tmp_prefix + ".vocab", ec);
    throw std::runtime_error(fmt::format("SentencePiece training failed: {}", err));
  }
  fs::rename(tmp_prefix + ".vocab", o.model_prefix + ".vocab");
  fs::rename(tmp_prefix + ".model", o.model_prefix + ".model");
  fsync_directory(final_prefix.parent_path());
}

std::vector<int> SentencePiece::encode(std::string_view text) const {
  // Byte fallback bounds the count by the byte length; the slack covers the prefix space.
  std::vector<int> ids(text.size() + 8);
  char err[kErrLen] = {0};
  long n = shim().encode(handle_, text.data(), text.size(), ids.data(), ids.size(), err, sizeof err);
  if (n < 0) throw std::runtime_error(fmt::format("{}: encode failed: {}", origin_, err));
  if (static_cast<size_t>(n) > ids.size()) {
    ids.resize(static_cast<size_t>(n));
    n = shim().encode(handle_, text.data(), text.size(), ids.data(), ids.size(), err, sizeof err);
    if (n < 0) throw std::runtime_error(fmt::format("{}: encode failed: {}", origin_, err));
  }
  ids.resize(static_cast<size_t>(n));
  return ids;
}

std::string SentencePiece::decode(const std::vector<int>& ids) const {
  std::string out(ids.size() * 8 + 16, '\0');
  char err[kErrLen] = {0};
  long n = shim().decode(handle_, ids.data(), ids.size(), out.data(), out.size(), err, sizeof err);
  if (n < 0) throw std::runtime_error(fmt::format("{}: decode failed: {}", origin_, err));
  if (static_cast<size_t>(n) > out.size()) {
    out.resize(static_cast<size_t>(n));
    n = shim().decode(handle_, ids.data(), ids.size(), out.data(), out.size(), err, sizeof err);
  }
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string SentencePiece::piece(int id) const {
  std::string out(64, '\0');
  long n = shim().piece(handle_, id, out.data(), out.size());
  if (n < 0) throw std::out_of_range(fmt::format("{}: token id {} outside vocabulary of {}", origin_, id, vocab_size_));
  if (static_cast<size_t>(n) > out.size()) {
    out.resize(static_cast<size_t>(n));
    shim().piece(handle_, id, out.data(), out.size());
  }
  out.resize(static_cast<size_t>(n));
  return out;
}

int SentencePiece::piece_to_id(std::string_view p) const { return shim().piece_to_id(handle_, p.data(), p.size()); }

float SentencePiece::score(int id) const { return shim().score(handle_, id); }

PieceKind SentencePiece::kind(int id) const { return static_cast<PieceKind>(shim().piece_kind(handle_, id)); }

std::string SentencePiece::serialized() const {
  long n = shim().serialized(handle_, nullptr, 0);
  std::string out(static_cast<size_t>(n), '\0');
  shim().serialized(handle_, out.data(), out.size());
  return out;
}

std::string shim_path() { return shim().path; }

}  // namespace mcip::tokenizer
