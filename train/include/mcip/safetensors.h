// safetensors (huggingface/safetensors) reader and writer, written from the format spec.
// Deliberately free of LibTorch so the header parser can be fuzzed with a clang/libFuzzer
// build; the tensor side (at::Tensor <-> bytes) lives in mcip/checkpoint.h.
//
// Reading validates the whole header before any byte is trusted: header length limit,
// UTF-8 JSON object, no duplicate keys, known dtypes, dtype x shape == bytes, and offsets that
// tile the byte buffer exactly from 0 to its end. Every failure is an InputError naming the
// file and the tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcip::safetensors {

enum class Dtype { BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

std::size_t dtype_size(Dtype dtype);
std::string_view dtype_name(Dtype dtype);
std::optional<Dtype> parse_dtype(std::string_view name);

// Upper bound on the JSON header length, as in the reference implementation.
inline constexpr std::uint64_t kMaxHeaderSize = 100'000'000;

struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  // relative to the byte buffer, end exclusive
  std::uint64_t nbytes() const { return end - begin; }
  std::int64_t numel() const;
};

struct Header {
  std::vector<TensorInfo> tensors;  // ordered by data offset
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start = 0;     // file offset of the byte buffer (8 + N)
  const TensorInfo* find(std::string_view name) const;
};

// Validates the JSON header text against a byte buffer of `buffer_size` bytes. `origin` (a file
// name) prefixes every error.
Header parse_header_json(std::string_view json, std::uint64_t buffer_size, const std::string& origin);

// Parses the complete file image: the 8-byte length, the header, and checks the buffer.
Header parse_file_image(const std::uint8_t* data, std::size_t size, const std::string& origin);

// A memory-mapped, validated safetensors file. Cheap to copy (shares the mapping).
class File {
 public:
  // Throws InputError naming the file when it is missing, unreadable or invalid.
  static File open(const std::filesystem::path& path);

  const Header& header() const { return *header_; }
  const std::filesystem::path& path() const { return path_; }
  // The tensor's bytes inside the mapping (valid while any copy of this File lives).
  std::string_view bytes(const TensorInfo& tensor) const;
  // Throws InputError naming file and tensor when absent.
  const TensorInfo& tensor(std::string_view name) const;

 private:
  std::filesystem::path path_;
  std::shared_ptr<const void> mapping_;
  const std::uint8_t* base_ = nullptr;
  std::size_t size_ = 0;
  std::shared_ptr<const Header> header_;
};

// One tensor to write; `data` must hold numel(shape) * dtype_size(dtype) bytes.
struct TensorView {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;
  std::size_t nbytes = 0;
};

// The header bytes (8-byte length + JSON padded with spaces to a multiple of 8) for `tensors`
// in the spec's writer order (largest dtype first, then name). Fills `order` with that order.
std::string build_header(const std::vector<TensorView>& tensors, const std::map<std::string, std::string>& metadata,
                         std::vector<std::size_t>* order);

// Writes a safetensors file atomically (temp file, fsync, rename). Throws on duplicate names,
// size mismatches or I/O errors; the destination is then untouched.
void write(const std::filesystem::path& path, const std::vector<TensorView>& tensors,
           const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace mcip::safetensors
