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

TravelFormat travel_format(WirePrecision precision, Compression compression, double topk) {
  if (topk > 0) {
    auto f = travel_format(WirePrecision::F32, compression);
    f.topk = topk;
    return f;
  }
  switch (compression) {
    case Compression::None: return plain_travel(bytes_per_element(precision));
    case Compression::Int8: return TravelFormat{1, true, kInt8Layout};
    case Compression::Fp8: return TravelFormat{1, true, kFp8Layout};
    case Compression::Int4: return TravelFormat{1, true, kInt4Layout};
    case Compression::Int2: return TravelFormat{1, true, kInt2Layout};
  }
  return plain_travel(4);
}

uint64_t tensor_descriptor_bytes(size_t name_bytes, size_t ndim) { return 1 + 1 + 2 + name_bytes + 8 * ndim + 8; }

WireBytes tensor_wire_bytes(const ParamSpec& t, size_t elem_bytes) { return tensor_wire_bytes(t, plain_travel(elem_bytes)); }

WireBytes tensor_wire_bytes(const ParamSpec& t, const TravelFormat& format) {
  WireBytes w;
  w.tensor = format.data_bytes(static_cast<uint64_t>(t.numel()));
  w.framing = tensor_descriptor_bytes(t.name.size(), t.shape.size());
  w.tensors = 1;
  return w;
}

WireBytes message_wire_bytes(const std::vector<ParamSpec>& tensors, size_t elem_bytes, uint64_t meta_bytes) {
  return message_wire_bytes(tensors, plain_travel(elem_bytes), meta_bytes);
}

WireBytes message_wire_bytes(const std::vector<ParamSpec>& tensors, const TravelFormat& format, uint64_t meta_bytes) {
  WireBytes w;
  w.framing = kHeaderFrameBytes + meta_bytes;
  w.messages = 1;
  for (const ParamSpec& t : tensors) w += tensor_wire_bytes(t, format);
  return w;
}

}  // namespace fomoe::sysmodel
