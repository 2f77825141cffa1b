// safetensors reader/writer: round trips, and every way a header can lie.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/test_support.h"
#include "mcip/error.h"
#include "mcip/safetensors.h"

namespace fs = std::filesystem;
namespace st = mcip::safetensors;

namespace {

// This test program's scratch folder, removed when the program ends.
fs::path temp_dir() {
  static const mcip::test::ScratchDir dir("safetensors");
  return dir.path;
}

std::string le64(std::uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A file with the given header text and `data_bytes` bytes of buffer.
fs::path make_file(const std::string& name, const std::string& header, std::size_t data_bytes) {
  fs::path p = temp_dir() / name;
  std::ofstream(p, std::ios::binary) << le64(header.size()) << header << std::string(data_bytes, '\x01');
  return p;
}

// Expects an InputError whose message names the file and `needle` (usually the tensor).
void expect_bad(const fs::path& p, const std::string& needle) {
  try {
    st::File::open(p);
    FAIL() << "accepted " << p;
  } catch (const mcip::InputError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(p.filename().string()), std::string::npos) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << "expected '" << needle << "' in: " << what;
  }
}

}  // namespace

TEST(Safetensors, WriteThenReadRoundTrip) {
  std::vector<float> w{1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  std::vector<std::uint16_t> b{0x3f80, 0xc000, 0x4040};
  std::vector<std::int64_t> i{42, -1};
  fs::path p = temp_dir() / "rt.safetensors";
  st::write(p, {{"model.w", st::Dtype::F32, {2, 3}, w.data(), w.size() * 4},
                {"bf", st::Dtype::BF16, {3}, b.data(), 6},
                {"ids", st::Dtype::I64, {2}, i.data(), 16},
                {"empty", st::Dtype::F16, {0, 5}, nullptr, 0},
                {"scalar", st::Dtype::F32, {}, w.data(), 4}});
  auto f = st::File::open(p);
  ASSERT_EQ(f.header().tensors.size(), 5u);
  EXPECT_EQ(f.header().metadata.at("format"), "pt");
  EXPECT_EQ(f.header().data_start % 8, 0u);
  const auto& tw = f.tensor("model.w");
  EXPECT_EQ(tw.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(f.bytes(tw).data(), w.data(), 24), 0);
  EXPECT_EQ(std::memcmp(f.bytes(f.tensor("bf")).data(), b.data(), 6), 0);
  EXPECT_EQ(std::memcmp(f.bytes(f.tensor("ids")).data(), i.data(), 16), 0);
  EXPECT_EQ(f.tensor("empty").nbytes(), 0u);
  EXPECT_EQ(f.tensor("scalar").numel(), 1);
  // Writer order: largest dtype first, then name (I64, then F32 model.w/scalar, then 2-byte).
  EXPECT_EQ(f.header().tensors[0].name, "ids");
  EXPECT_EQ(f.tensor("ids").begin, 0u);
  EXPECT_THROW(f.tensor("nope"), mcip::InputError);
}

TEST(Safetensors, WriterRefusesBadInput) {
  float x = 0;
  fs::path p = temp_dir() / "w.safetensors";
  EXPECT_THROW(st::write(p, {{"a", st::Dtype::F32, {2}, &x, 4}}), std::invalid_argument);
  EXPECT_THROW(st::write(p, {{"a", st::Dtype::F32, {1}, &x, 4}, {"a", st::Dtype::F32, {1}, &x, 4}}),
               std::invalid_argument);
  EXPECT_FALSE(fs::exists(p));
}

TEST(Safetensors, ReadsAHandWrittenFile) {
  // Offsets out of name order, and a header padded with spaces as HF writes it.
  auto p = make_file("hand.safetensors",
                     R"({"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  )",
                     12);
  auto f = st::File::open(p);
  EXPECT_EQ(f.header().tensors[0].name, "a");
  EXPECT_EQ(f.header().tensors[1].name, "b");
}

TEST(Safetensors, RefusesTruncatedAndLyingHeaders) {
  fs::path d = temp_dir();
  {
    fs::path p = d / "short.safetensors";
    std::ofstream(p, std::ios::binary) << "abc";
    expect_bad(p, "shorter than the 8-byte");
  }
  {
    fs::path p = d / "huge.safetensors";
    std::ofstream(p, std::ios::binary) << le64(st::kMaxHeaderSize + 1) << "{}";
    expect_bad(p, "exceeds the limit");
  }
  {
    fs::path p = d / "past.safetensors";
    std::ofstream(p, std::ios::binary) << le64(1000) << "{}";
    expect_bad(p, "runs past the end");
  }
  expect_bad(make_file("notjson.safetensors", "{\"a\":", 0), "not valid JSON");
  expect_bad(make_file("array.safetensors", "[1,2]", 0), "JSON object");
  expect_bad(make_file("dup.safetensors",
                       R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                       2),
             "duplicate key");
  expect_bad(make_file("dupfield.safetensors", R"({"w":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}})", 1),
             "duplicate key");
  expect_bad(make_file("dtype.safetensors", R"({"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", 1),
             "w: unsupported dtype");
  expect_bad(make_file("size.safetensors", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
             "needs 12 bytes");
  expect_bad(make_file("gap.safetensors", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
             "w: data_offsets [4, 8] do not start");
  expect_bad(make_file("overlap.safetensors",
                       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       8),
             "overlaps");
  expect_bad(make_file("trailing.safetensors", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 9),
             "trailing bytes");
  expect_bad(make_file("truncated.safetensors", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 7),
             "truncated");
  expect_bad(make_file("negative.safetensors", R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
             "non-negative");
  expect_bad(make_file("reversed.safetensors", R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 4),
             "end before begin");
  expect_bad(make_file("overflow.safetensors",
                       R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
             "overflows");
  expect_bad(make_file("meta.safetensors", R"({"__metadata__":{"format":1}})", 0), "__metadata__.format");
  expect_bad(make_file("extra.safetensors", R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}})", 1),
             "unknown field");
  expect_bad(make_file("missing.safetensors", R"({"w":{"dtype":"U8","shape":[1]}})", 1), "needs dtype, shape");
  expect_bad(make_file("utf8.safetensors", "{\"\xff\":1}", 0), "not valid JSON");
  expect_bad(d / "does-not-exist.safetensors", "cannot open");
}

TEST(Safetensors, EmptyAndZeroSizeTensorsAreLegal) {
  auto f1 = st::File::open(make_file("empty.safetensors", "{}", 0));
  EXPECT_TRUE(f1.header().tensors.empty());
  auto f2 = st::File::open(make_file(
      "zeros.safetensors",
      R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"c":{"dtype":"I8","shape":[2,0],"data_offsets":[2,2]}})",
      2));
  EXPECT_EQ(f2.header().tensors.size(), 3u);
}
