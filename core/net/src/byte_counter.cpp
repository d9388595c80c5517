#include "fomoe/net/byte_counter.h"

namespace fomoe::net {

LinkBytes ByteRow::to_link_bytes() const {
  LinkBytes l;
  l.round = round;
  l.site = site;
  l.direction = direction;
  l.msg_type = msg_type;
  l.bytes = bytes;
  l.seconds = seconds;
  return l;
}

void ByteCounter::record(int round, int site, Direction direction, const std::string& msg_type,
                         int64_t bytes, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  Key key{round, site, static_cast<int>(direction), msg_type};
  auto it = rows_.find(key);
  if (it == rows_.end()) {
    ByteRow row;
    row.round = round;
    row.site = site;
    row.direction = direction;
    row.msg_type = msg_type;
    it = rows_.emplace(std::move(key), std::move(row)).first;
  }
  it->second.bytes += bytes;
  it->second.messages += 1;
  it->second.seconds += seconds;
  (direction == Direction::Sent ? total_sent_ : total_received_) += bytes;
}

void ByteCounter::record(int round, int site, Direction direction, MsgType type, int64_t bytes,
                         double seconds) {
  record(round, site, direction, std::string(msg_type_name(type)), bytes, seconds);
}

std::vector<ByteRow> ByteCounter::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ByteRow> out;
  out.reserve(rows_.size());
  for (const auto& kv : rows_) out.push_back(kv.second);
  return out;
}

std::vector<ByteRow> ByteCounter::take() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ByteRow> out;
  out.reserve(rows_.size());
  for (auto& kv : rows_) out.push_back(std::move(kv.second));
  rows_.clear();
  return out;
}

int64_t ByteCounter::total(Direction direction) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return direction == Direction::Sent ? total_sent_ : total_received_;
}

std::vector<LinkBytes> to_link_bytes(const std::vector<ByteRow>& rows) {
  std::vector<LinkBytes> out;
  out.reserve(rows.size());
  for (const ByteRow& r : rows) out.push_back(r.to_link_bytes());
  return out;
}

}  // namespace fomoe::net
