#include "fomoe/net/entropy_coding.h"

#include <zstd.h>

#include <memory>

namespace fomoe::net {

namespace {
Error coding_error(std::string message) { return Error{ErrorCode::Protocol, std::move(message)}; }

// One context per thread: creating one costs more than coding a small frame.
ZSTD_CCtx* compression_context() {
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> ctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  return ctx.get();
}
ZSTD_DCtx* decompression_context() {
  thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  return ctx.get();
}
}  // namespace

CodingTally entropy_code(Message& msg, int level) {
  CodingTally tally;
  std::string coded;
  for (TensorBlob& t : msg.tensors) {
    if (t.zstd) continue;  // coded before: its raw size is not known here
    tally.raw += t.data.size();
    if (t.data.size() >= kEntropyCodingMinBytes) {
      coded.resize(ZSTD_compressBound(t.data.size()));
      const size_t n = ZSTD_compressCCtx(compression_context(), coded.data(), coded.size(), t.data.data(), t.data.size(), level);
      if (!ZSTD_isError(n) && n < t.data.size()) {  // else incompressible: raw is smaller
        coded.resize(n);
        t.data.swap(coded);
        t.zstd = true;
      }
    }
    tally.coded += t.data.size();
  }
  return tally;
}

Expected<uint64_t> zstd_content_size(const void* coded, size_t size) {
  const unsigned long long content = ZSTD_getFrameContentSize(coded, size);
  if (content == ZSTD_CONTENTSIZE_ERROR) return coding_error("not a zstd frame");
  if (content == ZSTD_CONTENTSIZE_UNKNOWN) return coding_error("zstd frame does not declare its size");
  const size_t frame = ZSTD_findFrameCompressedSize(coded, size);
  if (ZSTD_isError(frame)) return coding_error(std::string("truncated zstd frame: ") + ZSTD_getErrorName(frame));
  if (frame != size)
    return coding_error("zstd frame of " + std::to_string(frame) + " bytes followed by " + std::to_string(size - frame) + " more");
  return static_cast<uint64_t>(content);
}

Expected<std::string> zstd_decode(const void* coded, size_t size, uint64_t raw_bytes, const std::string& what) {
  std::string out(static_cast<size_t>(raw_bytes), '\0');
  const size_t n = ZSTD_decompressDCtx(decompression_context(), out.data(), out.size(), coded, size);
  if (ZSTD_isError(n)) return coding_error(what + ": zstd data does not decode: " + ZSTD_getErrorName(n));
  if (n != raw_bytes)
    return coding_error(what + ": zstd data decodes to " + std::to_string(n) + " bytes, its shape and dtype need " + std::to_string(raw_bytes));
  return out;
}

}  // namespace fomoe::net
