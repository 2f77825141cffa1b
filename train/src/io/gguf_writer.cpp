#include "mcip/gguf.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "mcip/atomic_file.h"

namespace mcip::gguf {
namespace {

template <typename T>
void put(std::string& out, T value) {
  // GGUF is little-endian; so is every machine this project targets (x86-64, aarch64).
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_string(std::string& out, std::string_view s) {
  put<std::uint64_t>(out, s.size());
  out.append(s.data(), s.size());
}

std::uint64_t align_up(std::uint64_t n, std::uint64_t a) { return (n + a - 1) / a * a; }

}  // namespace

std::size_t element_size(TensorType type) {
  switch (type) {
    case TensorType::F32: return 4;
    case TensorType::F16:
    case TensorType::BF16: return 2;
  }
  return 0;
}

Writer::Writer(std::uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || alignment % 8 != 0) throw std::invalid_argument("gguf: alignment must be a multiple of 8");
  if (alignment != 32) add_u32("general.alignment", alignment);
}

void Writer::begin_kv(std::string_view key, ValueType type) {
  if (key.empty() || key.size() > 65535) throw std::invalid_argument(fmt::format("gguf: bad key length for '{}'", key));
  if (std::find(keys_.begin(), keys_.end(), key) != keys_.end())
    throw std::invalid_argument(fmt::format("gguf: duplicate key '{}'", key));
  keys_.emplace_back(key);
  put_string(kv_bytes_, key);
  put<std::uint32_t>(kv_bytes_, static_cast<std::uint32_t>(type));
  ++kv_count_;
}

void Writer::add_u32(std::string_view key, std::uint32_t v) { begin_kv(key, ValueType::UINT32); put(kv_bytes_, v); }
void Writer::add_i32(std::string_view key, std::int32_t v) { begin_kv(key, ValueType::INT32); put(kv_bytes_, v); }
void Writer::add_u64(std::string_view key, std::uint64_t v) { begin_kv(key, ValueType::UINT64); put(kv_bytes_, v); }
void Writer::add_f32(std::string_view key, float v) { begin_kv(key, ValueType::FLOAT32); put(kv_bytes_, v); }
void Writer::add_bool(std::string_view key, bool v) {
  begin_kv(key, ValueType::BOOL);
  put<std::uint8_t>(kv_bytes_, v ? 1 : 0);
}
void Writer::add_string(std::string_view key, std::string_view v) {
  begin_kv(key, ValueType::STRING);
  put_string(kv_bytes_, v);
}

void Writer::add_string_array(std::string_view key, const std::vector<std::string>& values) {
  begin_kv(key, ValueType::ARRAY);
  put<std::uint32_t>(kv_bytes_, static_cast<std::uint32_t>(ValueType::STRING));
  put<std::uint64_t>(kv_bytes_, values.size());
  for (const auto& s : values) put_string(kv_bytes_, s);
}

void Writer::add_f32_array(std::string_view key, const std::vector<float>& values) {
  begin_kv(key, ValueType::ARRAY);
  put<std::uint32_t>(kv_bytes_, static_cast<std::uint32_t>(ValueType::FLOAT32));
  put<std::uint64_t>(kv_bytes_, values.size());
  for (float v : values) put(kv_bytes_, v);
}

void Writer::add_i32_array(std::string_view key, const std::vector<std::int32_t>& values) {
  begin_kv(key, ValueType::ARRAY);
  put<std::uint32_t>(kv_bytes_, static_cast<std::uint32_t>(ValueType::INT32));
  put<std::uint64_t>(kv_bytes_, values.size());
  for (auto v : values) put(kv_bytes_, v);
}

void Writer::add_u32_array(std::string_view key, const std::vector<std::uint32_t>& values) {
  begin_kv(key, ValueType::ARRAY);
  put<std::uint32_t>(kv_bytes_, static_cast<std::uint32_t>(ValueType::UINT32));
  put<std::uint64_t>(kv_bytes_, values.size());
  for (auto v : values) put(kv_bytes_, v);
}

void Writer::add_tensor(std::string_view name, TensorType type, const std::vector<std::int64_t>& shape,
                        std::string_view bytes) {
  if (name.empty() || name.size() > 64) throw std::invalid_argument(fmt::format("gguf: tensor name '{}' must be 1-64 bytes", name));
  if (shape.empty() || shape.size() > 4) throw std::invalid_argument(fmt::format("gguf: {}: 1 to 4 dimensions", name));
  for (const auto& t : tensors_)
    if (t.name == name) throw std::invalid_argument(fmt::format("gguf: duplicate tensor '{}'", name));
  std::uint64_t numel = 1;
  for (auto d : shape) {
    if (d <= 0) throw std::invalid_argument(fmt::format("gguf: {}: dimensions must be positive", name));
    numel *= static_cast<std::uint64_t>(d);
  }
  if (numel * element_size(type) != bytes.size())
    throw std::invalid_argument(fmt::format("gguf: {}: {} bytes for {} elements", name, bytes.size(), numel));
  tensors_.push_back({std::string(name), type, shape, std::string(bytes)});
}

void Writer::write(const std::filesystem::path& path) const {
  std::string head;
  head.append("GGUF", 4);
  put<std::uint32_t>(head, 3);
  put<std::uint64_t>(head, tensors_.size());
  put<std::uint64_t>(head, kv_count_);
  head += kv_bytes_;
  std::uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_string(head, t.name);
    put<std::uint32_t>(head, static_cast<std::uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) put<std::uint64_t>(head, static_cast<std::uint64_t>(*it));
    put<std::uint32_t>(head, static_cast<std::uint32_t>(t.type));
    put<std::uint64_t>(head, offset);
    offset = align_up(offset + t.data.size(), alignment_);
  }
  head.append(align_up(head.size(), alignment_) - head.size(), '\0');
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(head.data(), static_cast<std::streamsize>(head.size()));
    for (const auto& t : tensors_) {
      out.write(t.data.data(), static_cast<std::streamsize>(t.data.size()));
      const std::string pad(align_up(t.data.size(), alignment_) - t.data.size(), '\0');
      out.write(pad.data(), static_cast<std::streamsize>(pad.size()));
    }
  });
}

}  // namespace mcip::gguf
