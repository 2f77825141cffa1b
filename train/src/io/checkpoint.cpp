#include "mcip/checkpoint.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mcip/atomic_file.h"
#include "mcip/error.h"
#include "mcip/tokenizer.h"
#include "directory_commit.h"

namespace fs = std::filesystem;

namespace mcip::train {
namespace {

using nlohmann::json;
constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

at::ScalarType torch_dtype_of(safetensors::Dtype d, const std::string& file, const std::string& tensor) {
  using D = safetensors::Dtype;
  switch (d) {
    case D::F32: return at::kFloat;
    case D::F16: return at::kHalf;
    case D::BF16: return at::kBFloat16;
    case D::F64: return at::kDouble;
    case D::I64: return at::kLong;
    case D::I32: return at::kInt;
    case D::I16: return at::kShort;
    case D::I8: return at::kChar;
    case D::U8: return at::kByte;
    case D::BOOL: return at::kBool;
    default:
      throw InputError(file, 0, tensor,
                       fmt::format("dtype {} cannot be loaded as a tensor", safetensors::dtype_name(d)));
  }
}

std::string dtype_config_name(at::ScalarType t) {
  switch (t) {
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    default: return "float32";
  }
}

// Where each tensor lives: a single file or the shards named in the index.
std::map<std::string, fs::path> weight_locations(const fs::path& dir) {
  std::map<std::string, fs::path> where;
  const fs::path index = dir / kIndexFile;
  if (fs::exists(index)) {
    json doc;
    try {
      doc = json::parse(read_file(index));
    } catch (const json::exception& e) {
      throw InputError(index.string(), 0, "", fmt::format("not valid JSON: {}", e.what()));
    }
    if (!doc.is_object() || !doc.contains("weight_map") || !doc["weight_map"].is_object())
      throw InputError(index.string(), 0, "weight_map", "missing or not an object");
    for (const auto& [name, file] : doc["weight_map"].items()) {
      if (!file.is_string()) throw InputError(index.string(), 0, "weight_map." + name, "expected a file name");
      const std::string f = file.get<std::string>();
      if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
        throw InputError(index.string(), 0, "weight_map." + name, fmt::format("'{}' is not a plain file name", f));
      where[name] = dir / f;
    }
    return where;
  }
  const fs::path single = dir / kSingleFile;
  if (!fs::exists(single))
    throw InputError(dir.string(), 0, "",
                     fmt::format("no {} or {} in the checkpoint directory", kSingleFile, kIndexFile));
  safetensors::File f = safetensors::File::open(single);
  for (const auto& t : f.header().tensors) where[t.name] = single;
  return where;
}

bool ignorable(const std::string& name) {
  // Buffers some older exports carry; they are recomputed from config.json.
  return name.find("rotary_emb.inv_freq") != std::string::npos;
}

// The tensor's bytes in the mapping as a CPU tensor without copying when suitably aligned
// (the File must outlive it); otherwise a copy.
at::Tensor tensor_view(const safetensors::File& file, const safetensors::TensorInfo& info) {
  std::string_view bytes = file.bytes(info);
  const auto type = torch_dtype_of(info.dtype, file.path().string(), info.name);
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % safetensors::dtype_size(info.dtype) != 0)
    return read_tensor(file, info);
  return at::from_blob(const_cast<char*>(bytes.data()), info.shape, at::TensorOptions().dtype(type));
}

}  // namespace

safetensors::Dtype safetensors_dtype(at::ScalarType type) {
  using D = safetensors::Dtype;
  switch (type) {
    case at::kFloat: return D::F32;
    case at::kHalf: return D::F16;
    case at::kBFloat16: return D::BF16;
    case at::kDouble: return D::F64;
    case at::kLong: return D::I64;
    case at::kInt: return D::I32;
    case at::kShort: return D::I16;
    case at::kChar: return D::I8;
    case at::kByte: return D::U8;
    case at::kBool: return D::BOOL;
    default: throw std::invalid_argument(fmt::format("no safetensors dtype for {}", c10::toString(type)));
  }
}

at::Tensor read_tensor(const safetensors::File& file, const safetensors::TensorInfo& info) {
  at::Tensor t = at::empty(info.shape, at::TensorOptions().dtype(torch_dtype_of(info.dtype, file.path().string(), info.name)));
  std::string_view bytes = file.bytes(info);
  if (static_cast<std::size_t>(t.nbytes()) != bytes.size())
    throw InputError(file.path().string(), 0, info.name, "tensor size does not match its bytes");
  if (!bytes.empty()) std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

Decoder load_checkpoint(const fs::path& dir, const LoadOptions& options) {
  if (!fs::is_directory(dir)) throw InputError(dir.string(), 0, "", "checkpoint directory not found");
  const fs::path config_path = dir / "config.json";
  if (!fs::exists(config_path)) throw InputError(config_path.string(), 0, "", "missing config.json");
  ModelConfig config = ModelConfig::load(config_path);
  const bool fresh_head = options.num_labels && *options.num_labels != config.num_labels;
  if (options.num_labels) {
    config.num_labels = *options.num_labels;
    if (static_cast<std::int64_t>(config.id2label.size()) != config.num_labels) config.id2label.clear();
  }
  // Allocated directly in the target dtype and device, then filled tensor by tensor from the
  // mapping: peak memory is the model plus one tensor, whatever the checkpoint's dtype.
  Decoder model(config, options.dtype, options.device);

  std::map<std::string, fs::path> where = weight_locations(dir);
  std::map<fs::path, safetensors::File> files;
  auto file_for = [&](const fs::path& p, const std::string& tensor) -> safetensors::File& {
    auto it = files.find(p);
    if (it != files.end()) return it->second;
    if (!fs::exists(p))
      throw InputError(p.string(), 0, tensor, "shard listed in model.safetensors.index.json is missing");
    return files.emplace(p, safetensors::File::open(p)).first->second;
  };

  c10::NoGradGuard no_grad;
  std::set<std::string> used;
  for (auto& [name, dst] : model.named_tensors()) {
    if (name == "score.weight" && fresh_head) continue;  // zero-initialised new head
    auto it = where.find(name);
    if (it == where.end())
      throw InputError(dir.string(), 0, name,
                       name == "score.weight"
                           ? "config.json declares num_labels but the checkpoint has no score.weight"
                           : "tensor required by config.json is missing from the checkpoint");
    safetensors::File& f = file_for(it->second, name);
    const safetensors::TensorInfo* info = f.header().find(name);
    if (!info)
      throw InputError(f.path().string(), 0, name, "the index places this tensor here but the file does not have it");
    if (!(info->dtype == safetensors::Dtype::F32 || info->dtype == safetensors::Dtype::F16 ||
          info->dtype == safetensors::Dtype::BF16))
      throw InputError(f.path().string(), 0, name,
                       fmt::format("weights must be F32, F16 or BF16, not {}", safetensors::dtype_name(info->dtype)));
    if (at::IntArrayRef(info->shape) != dst->sizes())
      throw InputError(f.path().string(), 0, name,
                       fmt::format("shape [{}] does not match config.json, which implies [{}]", fmt::join(info->shape, ", "),
                                   fmt::join(dst->sizes(), ", ")));
    dst->copy_(tensor_view(f, *info));
    used.insert(name);
  }
  for (const auto& [name, path] : where) {
    if (used.count(name) || ignorable(name)) continue;
    if (name == "lm_head.weight" && config.tie_word_embeddings) continue;  // some exports store the tied copy
    if (name == "score.weight" && fresh_head) continue;
    throw InputError(path.string(), 0, name,
                     "unexpected tensor for this config.json (wrong architecture, or num_labels/tie_word_embeddings "
                     "disagree with the weights)");
  }
  return model;
}

void save_checkpoint(Decoder& model, const fs::path& dir, const SaveOptions& options) {
  c10::NoGradGuard no_grad;
  // Contiguous CPU copies in the output dtype, kept alive while the files are written.
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  at::ScalarType saved_type = at::kFloat;
  for (auto& [name, t] : model.named_tensors()) {
    at::Tensor c = t->detach().to(c10::Device(c10::kCPU));
    if (options.dtype) c = c.to(*options.dtype);
    else if (name != "score.weight") saved_type = c.scalar_type();
    tensors.emplace_back(name, c.contiguous());
  }
  if (options.dtype) saved_type = *options.dtype;

  // Greedy sharding in state-dict order (layers stay together, as transformers does it).
  std::vector<std::vector<std::size_t>> shards(1);
  std::uint64_t current = 0, total = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::uint64_t n = tensors[i].second.nbytes();
    if (options.max_shard_bytes > 0 && current > 0 && current + n > options.max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(i);
    current += n;
    total += n;
  }

  detail::write_directory_atomic(dir, [&](const fs::path& tmp) {
    ModelConfig config = model.config();
    config.torch_dtype = dtype_config_name(saved_type);
    if (options.tokenizer) {
      const auto& sp = *options.tokenizer;
      check_tokenizer_matches(sp, config, "tokenizer");
      config.bos_token_id = sp.bos_id() >= 0 ? std::optional<std::int64_t>(sp.bos_id()) : std::nullopt;
      config.eos_token_id = sp.eos_id() >= 0 ? std::optional<std::int64_t>(sp.eos_id()) : std::nullopt;
      if (sp.pad_id() >= 0) config.pad_token_id = sp.pad_id();
      write_file_atomic(tmp / "tokenizer.model", sp.serialized());
    }
    write_file_atomic(tmp / "config.json", config.to_json().dump(2) + "\n");

    json weight_map = json::object();
    for (std::size_t s = 0; s < shards.size(); ++s) {
      const std::string file = shards.size() == 1
                                   ? std::string(kSingleFile)
                                   : fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards.size());
      std::vector<safetensors::TensorView> views;
      for (std::size_t i : shards[s]) {
        const auto& [name, t] = tensors[i];
        views.push_back({name, safetensors_dtype(t.scalar_type()),
                         std::vector<std::int64_t>(t.sizes().begin(), t.sizes().end()), t.data_ptr(),
                         static_cast<std::size_t>(t.nbytes())});
        weight_map[name] = file;
      }
      safetensors::write(tmp / file, views);
    }
    if (shards.size() > 1) {
      json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
      write_file_atomic(tmp / kIndexFile, index.dump(2) + "\n");
    }
  });
}

void check_tokenizer_matches(const tokenizer::SentencePiece& sp, const ModelConfig& config, const std::string& origin) {
  if (sp.vocab_size() > config.vocab_size)
    throw InputError(origin, 0, "vocab_size",
                     fmt::format("tokenizer has {} pieces but the model's embedding has only {} rows", sp.vocab_size(),
                                 config.vocab_size));
  auto check = [&](const char* key, const std::optional<std::int64_t>& cfg, int tok) {
    if (cfg && tok >= 0 && *cfg != tok)
      throw InputError(origin, 0, key, fmt::format("config.json says {} but the tokenizer says {}", *cfg, tok));
  };
  check("bos_token_id", config.bos_token_id, sp.bos_id());
  check("eos_token_id", config.eos_token_id, sp.eos_id());
  check("pad_token_id", config.pad_token_id, sp.pad_id());
}

std::optional<tokenizer::SentencePiece> load_checkpoint_tokenizer(const fs::path& dir, const ModelConfig& config) {
  const fs::path p = dir / "tokenizer.model";
  if (!fs::exists(p)) return std::nullopt;
  auto sp = tokenizer::SentencePiece::load(p.string());
  check_tokenizer_matches(sp, config, p.string());
  return sp;
}

}  // namespace mcip::train
