// The fuzz input format, shared by the fuzz target and the seed-corpus generator:
// a sequence of frames, each a u16 little-endian length followed by that many bytes (a short
// last frame takes what is left). At most kMaxFuzzFrames frames.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fomoe/net/protocol.h"

namespace fomoe::net::fuzz {

inline constexpr size_t kMaxFuzzFrames = 64;

inline std::vector<FrameView> split_frames(const uint8_t* data, size_t size) {
  std::vector<FrameView> frames;
  size_t pos = 0;
  while (pos + 2 <= size && frames.size() < kMaxFuzzFrames) {
    size_t len = data[pos] | (static_cast<size_t>(data[pos + 1]) << 8);
    pos += 2;
    if (len > size - pos) len = size - pos;
    frames.push_back(FrameView{data + pos, len});
    pos += len;
  }
  return frames;
}

inline std::string join_frames(const std::vector<std::string>& frames) {
  std::string out;
  for (const std::string& f : frames) {
    const size_t len = f.size() < 0xFFFF ? f.size() : 0xFFFF;
    out.push_back(static_cast<char>(len & 0xFF));
    out.push_back(static_cast<char>(len >> 8));
    out.append(f, 0, len);
  }
  return out;
}

}  // namespace fomoe::net::fuzz
