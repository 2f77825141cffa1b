// Minimal GGUF v3 writer (ggml-org/ggml docs/gguf.md): typed metadata key/values and tensors,
// little-endian, data aligned to `general.alignment`. Torch-free; mcip/gguf_export.h maps a
// Decoder + SentencePiece tokenizer onto llama.cpp's names.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace mcip::gguf {

enum class ValueType : std::uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

// ggml tensor types this writer can emit (unquantized).
enum class TensorType : std::uint32_t { F32 = 0, F16 = 1, BF16 = 30 };
std::size_t element_size(TensorType type);

class Writer {
 public:
  explicit Writer(std::uint32_t alignment = 32);

  void add_u32(std::string_view key, std::uint32_t value);
  void add_i32(std::string_view key, std::int32_t value);
  void add_u64(std::string_view key, std::uint64_t value);
  void add_f32(std::string_view key, float value);
  void add_bool(std::string_view key, bool value);
  void add_string(std::string_view key, std::string_view value);
  void add_string_array(std::string_view key, const std::vector<std::string>& values);
  void add_f32_array(std::string_view key, const std::vector<float>& values);
  void add_i32_array(std::string_view key, const std::vector<std::int32_t>& values);
  void add_u32_array(std::string_view key, const std::vector<std::uint32_t>& values);

  // `shape` in PyTorch (row-major, slowest-first) order; written reversed as GGUF requires.
  // `bytes` holds numel * element_size(type) little-endian bytes and is copied.
  void add_tensor(std::string_view name, TensorType type, const std::vector<std::int64_t>& shape,
                  std::string_view bytes);

  std::size_t tensor_count() const { return tensors_.size(); }
  // Writes the file atomically. Throws std::runtime_error on I/O failure.
  void write(const std::filesystem::path& path) const;

 private:
  void begin_kv(std::string_view key, ValueType type);

  struct Tensor {
    std::string name;
    TensorType type;
    std::vector<std::int64_t> shape;
    std::string data;
  };
  std::uint32_t alignment_;
  std::uint64_t kv_count_ = 0;
  std::string kv_bytes_;  // serialized key/value section
  std::vector<std::string> keys_;
  std::vector<Tensor> tensors_;
};

}  // namespace mcip::gguf
