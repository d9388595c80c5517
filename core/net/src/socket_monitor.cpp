#include "socket_monitor.h"

#include <cstring>
#include <iterator>
#include <vector>

#include <zmq_addon.hpp>

#include "fomoe/base/log.h"

namespace fomoe::net {
namespace {
constexpr const char* kLogModule = "net";
}  // namespace

bool start_monitor(zmq::context_t& ctx, zmq::socket_t& s, zmq::socket_t& monitor,
                   const char* address, int events) {
  if (zmq_socket_monitor(s.handle(), address, events) != 0) {
    FOMOE_LOG_WARN(kLogModule, "socket monitor unavailable (%s): connection losses go unnoticed",
                   zmq_strerror(zmq_errno()));
    return false;
  }
  monitor = zmq::socket_t(ctx, zmq::socket_type::pair);
  monitor.set(zmq::sockopt::linger, 0);
  monitor.set(zmq::sockopt::rcvhwm, 0);
  monitor.connect(address);
  return true;
}

std::optional<MonitorEvent> next_monitor_event(zmq::socket_t& monitor) {
  for (;;) {
    std::vector<zmq::message_t> ev;
    try {
      if (!zmq::recv_multipart(monitor, std::back_inserter(ev), zmq::recv_flags::dontwait))
        return std::nullopt;
    } catch (const zmq::error_t& e) {
      FOMOE_LOG_DEBUG(kLogModule, "monitor: %s", e.what());
      return std::nullopt;
    }
    if (ev.empty() || ev[0].size() < 6) continue;
    MonitorEvent out;
    std::memcpy(&out.event, ev[0].data(), 2);
    std::memcpy(&out.value, static_cast<const char*>(ev[0].data()) + 2, 4);
    if (ev.size() > 1) out.address = ev[1].to_string();
    return out;
  }
}

}  // namespace fomoe::net
