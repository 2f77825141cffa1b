/* C API of the SentencePiece shim. The shim links Debian's libsentencepiece (with its
 * embedded protobuf 3.14) and is loaded into its own link namespace by
 * mcip::tokenizer, so only the C types below ever cross between it and LibTorch's world. */
#ifndef MCIP_SPM_SHIM_H
#define MCIP_SPM_SHIM_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MCIP_SPM_ABI_VERSION 1

/* Piece kinds, numbered as GGUF's tokenizer.ggml.token_type. */
enum { MCIP_SPM_NORMAL = 1, MCIP_SPM_UNKNOWN = 2, MCIP_SPM_CONTROL = 3, MCIP_SPM_USER_DEFINED = 4,
       MCIP_SPM_UNUSED = 5, MCIP_SPM_BYTE = 6 };
enum { MCIP_SPM_UNK = 0, MCIP_SPM_BOS = 1, MCIP_SPM_EOS = 2, MCIP_SPM_PAD = 3 };

int mcip_spm_abi_version(void);
/* Returns 0 on success; otherwise writes a message to err. args: SentencePieceTrainer flags. */
int mcip_spm_train(const char* args, char* err, size_t errlen);
/* Returns a handle, or NULL with a message in err. */
void* mcip_spm_load_file(const char* path, char* err, size_t errlen);
void* mcip_spm_load_bytes(const char* data, size_t len, char* err, size_t errlen);
void mcip_spm_free(void* handle);
int mcip_spm_vocab_size(const void* handle);
int mcip_spm_special_id(const void* handle, int which);
/* Encodes text into at most cap ids. Returns the number of ids (which may exceed cap:
 * then call again with a bigger buffer) or -1 with a message in err. */
long mcip_spm_encode(const void* handle, const char* text, size_t len, int* ids, size_t cap, char* err, size_t errlen);
/* Decodes ids into at most cap bytes; returns the byte length (may exceed cap) or -1. */
long mcip_spm_decode(const void* handle, const int* ids, size_t n, char* out, size_t cap, char* err, size_t errlen);
/* Copies piece text of id into out; returns its byte length (may exceed cap) or -1 if id is out of range. */
long mcip_spm_piece(const void* handle, int id, char* out, size_t cap);
int mcip_spm_piece_to_id(const void* handle, const char* piece, size_t len);
float mcip_spm_score(const void* handle, int id);
int mcip_spm_piece_kind(const void* handle, int id);
/* Serialized ModelProto (the bytes of a .model file); returns its length (may exceed cap). */
long mcip_spm_serialized(const void* handle, char* out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
