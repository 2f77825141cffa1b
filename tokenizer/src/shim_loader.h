// Loads the SentencePiece shim once per process into its own link namespace.
#pragma once
#include <string>

#include "spm_shim.h"

namespace mcip::tokenizer::detail {

struct ShimApi {
  std::string path;
  int (*train)(const char*, char*, size_t);
  void* (*load_file)(const char*, char*, size_t);
  void* (*load_bytes)(const char*, size_t, char*, size_t);
  void (*free_handle)(void*);
  int (*vocab_size)(const void*);
  int (*special_id)(const void*, int);
  long (*encode)(const void*, const char*, size_t, int*, size_t, char*, size_t);
  long (*decode)(const void*, const int*, size_t, char*, size_t, char*, size_t);
  long (*piece)(const void*, int, char*, size_t);
  int (*piece_to_id)(const void*, const char*, size_t);
  float (*score)(const void*, int);
  int (*piece_kind)(const void*, int);
  long (*serialized)(const void*, char*, size_t);
};

// The loaded shim. Throws std::runtime_error naming every path tried if it cannot be loaded.
const ShimApi& shim();

}  // namespace mcip::tokenizer::detail
