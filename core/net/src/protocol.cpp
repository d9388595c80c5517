#include "fomoe/net/protocol.h"

#include "fomoe/net/entropy_coding.h"

#include <string_view>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

namespace fomoe::net {
namespace {

using nlohmann::json;

static_assert(sizeof(float) == 4, "fp32 must be 4 bytes");

Error protocol_error(std::string message) { return make_error(ErrorCode::Protocol, std::move(message)); }

constexpr uint8_t kZstdDTypeBit = 0x80;  // in a descriptor's dtype byte: the data frame is zstd-coded

std::string format_hex(unsigned value) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[value & 0xF]);
    value >>= 4;
  } while (value != 0);
  if (out.size() % 2) out.insert(out.begin(), '0');
  return out;
}

// ---- little-endian primitives (explicit shifts: correct on any host) ----

void put_u8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void put_u16(std::string& out, uint16_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// Bounds-checked reader over one frame.
class Reader {
 public:
  Reader(const void* data, size_t size) : p_(static_cast<const uint8_t*>(data)), n_(size) {}
  bool can_read(size_t k) const { return k <= n_ - pos_; }
  size_t remaining() const { return n_ - pos_; }
  uint64_t get(int bytes) {  // caller checked can_read(bytes)
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p_[pos_ + i]) << (8 * i);
    pos_ += bytes;
    return v;
  }
  const uint8_t* ptr() const { return p_ + pos_; }
  void skip(size_t k) { pos_ += k; }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

const std::vector<TypeSpec>& spec_table() {
  using K = FieldKind;
  static const std::vector<TypeSpec> table = {
      {MsgType::Hello, "hello",
       {{field::kAgentName, K::String}, {field::kPublicKey, K::String}, {field::kDevice, K::Object}},
       false},
      {MsgType::Welcome, "welcome",
       {{field::kSiteId, K::NonNegInteger},
        {field::kExperimentToml, K::String},
        {field::kResidency, K::Array}},
       false},
      {MsgType::StartRound, "start_round", {{field::kSteps, K::NonNegInteger}}, true},
      {MsgType::RoundReport, "round_report",
       {{field::kSteps, K::NonNegInteger},
        {field::kPayload, K::String},
        {field::kExpertTokens, K::Array},
        {field::kMetrics, K::Object},
        {field::kComputeSeconds, K::Number}},
       true},
      {MsgType::StepGrad, "step_grad", {{field::kStep, K::NonNegInteger}}, true},
      {MsgType::StepUpdate, "step_update", {{field::kStep, K::NonNegInteger}}, true},
      {MsgType::Heartbeat, "heartbeat", {}, false},
      {MsgType::Ack, "ack", {{field::kAckSeq, K::NonNegInteger}}, false},
      {MsgType::ErrorReply, "error", {{field::kCode, K::String}, {field::kMessage, K::String}}, false},
      {MsgType::Shutdown, "shutdown", {{field::kReason, K::String}}, false},
  };
  return table;
}

const char* field_kind_name(FieldKind kind) {
  switch (kind) {
    case FieldKind::String: return "a string";
    case FieldKind::Integer: return "an integer";
    case FieldKind::NonNegInteger: return "a non-negative integer";
    case FieldKind::Number: return "a number";
    case FieldKind::Bool: return "a boolean";
    case FieldKind::Array: return "an array";
    case FieldKind::Object: return "an object";
  }
  return "?";
}

bool kind_matches(const json& v, FieldKind kind) {
  switch (kind) {
    case FieldKind::String: return v.is_string();
    case FieldKind::Integer: return v.is_number_integer();
    case FieldKind::NonNegInteger:
      return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
    case FieldKind::Number: return v.is_number();
    case FieldKind::Bool: return v.is_boolean();
    case FieldKind::Array: return v.is_array();
    case FieldKind::Object: return v.is_object();
  }
  return false;
}

Status validate_meta(MsgType type, const json& meta) {
  const TypeSpec& spec = type_spec(type);
  if (!meta.is_object())
    return protocol_error(std::string(spec.name) + ": metadata (frame 1) must be a JSON object, got " +
                          meta.type_name());
  for (const FieldSpec& f : spec.required) {
    auto it = meta.find(f.name);
    if (it == meta.end())
      return protocol_error(std::string(spec.name) + ": metadata field '" + f.name +
                            "' is missing (required, " + field_kind_name(f.kind) + ")");
    if (!kind_matches(*it, f.kind))
      return protocol_error(std::string(spec.name) + ": metadata field '" + f.name + "' must be " +
                            field_kind_name(f.kind) + ", got " + it->type_name());
  }
  return Status::ok();
}


bool all_numbers_finite(const json& v) {
  if (v.is_number_float()) return std::isfinite(v.get<double>());
  if (v.is_array() || v.is_object()) {
    for (const auto& child : v)
      if (!all_numbers_finite(child)) return false;
  }
  return true;
}

Status check_name(const std::string& name, size_t index) {
  const std::string where = "tensor " + std::to_string(index);
  if (name.empty()) return protocol_error(where + ": name is empty");
  if (name.size() > kMaxTensorNameBytes)
    return protocol_error(where + ": name is " + std::to_string(name.size()) + " bytes, limit " +
                          std::to_string(kMaxTensorNameBytes));
  for (size_t i = 0; i < name.size(); ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x21 || c > 0x7E)
      return protocol_error(where + ": name has a non-printable or space byte 0x" +
                            format_hex(c) + " at offset " + std::to_string(i) +
                            " (names are printable ASCII without spaces)");
  }
  return Status::ok();
}


// numel * dtype_size with overflow checks; error names the tensor and the offending dim.
Expected<uint64_t> checked_nbytes(const std::vector<int64_t>& shape, DType dtype, size_t index,
                                  uint64_t max_bytes, uint64_t declared) {
  const std::string where = "tensor " + std::to_string(index);
  if (shape.size() > static_cast<size_t>(kMaxTensorDims))
    return protocol_error(where + ": " + std::to_string(shape.size()) + " dims, limit " +
                          std::to_string(kMaxTensorDims));
  // Block-quantized dtypes: count values first (1 "byte" each), then convert.
  const auto layout = quantized_layout(dtype);
  const auto sparse = sparse_value_dtype(dtype);
  const uint64_t elem = layout || sparse ? 1 : dtype_size(dtype);
  uint64_t bytes = elem;
  bool zero = false;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0)
      return protocol_error(where + ": shape[" + std::to_string(d) + "] = " +
                            std::to_string(shape[d]) + " is negative");
    if (shape[d] == 0) zero = true;
  }
  if (zero) return uint64_t{0};
  if (sparse) {  // the size must be one some k gives exactly (sparse_layout.h); k follows from it
    uint64_t numel = 1;
    for (int64_t d : shape) {
      const auto dim = static_cast<uint64_t>(d);
      if (numel > max_bytes / dim)
        return protocol_error(where + ": shape overflows the message limit of " + std::to_string(max_bytes) + " bytes");
      numel *= dim;
    }
    const auto vl = quantized_layout(*sparse);
    SparseSplit split;
    if (declared > max_bytes || !sparse_split(numel, declared, vl ? &*vl : nullptr, split))
      return protocol_error(where + ": " + std::to_string(declared) + " bytes is no top-k size of " + std::to_string(numel) +
                            " values of " + dtype_name(dtype));
    return declared;
  }
  for (size_t d = 0; d < shape.size(); ++d) {
    const auto dim = static_cast<uint64_t>(shape[d]);
    if (dim != 0 && bytes > max_bytes / dim)
      return protocol_error(where + ": shape overflows: the product of dims up to shape[" +
                            std::to_string(d) + "] times " + std::to_string(elem) +
                            " bytes exceeds the message limit of " + std::to_string(max_bytes) +
                            " bytes");
    bytes *= dim;
  }
  if (layout) bytes = quantized_bytes(bytes, *layout);  // numel <= max_bytes: cannot overflow
  if (bytes > max_bytes)
    return protocol_error(where + ": " + std::to_string(bytes) + " bytes exceeds the message limit of " +
                          std::to_string(max_bytes) + " bytes");
  return bytes;
}

void encode_header(const Header& h, std::string& out) {
  out.reserve(kHeaderBytes);
  put_u32(out, kMagic);
  put_u16(out, h.version);
  put_u16(out, static_cast<uint16_t>(h.type));
  put_u64(out, h.run_id);
  put_u32(out, h.round);
  put_u32(out, static_cast<uint32_t>(h.sender));
  put_u64(out, h.seq);
}

std::string encode_descriptor(const TensorBlob& t) {
  std::string out;
  out.reserve(descriptor_bytes(t.name.size(), t.shape.size()));
  put_u8(out, static_cast<uint8_t>(static_cast<uint8_t>(t.dtype) | (t.zstd ? kZstdDTypeBit : 0)));
  put_u8(out, static_cast<uint8_t>(t.shape.size()));
  put_u16(out, static_cast<uint16_t>(t.name.size()));
  out += t.name;
  for (int64_t d : t.shape) put_u64(out, static_cast<uint64_t>(d));
  put_u64(out, t.data.size());
  return out;
}

Expected<std::string> dump_meta(const json& meta) {
  try {
    return meta.dump();
  } catch (const json::exception& e) {
    return protocol_error(std::string("metadata cannot be serialised: ") + e.what());
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

const char* msg_type_name(MsgType type) {
  for (const TypeSpec& s : spec_table())
    if (s.type == type) return s.name;
  return "unknown";
}

std::optional<MsgType> msg_type_from_u16(uint16_t value) {
  for (const TypeSpec& s : spec_table())
    if (static_cast<uint16_t>(s.type) == value) return s.type;
  return std::nullopt;
}

const std::vector<MsgType>& all_msg_types() {
  static const std::vector<MsgType> types = [] {
    std::vector<MsgType> v;
    for (const TypeSpec& s : spec_table()) v.push_back(s.type);
    return v;
  }();
  return types;
}

const TypeSpec& type_spec(MsgType type) {
  for (const TypeSpec& s : spec_table())
    if (s.type == type) return s;
  FOMOE_ASSERT(false, "type_spec: MsgType " + std::to_string(static_cast<int>(type)) +
                          " has no row in spec_table() (protocol.cpp)");
  return spec_table().front();
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F32: return 4;
    case DType::BF16: return 2;
    case DType::F16: return 2;
    case DType::I64: return 8;
    case DType::I32: return 4;
    case DType::Q8:
    case DType::FP8:
    case DType::Q4:
    case DType::Q2:
    case DType::SPARSE_F32:
    case DType::SPARSE_Q8:
    case DType::SPARSE_FP8:
    case DType::SPARSE_Q4:
    case DType::SPARSE_Q2: return 0;
  }
  return 0;
}

std::optional<QuantizedLayout> quantized_layout(DType dtype) {
  switch (dtype) {
    case DType::Q8: return kInt8Layout;
    case DType::FP8: return kFp8Layout;
    case DType::Q4: return kInt4Layout;
    case DType::Q2: return kInt2Layout;
    default: return std::nullopt;
  }
}

std::optional<DType> sparse_value_dtype(DType dtype) {
  switch (dtype) {
    case DType::SPARSE_F32: return DType::F32;
    case DType::SPARSE_Q8: return DType::Q8;
    case DType::SPARSE_FP8: return DType::FP8;
    case DType::SPARSE_Q4: return DType::Q4;
    case DType::SPARSE_Q2: return DType::Q2;
    default: return std::nullopt;
  }
}

DType sparse_dtype(DType values) {
  switch (values) {
    case DType::Q8: return DType::SPARSE_Q8;
    case DType::FP8: return DType::SPARSE_FP8;
    case DType::Q4: return DType::SPARSE_Q4;
    case DType::Q2: return DType::SPARSE_Q2;
    default: return DType::SPARSE_F32;
  }
}

uint64_t payload_bytes(DType dtype, uint64_t numel, double topk) {
  if (auto v = sparse_value_dtype(dtype)) {
    const auto vl = quantized_layout(*v);
    return sparse_bytes(numel, topk, vl ? &*vl : nullptr);
  }
  if (auto l = quantized_layout(dtype)) return quantized_bytes(numel, *l);
  return numel * dtype_size(dtype);
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::F16: return "f16";
    case DType::I64: return "i64";
    case DType::I32: return "i32";
    case DType::Q8: return "q8";
    case DType::FP8: return "fp8_e4m3";
    case DType::Q4: return "q4";
    case DType::Q2: return "q2";
    case DType::SPARSE_F32: return "sparse_f32";
    case DType::SPARSE_Q8: return "sparse_q8";
    case DType::SPARSE_FP8: return "sparse_fp8_e4m3";
    case DType::SPARSE_Q4: return "sparse_q4";
    case DType::SPARSE_Q2: return "sparse_q2";
  }
  return "unknown";
}

std::optional<DType> dtype_from_u8(uint8_t value) {
  if (value >= static_cast<uint8_t>(DType::F32) && value <= static_cast<uint8_t>(DType::SPARSE_Q2))
    return static_cast<DType>(value);
  return std::nullopt;
}

int64_t TensorBlob::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

TensorBlob make_tensor(std::string name, DType dtype, std::vector<int64_t> shape, const void* src) {
  TensorBlob t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  const auto n = static_cast<size_t>(payload_bytes(dtype, static_cast<uint64_t>(t.numel())));
  t.data.resize(n);
  if (n > 0) std::memcpy(t.data.data(), src, n);
  return t;
}

Message make_message(MsgType type, nlohmann::json meta, uint64_t run_id, uint32_t round) {
  Message m;
  m.header.type = type;
  m.header.run_id = run_id;
  m.header.round = round;
  m.meta = meta.is_null() ? nlohmann::json::object() : std::move(meta);  // {} braces give null
  return m;
}

size_t descriptor_bytes(size_t name_bytes, size_t ndim) { return 4 + name_bytes + 8 * ndim + 8; }

Status validate(const Message& msg, const DecodeLimits& limits) {
  if (!msg_type_from_u16(static_cast<uint16_t>(msg.header.type)))
    return protocol_error("unknown message type " + std::to_string(static_cast<int>(msg.header.type)));
  if (msg.header.version != kProtocolVersion)
    return protocol_error("header version " + std::to_string(msg.header.version) +
                          ", this build speaks " + std::to_string(kProtocolVersion));
  if (Status s = validate_meta(msg.header.type, msg.meta); !s) return s;
  if (!all_numbers_finite(msg.meta))
    return protocol_error(std::string(msg_type_name(msg.header.type)) +
                          ": metadata holds a non-finite number (JSON has no NaN/Inf)");
  const TypeSpec& spec = type_spec(msg.header.type);
  if (!spec.carries_tensors && !msg.tensors.empty())
    return protocol_error(std::string(spec.name) + " carries " + std::to_string(msg.tensors.size()) +
                          " tensors; this type carries none");
  if (msg.tensors.size() > limits.max_tensors)
    return protocol_error(std::to_string(msg.tensors.size()) + " tensors, limit " +
                          std::to_string(limits.max_tensors));
  std::set<std::string> names;
  uint64_t decoded_total = 0;  // as decode() counts it: zstd-coded tensors at their decoded size
  for (size_t i = 0; i < msg.tensors.size(); ++i) {
    const TensorBlob& t = msg.tensors[i];
    if (Status s = check_name(t.name, i); !s) return s;
    if (!dtype_from_u8(static_cast<uint8_t>(t.dtype)))
      return protocol_error("tensor '" + t.name + "': unknown dtype " +
                            std::to_string(static_cast<int>(t.dtype)));
    uint64_t raw = t.data.size();
    if (t.zstd) {
      auto content = zstd_content_size(t.data.data(), t.data.size());
      if (!content) return protocol_error("tensor '" + t.name + "': " + content.error().message);
      raw = *content;
    }
    if ((decoded_total += raw) > limits.max_message_bytes)
      return protocol_error("tensor '" + t.name + "': decoded tensors exceed the message limit of " +
                            std::to_string(limits.max_message_bytes) + " bytes");
    auto nbytes = checked_nbytes(t.shape, t.dtype, i, limits.max_message_bytes, raw);
    if (!nbytes) return protocol_error("'" + t.name + "': " + nbytes.error().message);
    if (*nbytes != raw)
      return protocol_error("tensor '" + t.name + "': shape and " + dtype_name(t.dtype) + " need " +
                            std::to_string(*nbytes) + " bytes, data holds " +
                            std::to_string(raw));
    if (!names.insert(t.name).second)
      return protocol_error("tensor '" + t.name + "' appears twice in one message");
  }
  return Status::ok();
}

Expected<std::vector<std::string>> encode(Message msg, const DecodeLimits& limits) {
  if (Status s = validate(msg, limits); !s) return s.error();
  auto meta = dump_meta(msg.meta);
  if (!meta) return meta.error();
  if (meta->size() > limits.max_meta_bytes)
    return protocol_error("metadata is " + std::to_string(meta->size()) + " bytes, limit " +
                          std::to_string(limits.max_meta_bytes));
  std::vector<std::string> frames;
  frames.reserve(2 + 2 * msg.tensors.size());
  frames.emplace_back();
  encode_header(msg.header, frames.back());
  frames.push_back(std::move(*meta));
  uint64_t total = frames[0].size() + frames[1].size();
  for (TensorBlob& t : msg.tensors) {
    frames.push_back(encode_descriptor(t));
    total += frames.back().size() + t.data.size();
    frames.push_back(std::move(t.data));
  }
  if (total > limits.max_message_bytes)
    return protocol_error("message is " + std::to_string(total) + " bytes, limit " +
                          std::to_string(limits.max_message_bytes) +
                          " (DecodeLimits::max_message_bytes)");
  return frames;
}

Expected<Header> decode_header(FrameView frame) {
  if (frame.size < kHeaderBytes)
    return protocol_error("truncated header: frame 0 is " + std::to_string(frame.size) +
                          " bytes, expected " + std::to_string(kHeaderBytes));
  if (frame.size > kHeaderBytes)
    return protocol_error("oversized header: frame 0 is " + std::to_string(frame.size) +
                          " bytes, expected " + std::to_string(kHeaderBytes));
  Reader r(frame.data, frame.size);
  const auto magic = static_cast<uint32_t>(r.get(4));
  if (magic != kMagic)
    return protocol_error("bad magic 0x" + format_hex(magic) + " in frame 0 (expected \"FOMO\"): "
                          "the peer does not speak the FoMoE protocol");
  Header h;
  h.version = static_cast<uint16_t>(r.get(2));
  if (h.version != kProtocolVersion)
    return protocol_error("unknown protocol version " + std::to_string(h.version) +
                          ", this build speaks version " + std::to_string(kProtocolVersion) +
                          ": run the same FoMoE build on coordinator and agents");
  const auto raw_type = static_cast<uint16_t>(r.get(2));
  auto type = msg_type_from_u16(raw_type);
  if (!type)
    return protocol_error("unknown message type " + std::to_string(raw_type) + " in frame 0");
  h.type = *type;
  h.run_id = r.get(8);
  h.round = static_cast<uint32_t>(r.get(4));
  h.sender = static_cast<int32_t>(static_cast<uint32_t>(r.get(4)));
  h.seq = r.get(8);
  return h;
}

Expected<Message> decode(const std::vector<FrameView>& frames, const DecodeLimits& limits) {
  if (frames.empty()) return protocol_error("empty message: no frames");
  if (frames.size() < 2)
    return protocol_error("message has " + std::to_string(frames.size()) +
                          " frame, expected header and metadata frames at least");
  const size_t n_tensor_frames = frames.size() - 2;
  if (n_tensor_frames % 2 != 0)
    return protocol_error("descriptor/data frame count mismatch: " + std::to_string(n_tensor_frames) +
                          " tensor frames after the metadata, expected pairs");
  if (n_tensor_frames / 2 > limits.max_tensors)
    return protocol_error(std::to_string(n_tensor_frames / 2) + " tensors, limit " +
                          std::to_string(limits.max_tensors));
  uint64_t total = 0;
  for (const FrameView& f : frames) {
    total += f.size;
    if (total > limits.max_message_bytes)
      return protocol_error("oversized message: frames exceed the limit of " +
                            std::to_string(limits.max_message_bytes) + " bytes");
  }

  auto header = decode_header(frames[0]);
  if (!header) return header.error();
  Message msg;
  msg.header = *header;
  const TypeSpec& spec = type_spec(msg.header.type);
  const std::string tname = spec.name;

  // frame 1: metadata
  const FrameView& mf = frames[1];
  if (mf.size > limits.max_meta_bytes)
    return protocol_error(tname + ": metadata frame is " + std::to_string(mf.size) + " bytes, limit " +
                          std::to_string(limits.max_meta_bytes));
  const char* mtext = static_cast<const char*>(mf.data);
  if (mf.size == 0) return protocol_error(tname + ": malformed metadata: frame 1 is empty");
  if (json_nesting_depth(std::string_view(mtext, mf.size)) > kMaxMetaDepth)
    return protocol_error(tname + ": malformed metadata: nesting deeper than " +
                          std::to_string(kMaxMetaDepth));
  try {
    msg.meta = json::parse(mtext, mtext + mf.size);
  } catch (const json::exception& e) {
    return protocol_error(tname + ": malformed metadata JSON in frame 1: " + e.what());
  }
  if (Status s = validate_meta(msg.header.type, msg.meta); !s) return s.error();
  if (!all_numbers_finite(msg.meta))
    return protocol_error(tname + ": metadata holds a number out of range");

  if (!spec.carries_tensors && n_tensor_frames > 0)
    return protocol_error(tname + " carries " + std::to_string(n_tensor_frames / 2) +
                          " tensors; this type carries none");

  std::set<std::string> names;
  uint64_t decoded_total = 0;
  msg.tensors.reserve(n_tensor_frames / 2);
  for (size_t i = 0; i < n_tensor_frames / 2; ++i) {
    const size_t fi = 2 + 2 * i;
    const std::string where = "tensor " + std::to_string(i) + " (frame " + std::to_string(fi) + ")";
    Reader r(frames[fi].data, frames[fi].size);
    if (!r.can_read(4))
      return protocol_error(where + ": truncated descriptor of " + std::to_string(frames[fi].size) +
                            " bytes");
    const auto dtype_byte = static_cast<uint8_t>(r.get(1));
    const bool coded = (dtype_byte & kZstdDTypeBit) != 0;
    const auto raw_dtype = static_cast<uint8_t>(dtype_byte & ~kZstdDTypeBit);
    const auto ndim = static_cast<size_t>(r.get(1));
    const auto name_len = static_cast<size_t>(r.get(2));
    auto dtype = dtype_from_u8(raw_dtype);
    if (!dtype) return protocol_error(where + ": unknown dtype " + std::to_string(raw_dtype));
    if (ndim > static_cast<size_t>(kMaxTensorDims))
      return protocol_error(where + ": " + std::to_string(ndim) + " dims, limit " +
                            std::to_string(kMaxTensorDims));
    if (name_len > kMaxTensorNameBytes)
      return protocol_error(where + ": name is " + std::to_string(name_len) + " bytes, limit " +
                            std::to_string(kMaxTensorNameBytes));
    const size_t want = descriptor_bytes(name_len, ndim);
    if (frames[fi].size != want)
      return protocol_error(where + ": descriptor is " + std::to_string(frames[fi].size) +
                            " bytes, its name length and rank need " + std::to_string(want));
    TensorBlob t;
    t.dtype = *dtype;
    t.name.assign(reinterpret_cast<const char*>(r.ptr()), name_len);
    r.skip(name_len);
    if (Status s = check_name(t.name, i); !s) return s.error();
    t.shape.resize(ndim);
    for (size_t d = 0; d < ndim; ++d) t.shape[d] = static_cast<int64_t>(r.get(8));
    const uint64_t declared = r.get(8);
    const FrameView& df = frames[fi + 1];
    // A coded frame is checked by the size its zstd header declares, and every message's decoded
    // tensors together must stay within the message limit, before anything is decoded.
    if (coded && df.size != declared)
      return protocol_error(where + " '" + t.name + "': declares " + std::to_string(declared) +
                            " data bytes but its data frame holds " + std::to_string(df.size));
    uint64_t raw = declared;
    if (coded) {
      auto content = zstd_content_size(df.data, df.size);
      if (!content) return protocol_error(where + " '" + t.name + "': " + content.error().message);
      raw = *content;
    }
    auto nbytes = checked_nbytes(t.shape, t.dtype, i, limits.max_message_bytes, raw);
    if (!nbytes) return protocol_error("'" + t.name + "': " + nbytes.error().message);
    if (raw != *nbytes)
      return protocol_error(where + " '" + t.name + "': " + (coded ? "its zstd frame declares " : "descriptor declares ") +
                            std::to_string(raw) + " bytes but shape and " + dtype_name(t.dtype) + " need " +
                            std::to_string(*nbytes));
    if (!coded && df.size != declared)
      return protocol_error(where + " '" + t.name + "': declares " + std::to_string(declared) +
                            " data bytes but its data frame holds " + std::to_string(df.size));
    decoded_total += raw;  // without coded frames never above the frames' own total, checked above
    if (decoded_total > limits.max_message_bytes)
      return protocol_error(where + " '" + t.name + "': decoded tensors exceed the message limit of " +
                            std::to_string(limits.max_message_bytes) + " bytes");
    if (!names.insert(t.name).second)
      return protocol_error(where + ": tensor '" + t.name + "' appears twice in one message");
    if (coded) {
      auto data = zstd_decode(df.data, df.size, raw, where + " '" + t.name + "'");
      if (!data) return data.error();
      t.data = std::move(*data);
    } else {
      t.data.assign(static_cast<const char*>(df.data), df.size);
    }
    msg.tensors.push_back(std::move(t));
  }
  return msg;
}

Expected<Message> decode(const std::vector<std::string>& frames, const DecodeLimits& limits) {
  std::vector<FrameView> views;
  views.reserve(frames.size());
  for (const std::string& f : frames) views.push_back(FrameView{f.data(), f.size()});
  return decode(views, limits);
}

uint64_t predicted_wire_bytes(MsgType type, const nlohmann::json& meta,
                              const std::vector<TensorSpec>& tensors) {
  uint64_t total = kHeaderBytes;
  auto text = dump_meta(meta);
  total += text ? text->size() : 0;
  for (const TensorSpec& t : tensors) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= static_cast<uint64_t>(d);
    total += descriptor_bytes(t.name.size(), t.shape.size()) + payload_bytes(t.dtype, numel, t.topk);
  }
  return total;
}

uint64_t encoded_size(const Message& msg) {
  std::vector<TensorSpec> specs;
  specs.reserve(msg.tensors.size());
  // A top-k tensor's size depends on the fraction kept, a coded one's on its values: only their
  // data length tells.
  uint64_t sparse = 0;
  for (const TensorBlob& t : msg.tensors) {
    if (sparse_value_dtype(t.dtype) || t.zstd) sparse += descriptor_bytes(t.name.size(), t.shape.size()) + t.data.size();
    else specs.push_back(TensorSpec{t.name, t.dtype, t.shape});
  }
  return predicted_wire_bytes(msg.header.type, msg.meta, specs) + sparse;
}

Status ReplayGuard::check(uint64_t run_id, int32_t sender, uint64_t seq) {
  auto key = std::make_pair(run_id, sender);
  auto it = last_.find(key);
  if (it != last_.end() && seq <= it->second)
    return protocol_error("replayed or reordered message: sequence " + std::to_string(seq) +
                          " from sender " + std::to_string(sender) + " in run " +
                          std::to_string(run_id) + " is not above the last accepted " +
                          std::to_string(it->second));
  last_[key] = seq;
  return Status::ok();
}

void ReplayGuard::forget(uint64_t run_id, int32_t sender) { last_.erase(std::make_pair(run_id, sender)); }

int json_nesting_depth(std::string_view s) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

}  // namespace fomoe::net
