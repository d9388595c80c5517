#include "fomoe/sysmodel/wire_bytes.h"

namespace fomoe::sysmodel {

WireBytes& WireBytes::operator+=(const WireBytes& o) {
  tensor += o.tensor;
  framing += o.framing;
  messages += o.messages;
  tensors += o.tensors;
  return *this;
}

WireBytes operator+(WireBytes a, const WireBytes& b) { return a += b; }

WireBytes operator*(WireBytes a, uint64_t n) {
  a.tensor *= n;
  a.framing *= n;
  a.messages *= n;
  a.tensors *= n;
  return a;
}

size_t bytes_per_element(WirePrecision p) {
  switch (p) {
    case WirePrecision::F32: return 4;
    case WirePrecision::BF16: return 2;
    case WirePrecision::F16: return 2;
  }
  return 4;
}

uint64_t tensor_descriptor_bytes(size_t name_bytes, size_t ndim) { return 1 + 1 + 2 + name_bytes + 8 * ndim + 8; }

WireBytes tensor_wire_bytes(const ParamSpec& t, size_t elem_bytes) {
  WireBytes w;
  w.tensor = static_cast<uint64_t>(t.numel()) * elem_bytes;
  w.framing = tensor_descriptor_bytes(t.name.size(), t.shape.size());
  w.tensors = 1;
  return w;
}

WireBytes message_wire_bytes(const std::vector<ParamSpec>& tensors, size_t elem_bytes, uint64_t meta_bytes) {
  WireBytes w;
  w.framing = kHeaderFrameBytes + meta_bytes;
  w.messages = 1;
  for (const ParamSpec& t : tensors) w += tensor_wire_bytes(t, elem_bytes);
  return w;
}

}  // namespace fomoe::sysmodel
