// Internal: a ZAP (RFC 27) handler thread that accepts only CURVE keys on an allow-list. Shared by
// CoordinatorEndpoint (ROUTER) and EventPublisher (PUB). One per ZeroMQ context: it binds the fixed
// endpoint inproc://zeromq.zap.01, so start it before the CURVE server socket binds or connects.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "fomoe/base/expected.h"

namespace fomoe::net {

class ZapHandler {
 public:
  /// Keys read again from where they live (an allow-list directory); nullopt keeps the last ones.
  using KeySource = std::function<std::optional<std::vector<std::string>>()>;

  /// `keys` must be valid Z85 keys (checked by the caller). `hint` ends the refusal warning
  /// (what the operator should do, e.g. "add its .pub file to the coordinator's allow-list").
  /// With `reload`, a key that is not allowed makes the handler (on its thread, at most once a
  /// second) replace the reloaded keys with reload()'s, so keys added there are admitted at the
  /// peer's next attempt, and keys removed there are refused from the next handshake on.
  static Expected<std::unique_ptr<ZapHandler>> start(zmq::context_t& ctx,
                                                     const std::vector<std::string>& keys,
                                                     std::string hint, KeySource reload = {});
  ~ZapHandler();  // stops the thread and closes the socket (before the context terminates)
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  void allow_key(const std::string& public_key);  // thread-safe
  uint64_t refused() const { return refused_.load(); }

 private:
  ZapHandler() = default;
  void loop();
  bool handle_request();
  bool allowed_locked(const std::string& key);  // mutex_ held

  zmq::socket_t socket_;
  std::string hint_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::set<std::string> allowed_;   // the fixed keys and allow_key()'s
  std::set<std::string> reloaded_;  // the last keys reload_ gave
  KeySource reload_;
  std::chrono::steady_clock::time_point last_reload_{};
  std::set<std::string> refused_logged_;
  std::atomic<uint64_t> refused_{0};
};

}  // namespace fomoe::net
