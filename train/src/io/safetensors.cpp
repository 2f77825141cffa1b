#include "mcip/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mcip/atomic_file.h"
#include "mcip/error.h"

namespace mcip::safetensors {
namespace {

using nlohmann::json;

struct DtypeEntry {
  Dtype dtype;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<DtypeEntry, 16> kDtypes{{{Dtype::BOOL, "BOOL", 1},   {Dtype::U8, "U8", 1},
                                             {Dtype::I8, "I8", 1},       {Dtype::F8_E5M2, "F8_E5M2", 1},
                                             {Dtype::F8_E4M3, "F8_E4M3", 1}, {Dtype::F8_E8M0, "F8_E8M0", 1},
                                             {Dtype::I16, "I16", 2},     {Dtype::U16, "U16", 2},
                                             {Dtype::F16, "F16", 2},     {Dtype::BF16, "BF16", 2},
                                             {Dtype::I32, "I32", 4},     {Dtype::U32, "U32", 4},
                                             {Dtype::F32, "F32", 4},     {Dtype::F64, "F64", 8},
                                             {Dtype::I64, "I64", 8},     {Dtype::U64, "U64", 8}}};

[[noreturn]] void fail(const std::string& origin, const std::string& field, const std::string& what) {
  throw InputError(origin, 0, field, what);
}

// nlohmann::json keeps the last of duplicate keys silently; the spec forbids duplicates, so the
// parser callback tracks the keys of every open object.
json parse_strict(std::string_view text, const std::string& origin) {
  std::vector<std::set<std::string>> open_objects;
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case json::parse_event_t::object_end: open_objects.pop_back(); break;
      case json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (!open_objects.back().insert(key).second)
          fail(origin, key, "duplicate key in the safetensors header");
        break;
      }
      default: break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    fail(origin, "header", fmt::format("header is not valid JSON: {}", e.what()));
  }
}

std::uint64_t as_u64(const json& value, const std::string& origin, const std::string& field) {
  if (!value.is_number_unsigned())
    fail(origin, field, fmt::format("expected a non-negative integer, got {}", value.dump()));
  return value.get<std::uint64_t>();
}

TensorInfo parse_tensor(const std::string& name, const json& entry, const std::string& origin) {
  if (!entry.is_object()) fail(origin, name, "tensor entry must be an object with dtype, shape, data_offsets");
  TensorInfo t;
  t.name = name;
  bool has_dtype = false, has_shape = false, has_offsets = false;
  for (const auto& [key, value] : entry.items()) {
    if (key == "dtype") {
      if (!value.is_string()) fail(origin, name, "dtype must be a string");
      auto dtype = parse_dtype(value.get_ref<const std::string&>());
      if (!dtype) fail(origin, name, fmt::format("unsupported dtype {}", value.dump()));
      t.dtype = *dtype;
      has_dtype = true;
    } else if (key == "shape") {
      if (!value.is_array()) fail(origin, name, "shape must be an array of non-negative integers");
      for (const auto& d : value) {
        std::uint64_t dim = as_u64(d, origin, name + ".shape");
        if (dim > static_cast<std::uint64_t>(INT64_MAX)) fail(origin, name, "shape dimension too large");
        t.shape.push_back(static_cast<std::int64_t>(dim));
      }
      has_shape = true;
    } else if (key == "data_offsets") {
      if (!value.is_array() || value.size() != 2) fail(origin, name, "data_offsets must be [begin, end]");
      t.begin = as_u64(value[0], origin, name + ".data_offsets");
      t.end = as_u64(value[1], origin, name + ".data_offsets");
      if (t.end < t.begin) fail(origin, name, fmt::format("data_offsets [{}, {}] end before begin", t.begin, t.end));
      has_offsets = true;
    } else {
      fail(origin, name, fmt::format("unknown field '{}' in tensor entry", key));
    }
  }
  if (!has_dtype || !has_shape || !has_offsets)
    fail(origin, name, "tensor entry needs dtype, shape and data_offsets");
  std::uint64_t bytes = dtype_size(t.dtype);
  for (std::int64_t d : t.shape)
    if (__builtin_mul_overflow(bytes, static_cast<std::uint64_t>(d), &bytes))
      fail(origin, name, "shape overflows the addressable size");
  if (bytes != t.nbytes())
    fail(origin, name,
         fmt::format("dtype {} x shape [{}] needs {} bytes but data_offsets [{}, {}] span {}", dtype_name(t.dtype),
                     fmt::join(t.shape, ", "), bytes, t.begin, t.end, t.nbytes()));
  return t;
}

struct Unmapper {
  std::size_t size;
  void operator()(const void* p) const {
    if (p && size) ::munmap(const_cast<void*>(p), size);
  }
};

std::string json_shape(const std::vector<std::int64_t>& shape) { return json(shape).dump(); }

}  // namespace

std::size_t dtype_size(Dtype dtype) {
  for (const auto& e : kDtypes)
    if (e.dtype == dtype) return e.size;
  return 0;
}

std::string_view dtype_name(Dtype dtype) {
  for (const auto& e : kDtypes)
    if (e.dtype == dtype) return e.name;
  return "?";
}

std::optional<Dtype> parse_dtype(std::string_view name) {
  for (const auto& e : kDtypes)
    if (e.name == name) return e.dtype;
  return std::nullopt;
}

std::int64_t TensorInfo::numel() const {
  // Any zero dimension first: the parser bounds the product only when it is non-zero.
  for (auto d : shape)
    if (d == 0) return 0;
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

const TensorInfo* Header::find(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

Header parse_header_json(std::string_view text, std::uint64_t buffer_size, const std::string& origin) {
  json doc = parse_strict(text, origin);
  if (!doc.is_object()) fail(origin, "header", "header must be a JSON object");
  Header header;
  for (const auto& [key, value] : doc.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail(origin, key, "__metadata__ must be an object of strings");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) fail(origin, "__metadata__." + mk, "metadata values must be strings");
        header.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    header.tensors.push_back(parse_tensor(key, value, origin));
  }
  std::sort(header.tensors.begin(), header.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected = 0;
  for (const auto& t : header.tensors) {
    if (t.begin != expected)
      fail(origin, t.name,
           fmt::format("data_offsets [{}, {}] do not start where the previous tensor ends ({}): {}", t.begin, t.end,
                       expected, t.begin > expected ? "gap in the byte buffer" : "overlaps another tensor"));
    expected = t.end;
  }
  if (expected != buffer_size)
    fail(origin, header.tensors.empty() ? "header" : header.tensors.back().name,
         fmt::format("tensors cover {} bytes but the byte buffer holds {} ({})", expected, buffer_size,
                     expected < buffer_size ? "trailing bytes" : "file truncated"));
  return header;
}

Header parse_file_image(const std::uint8_t* data, std::size_t size, const std::string& origin) {
  if (size < 8) fail(origin, "header", fmt::format("file has {} bytes, shorter than the 8-byte header length", size));
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > kMaxHeaderSize)
    fail(origin, "header", fmt::format("header length {} exceeds the limit of {} bytes", n, kMaxHeaderSize));
  if (n > size - 8)
    fail(origin, "header", fmt::format("header length {} runs past the end of the file ({} bytes)", n, size));
  if (n < 2) fail(origin, "header", "header too short to be a JSON object");
  Header header = parse_header_json(std::string_view(reinterpret_cast<const char*>(data) + 8, n), size - 8 - n, origin);
  header.data_start = 8 + n;
  return header;
}

File File::open(const std::filesystem::path& path) {
  const std::string origin = path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(origin, "", fmt::format("cannot open safetensors file: {}", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(origin, "", "not a regular file");
  }
  File f;
  f.path_ = path;
  f.size_ = static_cast<std::size_t>(st.st_size);
  if (f.size_ > 0) {
    void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);
    if (p == MAP_FAILED) fail(origin, "", fmt::format("mmap failed: {}", std::strerror(err)));
    f.mapping_ = std::shared_ptr<const void>(p, Unmapper{f.size_});
    f.base_ = static_cast<const std::uint8_t*>(p);
  } else {
    ::close(fd);
  }
  f.header_ = std::make_shared<const Header>(parse_file_image(f.base_, f.size_, origin));
  return f;
}

std::string_view File::bytes(const TensorInfo& tensor) const {
  return {reinterpret_cast<const char*>(base_) + header_->data_start + tensor.begin, tensor.nbytes()};
}

const TensorInfo& File::tensor(std::string_view name) const {
  const TensorInfo* t = header_->find(name);
  if (!t) fail(path_.string(), std::string(name), "tensor not found in this file");
  return *t;
}

std::string build_header(const std::vector<TensorView>& tensors, const std::map<std::string, std::string>& metadata,
                         std::vector<std::size_t>* order) {
  std::vector<std::size_t> idx(tensors.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
    std::size_t sa = dtype_size(tensors[a].dtype), sb = dtype_size(tensors[b].dtype);
    return sa != sb ? sa > sb : tensors[a].name < tensors[b].name;
  });
  // Built by hand (not a json object) to keep the writer's order: nlohmann sorts keys.
  std::string text = "{";
  if (!metadata.empty()) text += "\"__metadata__\":" + json(metadata).dump();
  std::uint64_t offset = 0;
  std::set<std::string> seen;
  for (std::size_t i : idx) {
    const TensorView& t = tensors[i];
    if (t.name == "__metadata__" || !seen.insert(t.name).second)
      throw std::invalid_argument(fmt::format("safetensors writer: duplicate or reserved tensor name '{}'", t.name));
    std::uint64_t expect = dtype_size(t.dtype);
    for (auto d : t.shape) {
      if (d < 0) throw std::invalid_argument(fmt::format("safetensors writer: {}: negative dimension", t.name));
      expect *= static_cast<std::uint64_t>(d);
    }
    if (expect != t.nbytes)
      throw std::invalid_argument(
          fmt::format("safetensors writer: {}: shape needs {} bytes, got {}", t.name, expect, t.nbytes));
    if (text.size() > 1) text += ",";
    text += fmt::format("{}:{{\"dtype\":\"{}\",\"shape\":{},\"data_offsets\":[{},{}]}}", json(t.name).dump(),
                        dtype_name(t.dtype), json_shape(t.shape), offset, offset + t.nbytes);
    offset += t.nbytes;
  }
  text += "}";
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += text;
  if (order) *order = std::move(idx);
  return out;
}

void write(const std::filesystem::path& path, const std::vector<TensorView>& tensors,
           const std::map<std::string, std::string>& metadata) {
  std::vector<std::size_t> order;
  const std::string header = build_header(tensors, metadata, &order);
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (std::size_t i : order)
      out.write(static_cast<const char*>(tensors[i].data), static_cast<std::streamsize>(tensors[i].nbytes));
  });
}

}  // namespace mcip::safetensors
