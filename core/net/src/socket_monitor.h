// Internal: a ZeroMQ socket monitor read without blocking, shared by the endpoints (connection
// losses, refused keys) and the event subscriber (why nothing arrives). CURVE handshake failures
// are otherwise silent in ZeroMQ: a refused peer just receives nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <zmq.hpp>

namespace fomoe::net {

// Monitors `s` into a PAIR socket read with dontwait. libzmq's I/O thread sends monitor events
// with a blocking send, so a full monitor queue would stall it (and all its connections):
// our receive side has no high-water mark. Call before bind/connect so no connection is missed.
// `address` is an inproc:// name unique within `ctx`. False (and a warning) when unavailable.
bool start_monitor(zmq::context_t& ctx, zmq::socket_t& s, zmq::socket_t& monitor,
                   const char* address, int events);

struct MonitorEvent {
  uint16_t event = 0;
  uint32_t value = 0;  // the fd for ACCEPTED / CONNECTED / DISCONNECTED, the ZAP status for FAILED_AUTH
  std::string address;
};

// Next event (libzmq 4.3 format: [u16 event, u32 value] [endpoint]), or nullopt when none is queued.
std::optional<MonitorEvent> next_monitor_event(zmq::socket_t& monitor);

}  // namespace fomoe::net
