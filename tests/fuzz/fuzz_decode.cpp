// libFuzzer target for the wire decoder (built by scripts/fuzz-decoder).
// Properties checked on every input:
//   - decode() never crashes, never reads out of bounds (ASan), never hits UB (UBSan);
//   - a rejection is ErrorCode::Protocol with a non-empty reason;
//   - an accepted message re-encodes, and decoding that gives back the same message.
#include <cstdio>
#include <cstdlib>

#include "fomoe/net/protocol.h"
#include "fuzz_frames.h"

using namespace fomoe::net;

namespace {

void fail(const char* what) {
  std::fprintf(stderr, "fuzz_decode: property violated: %s\n", what);
  std::abort();
}

bool same(const Message& a, const Message& b) {
  if (a.header.type != b.header.type || a.header.run_id != b.header.run_id ||
      a.header.round != b.header.round || a.header.sender != b.header.sender ||
      a.header.seq != b.header.seq || a.header.version != b.header.version)
    return false;
  if (a.meta != b.meta || a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const TensorBlob &x = a.tensors[i], &y = b.tensors[i];
    if (x.name != y.name || x.dtype != y.dtype || x.shape != y.shape || x.data != y.data) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  DecodeLimits limits;
  limits.max_message_bytes = 1 << 20;
  limits.max_meta_bytes = 1 << 16;
  limits.max_tensors = 32;
  auto frames = fuzz::split_frames(data, size);
  auto msg = decode(frames, limits);
  if (!msg) {
    if (msg.error().code != fomoe::ErrorCode::Protocol) fail("rejection is not ErrorCode::Protocol");
    if (msg.error().message.empty()) fail("rejection without a reason");
    return 0;
  }
  // Re-encoding may grow the metadata text (1E5 -> 100000.0), so the second pass gets room.
  DecodeLimits relaxed = limits;
  relaxed.max_meta_bytes = 1 << 20;
  relaxed.max_message_bytes = 1 << 24;
  if (!validate(*msg, relaxed)) fail("a decoded message does not validate");
  const uint64_t predicted = encoded_size(*msg);
  auto again = encode(*msg, relaxed);
  if (!again) fail("a decoded message does not re-encode");
  uint64_t total = 0;
  for (const auto& f : *again) total += f.size();
  if (total != predicted) fail("encoded_size() differs from the encoded frames");
  auto back = decode(*again, relaxed);
  if (!back) fail("a re-encoded message does not decode");
  if (!same(*msg, *back)) fail("decode(encode(m)) != m");
  return 0;
}
