// GGUF writer: byte layout checked against the spec by an independent little reader here.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "common/test_support.h"
#include "mcip/atomic_file.h"
#include "mcip/gguf.h"

namespace fs = std::filesystem;

namespace {

struct Cursor {
  const std::string& s;
  std::size_t pos = 0;
  template <typename T>
  T get() {
    T v;
    EXPECT_LE(pos + sizeof(T), s.size());
    std::memcpy(&v, s.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string str() {
    auto n = get<std::uint64_t>();
    std::string out = s.substr(pos, n);
    pos += n;
    return out;
  }
};

}  // namespace

TEST(GgufWriter, LayoutFollowsTheSpec) {
  mcip::gguf::Writer w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.block_count", 2);
  w.add_f32("llama.rope.freq_base", 10000.0f);
  w.add_bool("tokenizer.ggml.add_bos_token", true);
  w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "a"});
  std::vector<float> data{1, 2, 3, 4, 5, 6};
  w.add_tensor("t.weight", mcip::gguf::TensorType::F32, {2, 3}, {reinterpret_cast<char*>(data.data()), 24});
  w.add_tensor("u.weight", mcip::gguf::TensorType::F32, {1}, {reinterpret_cast<char*>(data.data()), 4});
  EXPECT_THROW(w.add_u32("llama.block_count", 3), std::invalid_argument);
  EXPECT_THROW(w.add_tensor("t.weight", mcip::gguf::TensorType::F32, {1}, {"abcd", 4}), std::invalid_argument);
  EXPECT_THROW(w.add_tensor("v", mcip::gguf::TensorType::F32, {2}, {"abcd", 4}), std::invalid_argument);

  const mcip::test::ScratchDir scratch("gguf");
  const fs::path p = scratch.path / "w.gguf";
  w.write(p);
  const std::string bytes = mcip::read_file(p);
  Cursor c{bytes};
  EXPECT_EQ(bytes.substr(0, 4), "GGUF");
  c.pos = 4;
  EXPECT_EQ(c.get<std::uint32_t>(), 3u);
  EXPECT_EQ(c.get<std::uint64_t>(), 2u);  // tensors
  EXPECT_EQ(c.get<std::uint64_t>(), 5u);  // kvs
  EXPECT_EQ(c.str(), "general.architecture");
  EXPECT_EQ(c.get<std::uint32_t>(), 8u);
  EXPECT_EQ(c.str(), "llama");
  EXPECT_EQ(c.str(), "llama.block_count");
  EXPECT_EQ(c.get<std::uint32_t>(), 4u);
  EXPECT_EQ(c.get<std::uint32_t>(), 2u);
  EXPECT_EQ(c.str(), "llama.rope.freq_base");
  EXPECT_EQ(c.get<std::uint32_t>(), 6u);
  EXPECT_EQ(c.get<float>(), 10000.0f);
  EXPECT_EQ(c.str(), "tokenizer.ggml.add_bos_token");
  EXPECT_EQ(c.get<std::uint32_t>(), 7u);
  EXPECT_EQ(c.get<std::uint8_t>(), 1u);
  EXPECT_EQ(c.str(), "tokenizer.ggml.tokens");
  EXPECT_EQ(c.get<std::uint32_t>(), 9u);
  EXPECT_EQ(c.get<std::uint32_t>(), 8u);
  EXPECT_EQ(c.get<std::uint64_t>(), 2u);
  EXPECT_EQ(c.str(), "<unk>");
  EXPECT_EQ(c.str(), "a");
  // Tensor infos: dims reversed (PyTorch [2, 3] -> GGUF [3, 2]), offsets aligned to 32.
  EXPECT_EQ(c.str(), "t.weight");
  EXPECT_EQ(c.get<std::uint32_t>(), 2u);
  EXPECT_EQ(c.get<std::uint64_t>(), 3u);
  EXPECT_EQ(c.get<std::uint64_t>(), 2u);
  EXPECT_EQ(c.get<std::uint32_t>(), 0u);
  EXPECT_EQ(c.get<std::uint64_t>(), 0u);
  EXPECT_EQ(c.str(), "u.weight");
  EXPECT_EQ(c.get<std::uint32_t>(), 1u);
  EXPECT_EQ(c.get<std::uint64_t>(), 1u);
  EXPECT_EQ(c.get<std::uint32_t>(), 0u);
  EXPECT_EQ(c.get<std::uint64_t>(), 32u);
  const std::size_t data_start = (c.pos + 31) / 32 * 32;
  for (std::size_t i = c.pos; i < data_start; ++i) EXPECT_EQ(bytes[i], '\0');
  EXPECT_EQ(std::memcmp(bytes.data() + data_start, data.data(), 24), 0);
  EXPECT_EQ(std::memcmp(bytes.data() + data_start + 32, data.data(), 4), 0);
  EXPECT_EQ(bytes.size(), data_start + 64);
}
