#include "zap_handler.h"

#include <chrono>

#include <zmq_addon.hpp>

#include "fomoe/base/log.h"

namespace fomoe::net {
namespace {
constexpr const char* kLogModule = "net";
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";  // fixed by the ZAP RFC
}  // namespace

Expected<std::unique_ptr<ZapHandler>> ZapHandler::start(zmq::context_t& ctx,
                                                        const std::vector<std::string>& keys,
                                                        std::string hint, KeySource reload) {
  std::unique_ptr<ZapHandler> h(new ZapHandler());
  h->hint_ = std::move(hint);
  h->allowed_.insert(keys.begin(), keys.end());
  h->reload_ = std::move(reload);
  if (h->reload_) {
    if (auto k = h->reload_()) h->reloaded_ = std::set<std::string>(k->begin(), k->end());
    h->last_reload_ = std::chrono::steady_clock::now();
  }
  try {
    h->socket_ = zmq::socket_t(ctx, zmq::socket_type::rep);
    h->socket_.set(zmq::sockopt::linger, 0);
    h->socket_.bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    return make_error(ErrorCode::Internal, std::string("cannot start the ZAP handler: ") + e.what());
  }
  h->thread_ = std::thread([p = h.get()] { p->loop(); });
  return h;
}

ZapHandler::~ZapHandler() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ZapHandler::allow_key(const std::string& public_key) {
  std::lock_guard<std::mutex> lock(mutex_);
  allowed_.insert(public_key);
  refused_logged_.erase(public_key);
}

void ZapHandler::loop() {
  zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}};
  while (!stop_.load()) {
    try {
      zmq::poll(items, 1, std::chrono::milliseconds(50));
      if (items[0].revents & ZMQ_POLLIN) handle_request();
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      FOMOE_LOG_ERROR(kLogModule, "ZAP handler: %s (continuing)", e.what());
    }
  }
}

bool ZapHandler::allowed_locked(const std::string& key) {
  if (allowed_.count(key) > 0 || reloaded_.count(key) > 0) return true;
  if (!reload_) return false;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_reload_ < std::chrono::seconds(1)) return false;
  last_reload_ = now;
  if (auto k = reload_()) {
    reloaded_ = std::set<std::string>(k->begin(), k->end());
    // A key that was refused before and is listed now is news: its next refusal is logged again.
    for (auto it = refused_logged_.begin(); it != refused_logged_.end();)
      it = reloaded_.count(*it) > 0 ? refused_logged_.erase(it) : std::next(it);
  }
  return reloaded_.count(key) > 0;
}

// ZAP request (RFC 27): version, request id, domain, address, routing id, mechanism, credentials.
bool ZapHandler::handle_request() {
  std::vector<zmq::message_t> req;
  if (!zmq::recv_multipart(socket_, std::back_inserter(req), zmq::recv_flags::dontwait)) return false;
  std::string status = "400", text = "refused", user_id;
  std::string address = req.size() > 3 ? req[3].to_string() : "?";
  if (req.size() >= 7 && req[5].to_string() == "CURVE" && req[6].size() == 32) {
    char z85[41] = {0};
    zmq_z85_encode(z85, static_cast<const uint8_t*>(req[6].data()), 32);
    const std::string key(z85);
    bool ok;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ok = allowed_locked(key);
      if (!ok) {
        refused_.fetch_add(1);
        // A refused peer knocks again (an event subscriber retries every second, a watcher is
        // started again): warn once per key, then debug.
        if (refused_logged_.insert(key).second)
          FOMOE_LOG_WARN(kLogModule, "refused CURVE key %s from %s: not in the allow-list (%s)",
                         key.c_str(), address.c_str(), hint_.c_str());
        else
          FOMOE_LOG_DEBUG(kLogModule, "refused CURVE key %s from %s again", key.c_str(),
                          address.c_str());
      }
    }
    if (ok) {
      status = "200";
      text = "OK";
      user_id = key;
    }
  } else {
    refused_.fetch_add(1);
    FOMOE_LOG_WARN(kLogModule, "refused a %s handshake from %s: only CURVE is accepted",
                   req.size() > 5 ? req[5].to_string().c_str() : "malformed", address.c_str());
  }
  std::vector<zmq::message_t> reply;
  reply.emplace_back(std::string("1.0"));
  reply.emplace_back(req.size() > 1 ? req[1].to_string() : std::string());
  reply.emplace_back(status);
  reply.emplace_back(text);
  reply.emplace_back(user_id);
  reply.emplace_back(std::string());
  zmq::send_multipart(socket_, reply);
  return true;
}

}  // namespace fomoe::net
