// The FoMoE wire protocol, in one place: message types, the binary header, tensor frames, the
// per-type metadata schema, encode/decode with limits, the replay guard and wire-size prediction.
// No ZeroMQ here: frames are plain byte strings, so tests and the fuzzer call decode() directly.
// Transport (sockets, CURVE, link emulation) lives in endpoint.h; byte accounting in byte_counter.h.
//
// Layout of one message (a multipart message, every integer little-endian):
//   frame 0  header, exactly kHeaderBytes = 32 bytes:
//            u32 magic "FOMO" | u16 version | u16 type | u64 run_id | u32 round | i32 sender | u64 seq
//   frame 1  metadata: a compact JSON object (UTF-8, at most DecodeLimits::max_meta_bytes)
//   then per tensor two frames:
//            descriptor: u8 dtype | u8 ndim | u16 name_len | name bytes | i64 shape[ndim] | u64 nbytes
//            data:       nbytes raw little-endian element bytes (never text)
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fomoe/base/expected.h"
#include "fomoe/base/quantized_layout.h"
#include "fomoe/base/sparse_layout.h"

namespace fomoe::net {

inline constexpr uint32_t kMagic = 0x4F4D4F46u;  // bytes 'F','O','M','O' read as little-endian u32
inline constexpr uint16_t kProtocolVersion = 2;  // 2: zstd-coded tensor data frames
inline constexpr size_t kHeaderBytes = 32;
inline constexpr int32_t kCoordinatorSite = -1;  // header.sender of coordinator messages
inline constexpr int32_t kUnassignedSite = -2;   // header.sender of an agent before its Welcome
inline constexpr int kMaxTensorDims = 8;
inline constexpr size_t kMaxTensorNameBytes = 256;
inline constexpr int kMaxMetaDepth = 32;  // nesting depth of the metadata JSON

/// Wire message types. Values are part of the protocol: never renumber, only append.
enum class MsgType : uint16_t {
  Hello = 1,        // agent -> coord: agent_name, public_key, device{}
  Welcome = 2,      // coord -> agent: site_id, experiment_toml, residency[]; run id in the header
  StartRound = 3,   // coord -> agent: steps, [residency] when re-planned; tensors = global parameters
  RoundReport = 4,  // agent -> coord: steps, payload, expert_tokens[], metrics{}, compute_s; tensors
  StepGrad = 5,     // agent -> coord (DDP): step; tensors = gradients
  StepUpdate = 6,   // coord -> agent (DDP): step; tensors = averaged gradients
  Heartbeat = 7,    // either way; no required fields
  Ack = 8,          // either way: ack_seq
  ErrorReply = 9,   // either way: code, message
  Shutdown = 10,    // coord -> agent (or agent leaving): reason
};

/// "hello", "round_report", ...: the name used in logs and in byte-accounting rows.
const char* msg_type_name(MsgType type);
/// nullopt for a value this build does not know.
std::optional<MsgType> msg_type_from_u16(uint16_t value);
/// Every known type, in enum order (for tests and tools).
const std::vector<MsgType>& all_msg_types();

// Q8 .. Q2: block-quantized values with bf16 block scales (fomoe/base/quantized_layout.h):
// symmetric int8, fp8 e4m3, symmetric int4 (two per byte), 2-bit levels (four per byte).
// SPARSE_*: top-k sparsified values (fomoe/base/sparse_layout.h): uint16 indices per chunk of
// 4096 values, then the kept values as fp32 or block-quantized like Q8 .. Q2. The data size
// determines k; the decoder checks it is one some k gives exactly.
enum class DType : uint8_t {
  F32 = 1, BF16 = 2, F16 = 3, I64 = 4, I32 = 5, Q8 = 6, FP8 = 7, Q4 = 8, Q2 = 9,
  SPARSE_F32 = 10, SPARSE_Q8 = 11, SPARSE_FP8 = 12, SPARSE_Q4 = 13, SPARSE_Q2 = 14
};

/// Bytes per element of a plain dtype; 0 for the block-quantized ones (see payload_bytes).
size_t dtype_size(DType dtype);
/// The layout of a block-quantized dtype; nullopt for plain ones.
std::optional<QuantizedLayout> quantized_layout(DType dtype);
/// Data bytes of `numel` values of `dtype` (no overflow check: see the decoder). A sparse dtype
/// needs its fraction (topk > 0): sparse_layout.h.
uint64_t payload_bytes(DType dtype, uint64_t numel, double topk = 0);
/// For a SPARSE_* dtype, the coding of its kept values (F32, Q8, FP8, Q4, Q2); nullopt otherwise.
std::optional<DType> sparse_value_dtype(DType dtype);
/// The SPARSE_* dtype whose kept values are coded as `values` (F32, Q8, FP8, Q4, Q2).
DType sparse_dtype(DType values);
const char* dtype_name(DType dtype);
std::optional<DType> dtype_from_u8(uint8_t value);

/// Metadata field names, one place for producers and the decoder's schema.
namespace field {
inline constexpr const char* kAgentName = "agent_name";            // Hello: string
inline constexpr const char* kPublicKey = "public_key";            // Hello: Z85 CURVE key, string
inline constexpr const char* kDevice = "device";                   // Hello: object (free form)
inline constexpr const char* kSiteId = "site_id";                  // Welcome: integer >= 0
inline constexpr const char* kExperimentToml = "experiment_toml";  // Welcome: string
inline constexpr const char* kResidency = "residency";             // Welcome; StartRound after a re-plan: array
inline constexpr const char* kSteps = "steps";                     // StartRound, RoundReport: integer >= 0
inline constexpr const char* kPayload = "payload";                 // RoundReport: "pseudo_grad" | "params" | "params_delta" (Photon, compressed: start - end)
inline constexpr const char* kExpertTokens = "expert_tokens";      // RoundReport: array
inline constexpr const char* kMetrics = "metrics";                 // RoundReport: object name -> number
inline constexpr const char* kComputeSeconds = "compute_s";        // RoundReport: number
inline constexpr const char* kStep = "step";                       // StepGrad, StepUpdate: integer >= 0
inline constexpr const char* kAckSeq = "ack_seq";                  // Ack: integer >= 0
inline constexpr const char* kCode = "code";                       // ErrorReply: string
inline constexpr const char* kMessage = "message";                 // ErrorReply: string
inline constexpr const char* kReason = "reason";                   // Shutdown: string
}  // namespace field

enum class FieldKind { String, Integer, NonNegInteger, Number, Bool, Array, Object };

struct FieldSpec {
  const char* name;
  FieldKind kind;
};

/// The decoder's per-type rules. Extra meta fields beyond `required` are allowed.
struct TypeSpec {
  MsgType type;
  const char* name;
  std::vector<FieldSpec> required;
  bool carries_tensors;
};
const TypeSpec& type_spec(MsgType type);

struct Header {
  uint16_t version = kProtocolVersion;
  MsgType type = MsgType::Heartbeat;
  uint64_t run_id = 0;
  uint32_t round = 0;
  int32_t sender = kUnassignedSite;  // site id; kCoordinatorSite for the coordinator
  uint64_t seq = 0;                  // per sender, strictly increasing (ReplayGuard)
};

struct TensorBlob {
  std::string name;            // printable ASCII without spaces, 1..kMaxTensorNameBytes bytes
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // 0..kMaxTensorDims dims, each >= 0; {} = scalar
  std::string data;            // raw little-endian bytes, size == payload_bytes(dtype, numel)
  // data is one zstd frame of those bytes (entropy_code in fomoe/net/entropy_coding.h; bit 7 of
  // the descriptor's dtype byte). Only outgoing blobs are coded: decode() hands back raw data.
  bool zstd = false;

  int64_t numel() const;
};

/// Copies `numel(shape)` elements of `dtype` from `src` into a blob.
TensorBlob make_tensor(std::string name, DType dtype, std::vector<int64_t> shape, const void* src);

struct Message {
  Header header;
  nlohmann::json meta = nlohmann::json::object();
  std::vector<TensorBlob> tensors;
};

Message make_message(MsgType type, nlohmann::json meta = nlohmann::json::object(),
                     uint64_t run_id = 0, uint32_t round = 0);

/// One received frame, not owned (a zmq::message_t, a std::string, fuzzer bytes).
struct FrameView {
  const void* data = nullptr;
  size_t size = 0;
};

struct DecodeLimits {
  uint64_t max_message_bytes = uint64_t{4} << 30;  // sum of all frame sizes; default 4 GiB
  size_t max_meta_bytes = size_t{1} << 20;          // metadata frame; default 1 MiB
  size_t max_tensors = 1 << 16;                     // tensors per message
};

/// Checks what the decoder would check (schema, names, shapes, sizes) on an outgoing message.
Status validate(const Message& msg, const DecodeLimits& limits = {});

/// Encodes into frames. Takes the message by value: std::move it and the tensor bytes are moved
/// into the data frames, not copied. Fails (Protocol) on anything decode() would reject.
Expected<std::vector<std::string>> encode(Message msg, const DecodeLimits& limits = {});

/// Decodes and validates. Every rejection is ErrorCode::Protocol with a message that names the
/// frame and field at fault. Never throws, never reads outside the frames.
Expected<Message> decode(const std::vector<FrameView>& frames, const DecodeLimits& limits = {});
Expected<Message> decode(const std::vector<std::string>& frames, const DecodeLimits& limits = {});
Expected<Header> decode_header(FrameView frame);

// ---- wire size, the number the byte counter measures (sum of frame sizes) ----

struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  double topk = 0;  // SPARSE_* dtypes: the fraction kept
};

/// Bytes of one descriptor frame for a tensor with this name length and rank.
size_t descriptor_bytes(size_t name_bytes, size_t ndim);
/// Sum of frame sizes of a message of `type` with this metadata and these tensors.
uint64_t predicted_wire_bytes(MsgType type, const nlohmann::json& meta,
                              const std::vector<TensorSpec>& tensors);
/// Sum of the frame sizes encode(msg) produces (zstd-coded blobs: their coded size).
uint64_t encoded_size(const Message& msg);

/// Nesting depth of JSON text, ignoring brackets inside strings. Decoders check it before
/// nlohmann parses hostile input such as a megabyte of '[' (bounds parser and destructor work).
int json_nesting_depth(std::string_view text);

/// Rejects a sequence number that is not larger than the last one accepted from the same
/// (run id, sender). Not thread-safe: one guard per receiving thread.
class ReplayGuard {
 public:
  Status check(uint64_t run_id, int32_t sender, uint64_t seq);
  void forget(uint64_t run_id, int32_t sender);

 private:
  std::map<std::pair<uint64_t, int32_t>, uint64_t> last_;
};

}  // namespace fomoe::net
