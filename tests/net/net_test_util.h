// Shared helpers for the net tests: a minimal valid message of every type.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "fomoe/net/protocol.h"

namespace fomoe::net::testing {

inline nlohmann::json minimal_meta(MsgType type) {
  using nlohmann::json;
  switch (type) {
    case MsgType::Hello:
      return json{{field::kAgentName, "site-a"},
                  {field::kPublicKey, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"},
                  {field::kDevice, json{{"kind", "cpu"}, {"threads", 2}}}};
    case MsgType::Welcome:
      return json{{field::kSiteId, 1},
                  {field::kExperimentToml, "[model]\nd_model = 64\n"},
                  {field::kResidency, json::array({json::array({0, 2}), json::array({1, 3})})}};
    case MsgType::StartRound: return json{{field::kSteps, 32}};
    case MsgType::RoundReport:
      return json{{field::kSteps, 32},
                  {field::kPayload, "pseudo_grad"},
                  {field::kExpertTokens, json::array({json::array({10, 0, 7, 0})})},
                  {field::kMetrics, json{{"train/loss", 3.25}}},
                  {field::kComputeSeconds, 1.5}};
    case MsgType::StepGrad: return json{{field::kStep, 7}};
    case MsgType::StepUpdate: return json{{field::kStep, 7}};
    case MsgType::Heartbeat: return json::object();
    case MsgType::Ack: return json{{field::kAckSeq, 12}};
    case MsgType::ErrorReply: return json{{field::kCode, "protocol"}, {field::kMessage, "bad"}};
    case MsgType::Shutdown: return json{{field::kReason, "done"}};
  }
  return json::object();
}

inline TensorBlob f32_tensor(const std::string& name, std::vector<int64_t> shape, float start = 0.f) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = start + static_cast<float>(i) * 0.5f;
  return make_tensor(name, DType::F32, std::move(shape), v.data());
}

inline Message sample_message(MsgType type) {
  Message m = make_message(type, minimal_meta(type), /*run_id=*/42, /*round=*/3);
  m.header.sender = 1;
  m.header.seq = 1000;
  if (type_spec(type).carries_tensors) {
    m.tensors.push_back(f32_tensor("layers.0.attn.wq", {4, 3}));
    std::vector<uint16_t> half(6, 0x3c00);
    m.tensors.push_back(make_tensor("layers.0.experts.1.w1", DType::BF16, {2, 3}, half.data()));
    int64_t scalar = -5;
    m.tensors.push_back(make_tensor("step_count", DType::I64, {}, &scalar));
  }
  return m;
}

}  // namespace fomoe::net::testing
