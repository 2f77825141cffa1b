// SentencePiece tokenization usable from any mcip binary, including those linked with
// LibTorch. Debian's libsentencepiece and libtorch carry incompatible protobuf copies, so
// SentencePiece lives in a small shim library loaded into its own link namespace
// (dlmopen LM_ID_NEWLM); this header and its implementation only pass C types across.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mcip::tokenizer {

enum class PieceKind : int { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct TrainOptions {
  std::vector<std::string> input_files;   // plain text, one sentence per line
  std::string model_prefix;               // writes <prefix>.model and <prefix>.vocab
  int vocab_size = 8000;
  // BPE with byte fallback: the combination llama.cpp tokenizes identically (formats.md).
  std::string model_type = "bpe";
  bool byte_fallback = true;
  double character_coverage = 1.0;
  int max_sentence_length = 1 << 16;
  // Identity normalization keeps text byte-exact (newlines and runs of spaces matter in
  // JSON-RPC and chat layouts); Llama tokenizers also split digits.
  std::string normalization = "identity";
  bool remove_extra_whitespaces = false;
  bool split_digits = true;
  int num_threads = 1;
  int unk_id = 0, bos_id = 1, eos_id = 2, pad_id = 3;
  std::vector<std::string> user_defined_symbols;
  std::string extra_flags;                // appended verbatim, e.g. "--split_digits=true"
};

class SentencePiece {
 public:
  // Throws mcip::InputError naming the file when it is missing or not a SentencePiece model.
  static SentencePiece load(const std::string& model_path);
  static SentencePiece from_bytes(std::string_view serialized, const std::string& origin);
  // Trains and writes <model_prefix>.model/.vocab atomically. Throws on failure.
  static void train(const TrainOptions& options);

  SentencePiece(SentencePiece&&) noexcept;
  SentencePiece& operator=(SentencePiece&&) noexcept;
  ~SentencePiece();

  std::vector<int> encode(std::string_view text) const;
  std::string decode(const std::vector<int>& ids) const;

  int vocab_size() const { return vocab_size_; }
  int unk_id() const { return unk_id_; }
  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }
  int pad_id() const { return pad_id_; }  // -1 when the model has none
  std::string piece(int id) const;
  int piece_to_id(std::string_view piece) const;
  float score(int id) const;
  PieceKind kind(int id) const;
  // Bytes of the .model file; stored in checkpoints so a model and its tokenizer travel together.
  std::string serialized() const;
  // Hash of serialized(): the tokenizer identity used in caches and checkpoints.
  const std::string& hash() const { return hash_; }
  const std::string& origin() const { return origin_; }

 private:
  SentencePiece(void* handle, std::string origin);
  void* handle_ = nullptr;
  std::string origin_, hash_;
  int vocab_size_ = 0, unk_id_ = -1, bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
};

// Where the shim was loaded from (for diagnostics); loads it if needed.
std::string shim_path();

}  // namespace mcip::tokenizer
