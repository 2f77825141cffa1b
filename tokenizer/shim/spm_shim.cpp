// The only translation unit that touches SentencePiece's C++ API. Everything it exports
// is plain C so it can live in a separate dlmopen namespace with its own libstdc++.
#include "spm_shim.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace {

void set_error(char* err, size_t errlen, const std::string& message) {
  if (!err || errlen == 0) return;
  size_t n = std::min(errlen - 1, message.size());
  std::memcpy(err, message.data(), n);
  err[n] = '\0';
}

long copy_out(const std::string& s, char* out, size_t cap) {
  if (out && cap) std::memcpy(out, s.data(), std::min(cap, s.size()));
  return static_cast<long>(s.size());
}

const sentencepiece::SentencePieceProcessor* proc(const void* h) {
  return static_cast<const sentencepiece::SentencePieceProcessor*>(h);
}

void* finish_load(std::unique_ptr<sentencepiece::SentencePieceProcessor> sp, const sentencepiece::util::Status& st,
                  char* err, size_t errlen) {
  if (!st.ok()) {
    set_error(err, errlen, st.ToString());
    return nullptr;
  }
  return sp.release();
}

}  // namespace

extern "C" {

int mcip_spm_abi_version(void) { return MCIP_SPM_ABI_VERSION; }

int mcip_spm_train(const char* args, char* err, size_t errlen) {
  try {
    auto st = sentencepiece::SentencePieceTrainer::Train(args);
    if (!st.ok()) {
      set_error(err, errlen, st.ToString());
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    set_error(err, errlen, e.what());
    return 1;
  }
}

void* mcip_spm_load_file(const char* path, char* err, size_t errlen) {
  try {
    auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
    auto st = sp->Load(path);
    return finish_load(std::move(sp), st, err, errlen);
  } catch (const std::exception& e) {
    set_error(err, errlen, e.what());
    return nullptr;
  }
}

void* mcip_spm_load_bytes(const char* data, size_t len, char* err, size_t errlen) {
  try {
    auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
    auto st = sp->LoadFromSerializedProto(std::string(data, len));
    return finish_load(std::move(sp), st, err, errlen);
  } catch (const std::exception& e) {
    set_error(err, errlen, e.what());
    return nullptr;
  }
}

void mcip_spm_free(void* handle) { delete static_cast<sentencepiece::SentencePieceProcessor*>(handle); }

int mcip_spm_vocab_size(const void* h) { return proc(h)->GetPieceSize(); }

int mcip_spm_special_id(const void* h, int which) {
  switch (which) {
    case MCIP_SPM_UNK: return proc(h)->unk_id();
    case MCIP_SPM_BOS: return proc(h)->bos_id();
    case MCIP_SPM_EOS: return proc(h)->eos_id();
    case MCIP_SPM_PAD: return proc(h)->pad_id();
    default: return -1;
  }
}

long mcip_spm_encode(const void* h, const char* text, size_t len, int* ids, size_t cap, char* err, size_t errlen) {
  try {
    std::vector<int> out;
    auto st = proc(h)->Encode(std::string(text, len), &out);
    if (!st.ok()) {
      set_error(err, errlen, st.ToString());
      return -1;
    }
    if (ids) std::copy_n(out.begin(), std::min(cap, out.size()), ids);
    return static_cast<long>(out.size());
  } catch (const std::exception& e) {
    set_error(err, errlen, e.what());
    return -1;
  }
}

long mcip_spm_decode(const void* h, const int* ids, size_t n, char* out, size_t cap, char* err, size_t errlen) {
  try {
    const int vocab = proc(h)->GetPieceSize();
    for (size_t i = 0; i < n; ++i)
      if (ids[i] < 0 || ids[i] >= vocab) {
        set_error(err, errlen, "token id " + std::to_string(ids[i]) + " is outside the vocabulary of " + std::to_string(vocab));
        return -1;
      }
    std::string text;
    auto st = proc(h)->Decode(std::vector<int>(ids, ids + n), &text);
    if (!st.ok()) {
      set_error(err, errlen, st.ToString());
      return -1;
    }
    return copy_out(text, out, cap);
  } catch (const std::exception& e) {
    set_error(err, errlen, e.what());
    return -1;
  }
}

long mcip_spm_piece(const void* h, int id, char* out, size_t cap) {
  if (id < 0 || id >= proc(h)->GetPieceSize()) return -1;
  return copy_out(proc(h)->IdToPiece(id), out, cap);
}

int mcip_spm_piece_to_id(const void* h, const char* piece, size_t len) {
  return proc(h)->PieceToId(std::string(piece, len));
}

float mcip_spm_score(const void* h, int id) { return proc(h)->GetScore(id); }

int mcip_spm_piece_kind(const void* h, int id) {
  const auto* p = proc(h);
  if (p->IsUnknown(id)) return MCIP_SPM_UNKNOWN;
  if (p->IsControl(id)) return MCIP_SPM_CONTROL;
  if (p->IsUnused(id)) return MCIP_SPM_UNUSED;
  if (p->IsByte(id)) return MCIP_SPM_BYTE;
  return MCIP_SPM_NORMAL;
}

long mcip_spm_serialized(const void* h, char* out, size_t cap) {
  return copy_out(proc(h)->serialized_model_proto(), out, cap);
}

}  // extern "C"
