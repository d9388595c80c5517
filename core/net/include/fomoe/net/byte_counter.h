// ByteCounter: the one place where wire bytes are counted. Both endpoints record every multipart
// message they send or receive, so coordinator and agents measure with the same rule:
//
//   bytes of a message = sum of the sizes of its protocol frames (header + metadata + each tensor
//   descriptor + each tensor data frame) = encoded_size(msg) = predicted_wire_bytes(...).
//
// Not counted: the ROUTER identity frame (added and stripped by ZeroMQ routing, never on the
// wire as payload), ZMTP framing (2 or 9 bytes per frame), CURVE box overhead (about 33 bytes per
// frame), TCP/IP headers. Malformed messages are counted under msg_type "invalid", round -1.
// Direction follows LinkBytes: seen from the coordinator (Sent = coordinator -> site), also when
// the agent records its own traffic.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "fomoe/base/run_events.h"
#include "fomoe/net/protocol.h"

namespace fomoe::net {

inline constexpr const char* kInvalidTypeName = "invalid";

struct ByteRow {
  int round = 0;
  int site = 0;
  Direction direction = Direction::Sent;
  std::string msg_type;  // msg_type_name(), or kInvalidTypeName
  int64_t bytes = 0;
  int64_t messages = 0;
  double seconds = 0.0;  // emulated link time spent on these messages (0 without emulation)

  LinkBytes to_link_bytes() const;
};

/// Thread-safe; rows are keyed by (round, site, direction, msg_type) and sorted by that key.
class ByteCounter {
 public:
  void record(int round, int site, Direction direction, const std::string& msg_type, int64_t bytes,
              double seconds = 0.0);
  void record(int round, int site, Direction direction, MsgType type, int64_t bytes,
              double seconds = 0.0);

  std::vector<ByteRow> snapshot() const;
  /// Returns the rows and clears them (for per-round reporting to a RunSink).
  std::vector<ByteRow> take();
  int64_t total(Direction direction) const;  // since construction, not reset by take()

 private:
  using Key = std::tuple<int, int, int, std::string>;
  mutable std::mutex mutex_;
  std::map<Key, ByteRow> rows_;
  int64_t total_sent_ = 0;
  int64_t total_received_ = 0;
};

std::vector<LinkBytes> to_link_bytes(const std::vector<ByteRow>& rows);

}  // namespace fomoe::net
