// libFuzzer entry point: feeds arbitrary bytes to the safetensors file parser. The parser must
// either return a header whose tensors tile the buffer, or throw InputError; anything else
// (crash, sanitizer report, other exception) is a bug.
#include <cstdint>
#include <cstdlib>

#include "mcip/error.h"
#include "mcip/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto header = mcip::safetensors::parse_file_image(data, size, "fuzz");
    std::uint64_t expected = 0;
    for (const auto& t : header.tensors) {
      if (t.begin != expected || t.nbytes() != static_cast<std::uint64_t>(t.numel()) * mcip::safetensors::dtype_size(t.dtype))
        std::abort();
      expected = t.end;
    }
    if (header.data_start + expected != size) std::abort();
  } catch (const mcip::InputError&) {
  }
  return 0;
}
