// Codec tests: round trips, every rejection with its reason, replay guard, wire-size prediction,
// byte counter rows.
#include <gtest/gtest.h>

#include <cstring>
#include <cmath>
#include <set>
#include <thread>

#include "fomoe/net/byte_counter.h"
#include "fomoe/net/protocol.h"
#include "fuzz_frames.h"
#include "net_test_util.h"

namespace fomoe::net {
namespace {

using nlohmann::json;
using testing::f32_tensor;
using testing::minimal_meta;
using testing::sample_message;

std::vector<std::string> encode_ok(Message m) {
  auto frames = encode(std::move(m));
  EXPECT_TRUE(frames) << (frames ? "" : frames.error().message);
  return frames ? *frames : std::vector<std::string>{};
}

// Decodes and expects a Protocol error whose message contains `needle`.
void expect_rejected(const std::vector<std::string>& frames, const std::string& needle,
                     const DecodeLimits& limits = {}) {
  auto m = decode(frames, limits);
  ASSERT_FALSE(m) << "decoded although it should be rejected for: " << needle;
  EXPECT_EQ(m.error().code, ErrorCode::Protocol);
  EXPECT_NE(m.error().message.find(needle), std::string::npos)
      << "reason '" << m.error().message << "' does not mention '" << needle << "'";
}

void put_le(std::string& s, size_t offset, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s[offset + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

std::string descriptor(uint8_t dtype, const std::vector<int64_t>& shape, const std::string& name,
                       uint64_t nbytes) {
  std::string d(4 + name.size() + 8 * shape.size() + 8, '\0');
  d[0] = static_cast<char>(dtype);
  d[1] = static_cast<char>(shape.size());
  put_le(d, 2, name.size(), 2);
  std::memcpy(&d[4], name.data(), name.size());
  for (size_t i = 0; i < shape.size(); ++i) put_le(d, 4 + name.size() + 8 * i, static_cast<uint64_t>(shape[i]), 8);
  put_le(d, 4 + name.size() + 8 * shape.size(), nbytes, 8);
  return d;
}

// A StartRound with one f32 tensor {2,3} named "w": frames [header, meta, desc, data].
std::vector<std::string> one_tensor_frames() {
  Message m = make_message(MsgType::StartRound, minimal_meta(MsgType::StartRound), 1, 1);
  m.tensors.push_back(f32_tensor("w", {2, 3}));
  return encode_ok(std::move(m));
}

TEST(Protocol, HeaderIsThirtyTwoLittleEndianBytes) {
  Message m = make_message(MsgType::Ack, minimal_meta(MsgType::Ack), 0x0102030405060708ull, 9);
  m.header.sender = -1;
  m.header.seq = 77;
  auto frames = encode_ok(m);
  ASSERT_GE(frames.size(), 2u);
  const std::string& h = frames[0];
  ASSERT_EQ(h.size(), kHeaderBytes);
  EXPECT_EQ(h.substr(0, 4), "FOMO");
  EXPECT_EQ(static_cast<uint8_t>(h[4]), kProtocolVersion);
  EXPECT_EQ(static_cast<uint8_t>(h[6]), static_cast<uint8_t>(MsgType::Ack));
  EXPECT_EQ(static_cast<uint8_t>(h[8]), 0x08);   // run id, low byte first
  EXPECT_EQ(static_cast<uint8_t>(h[15]), 0x01);
  EXPECT_EQ(static_cast<uint8_t>(h[16]), 9);     // round
  EXPECT_EQ(static_cast<uint8_t>(h[20]), 0xFF);  // sender -1
  EXPECT_EQ(static_cast<uint8_t>(h[24]), 77);    // seq
  EXPECT_EQ(frames[1], R"({"ack_seq":12})");
}

TEST(Protocol, EveryMessageTypeRoundTrips) {
  for (MsgType type : all_msg_types()) {
    SCOPED_TRACE(msg_type_name(type));
    Message in = sample_message(type);
    auto frames = encode_ok(in);
    EXPECT_EQ(frames.size(), 2 + 2 * in.tensors.size());
    auto out = decode(frames);
    ASSERT_TRUE(out) << out.error().message;
    EXPECT_EQ(out->header.type, type);
    EXPECT_EQ(out->header.version, kProtocolVersion);
    EXPECT_EQ(out->header.run_id, 42u);
    EXPECT_EQ(out->header.round, 3u);
    EXPECT_EQ(out->header.sender, 1);
    EXPECT_EQ(out->header.seq, 1000u);
    EXPECT_EQ(out->meta, in.meta);
    ASSERT_EQ(out->tensors.size(), in.tensors.size());
    for (size_t i = 0; i < in.tensors.size(); ++i) {
      EXPECT_EQ(out->tensors[i].name, in.tensors[i].name);
      EXPECT_EQ(out->tensors[i].dtype, in.tensors[i].dtype);
      EXPECT_EQ(out->tensors[i].shape, in.tensors[i].shape);
      EXPECT_EQ(out->tensors[i].data, in.tensors[i].data);
    }
  }
}

TEST(Protocol, TypeNamesAreUniqueAndParse) {
  std::set<std::string> names;
  for (MsgType t : all_msg_types()) {
    EXPECT_TRUE(names.insert(msg_type_name(t)).second);
    EXPECT_EQ(msg_type_from_u16(static_cast<uint16_t>(t)), t);
  }
  EXPECT_FALSE(msg_type_from_u16(0));
  EXPECT_FALSE(msg_type_from_u16(999));
  EXPECT_EQ(std::string(msg_type_name(MsgType::RoundReport)), "round_report");
}

TEST(Protocol, EmptyAndZeroSizedTensorsRoundTrip) {
  Message m = make_message(MsgType::StepGrad, minimal_meta(MsgType::StepGrad));
  m.tensors.push_back(make_tensor("empty", DType::F16, {0, 5}, nullptr));
  auto out = decode(encode_ok(m));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->tensors[0].shape, (std::vector<int64_t>{0, 5}));
  EXPECT_TRUE(out->tensors[0].data.empty());
}

// A top-k tensor's size depends on the fraction kept, which its spec does not carry: encoded_size
// must count its data (a fuzz-decoder find).
TEST(Protocol, EncodedSizeCountsTopkTensorsByTheirData) {
  Message m = make_message(MsgType::StepGrad, minimal_meta(MsgType::StepGrad));
  for (double fraction : {0.02, 0.5}) {
    TensorBlob t;
    t.name = "sparse" + std::to_string(fraction);
    t.dtype = DType::SPARSE_F32;
    t.shape = {5000};
    t.data.assign(payload_bytes(t.dtype, 5000, fraction), '\0');
    m.tensors.push_back(t);
  }
  const uint64_t predicted = encoded_size(m);
  auto frames = encode(m);
  ASSERT_TRUE(frames) << frames.error().message;
  uint64_t total = 0;
  for (const auto& f : *frames) total += f.size();
  EXPECT_EQ(predicted, total);
}

TEST(Protocol, EncodeMovesTensorBytesIntoFrames) {
  Message m = make_message(MsgType::StepGrad, minimal_meta(MsgType::StepGrad));
  m.tensors.push_back(f32_tensor("g", {1024}));
  const char* bytes = m.tensors[0].data.data();
  auto frames = encode(std::move(m));
  ASSERT_TRUE(frames);
  EXPECT_EQ((*frames)[3].data(), bytes);  // moved, not copied
}

// ---- rejections, one per reason ----

TEST(ProtocolReject, BadMagic) {
  auto f = one_tensor_frames();
  f[0][0] = 'X';
  expect_rejected(f, "bad magic");
}

TEST(ProtocolReject, UnknownVersion) {
  auto f = one_tensor_frames();
  put_le(f[0], 4, 99, 2);
  expect_rejected(f, "unknown protocol version 99");
}

TEST(ProtocolReject, UnknownType) {
  auto f = one_tensor_frames();
  put_le(f[0], 6, 999, 2);
  expect_rejected(f, "unknown message type 999");
}

TEST(ProtocolReject, TruncatedHeader) {
  auto f = one_tensor_frames();
  f[0].resize(20);
  expect_rejected(f, "truncated header");
}

TEST(ProtocolReject, OversizedHeader) {
  auto f = one_tensor_frames();
  f[0].push_back('x');
  expect_rejected(f, "oversized header");
}

TEST(ProtocolReject, NoFramesOrNoMetadata) {
  expect_rejected({}, "no frames");
  auto f = one_tensor_frames();
  expect_rejected({f[0]}, "expected header and metadata");
}

TEST(ProtocolReject, DescriptorDataFrameCountMismatch) {
  auto f = one_tensor_frames();
  f.pop_back();
  expect_rejected(f, "descriptor/data frame count mismatch");
}

TEST(ProtocolReject, UnknownDtype) {
  auto f = one_tensor_frames();
  f[2][0] = static_cast<char>(77);
  expect_rejected(f, "unknown dtype 77");
}

TEST(ProtocolReject, NegativeShape) {
  auto f = one_tensor_frames();
  f[2] = descriptor(1, {-2, 3}, "w", 24);
  expect_rejected(f, "shape[0] = -2 is negative");
}

TEST(ProtocolReject, ShapeOverflow) {
  auto f = one_tensor_frames();
  const int64_t big = int64_t{1} << 40;
  f[2] = descriptor(1, {big, big, big}, "w", 24);
  expect_rejected(f, "shape overflows");
}

TEST(ProtocolReject, ShapeTimesDtypeDiffersFromDataFrame) {
  auto f = one_tensor_frames();
  f[3].resize(20);  // 2*3 f32 need 24
  expect_rejected(f, "declares 24 data bytes but its data frame holds 20");
}

TEST(ProtocolReject, DeclaredSizeDisagreesWithShape) {
  auto f = one_tensor_frames();
  f[2] = descriptor(1, {2, 3}, "w", uint64_t{1} << 50);
  expect_rejected(f, "descriptor declares 1125899906842624 bytes but shape and f32 need 24");
}

TEST(ProtocolReject, DeclaredSizeBeyondMessageLimit) {
  auto f = one_tensor_frames();
  DecodeLimits limits;
  limits.max_message_bytes = 1000;
  f[2] = descriptor(1, {1000, 1000}, "w", 4000000);
  expect_rejected(f, "exceeds the message limit of 1000", limits);
}

TEST(ProtocolReject, MessageBeyondMaxMessageSize) {
  auto f = one_tensor_frames();
  DecodeLimits limits;
  limits.max_message_bytes = 64;
  expect_rejected(f, "oversized message", limits);
}

TEST(ProtocolReject, TooManyDims) {
  auto f = one_tensor_frames();
  f[2] = descriptor(1, std::vector<int64_t>(9, 1), "w", 4);
  expect_rejected(f, "9 dims, limit 8");
}

TEST(ProtocolReject, TruncatedDescriptor) {
  auto f = one_tensor_frames();
  f[2].resize(f[2].size() - 3);
  expect_rejected(f, "descriptor is");
  f[2] = "ab";
  expect_rejected(f, "truncated descriptor");
}

TEST(ProtocolReject, MalformedMetadata) {
  auto f = one_tensor_frames();
  f[1] = "{\"steps\": 3";
  expect_rejected(f, "malformed metadata JSON");
  f[1] = "";
  expect_rejected(f, "frame 1 is empty");
  f[1] = "[1,2]";
  expect_rejected(f, "must be a JSON object");
  f[1] = std::string(100000, '[');
  expect_rejected(f, "nesting deeper than");
  f[1] = "{\"steps\": 3, \"x\": \"\xff\xfe\"}";
  expect_rejected(f, "malformed metadata JSON");
  DecodeLimits limits;
  limits.max_meta_bytes = 8;
  f[1] = R"({"steps": 3, "pad": "................"})";
  expect_rejected(f, "metadata frame is", limits);
}

TEST(ProtocolReject, MissingOrWrongTypedMetaFieldIsNamed) {
  auto f = one_tensor_frames();
  f[1] = R"({"stepz": 3})";
  expect_rejected(f, "field 'steps' is missing");
  f[1] = R"({"steps": "3"})";
  expect_rejected(f, "field 'steps' must be a non-negative integer, got string");
  f[1] = R"({"steps": -1})";
  expect_rejected(f, "field 'steps' must be a non-negative integer");

  Message hello = make_message(MsgType::Hello, minimal_meta(MsgType::Hello));
  hello.meta[field::kDevice] = "cpu";
  auto bad = encode(hello);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("field 'device' must be an object"), std::string::npos);
}

TEST(ProtocolReject, TensorNames) {
  auto f = one_tensor_frames();
  f[2] = descriptor(1, {2, 3}, "", 24);
  expect_rejected(f, "name is empty");
  f[2] = descriptor(1, {2, 3}, std::string(300, 'a'), 24);
  expect_rejected(f, "name is 300 bytes, limit 256");
  f[2] = descriptor(1, {2, 3}, "bad\nname", 24);
  expect_rejected(f, "non-printable");
  f[2] = descriptor(1, {2, 3}, "with space", 24);
  expect_rejected(f, "non-printable or space byte 0x20");
}

TEST(ProtocolReject, DuplicateTensorNames) {
  auto f = one_tensor_frames();
  f.push_back(f[2]);
  f.push_back(f[3]);
  expect_rejected(f, "appears twice");
}

TEST(ProtocolReject, TensorsOnATypeWithoutTensors) {
  auto f = one_tensor_frames();
  put_le(f[0], 6, static_cast<uint16_t>(MsgType::Shutdown), 2);
  f[1] = R"({"reason":"x"})";
  expect_rejected(f, "shutdown carries 1 tensors; this type carries none");
}

TEST(ProtocolReject, EncodeRefusesWhatDecodeWouldReject) {
  Message m = make_message(MsgType::StepGrad, minimal_meta(MsgType::StepGrad));
  m.tensors.push_back(f32_tensor("g", {4}));
  m.tensors[0].data.resize(3);
  auto r = encode(m);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("need 16 bytes, data holds 3"), std::string::npos);
  m.tensors[0] = f32_tensor("g", {4});
  m.meta["nan"] = std::nan("");
  EXPECT_FALSE(encode(m));
  EXPECT_FALSE(validate(m));
}

// ---- replay guard ----

TEST(ReplayGuard, RejectsNonIncreasingSequencePerRunAndSender) {
  ReplayGuard g;
  EXPECT_TRUE(g.check(1, 0, 10));
  EXPECT_TRUE(g.check(1, 0, 11));
  Status replay = g.check(1, 0, 11);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, ErrorCode::Protocol);
  EXPECT_NE(replay.error().message.find("sequence 11 from sender 0"), std::string::npos);
  EXPECT_FALSE(g.check(1, 0, 5));
  EXPECT_TRUE(g.check(1, 1, 5));  // other sender
  EXPECT_TRUE(g.check(2, 0, 1));  // other run
  g.forget(1, 0);
  EXPECT_TRUE(g.check(1, 0, 1));
}

// ---- wire size ----

TEST(WireBytes, PredictedEqualsEncodedForFp32Bf16Fp16) {
  const std::vector<int64_t> shape_a{64, 128}, shape_b{128}, shape_c{8, 16, 4};
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    SCOPED_TRACE(dtype_name(dt));
    std::vector<TensorSpec> specs = {{"layers.0.attn.wq", dt, shape_a},
                                     {"layers.0.norm.w", dt, shape_b},
                                     {"layers.0.experts.3.w1", dt, shape_c}};
    Message m = make_message(MsgType::RoundReport, minimal_meta(MsgType::RoundReport), 7, 2);
    for (const auto& s : specs) {
      int64_t n = 1;
      for (auto d : s.shape) n *= d;
      std::string raw(static_cast<size_t>(n) * dtype_size(dt), '\x01');
      m.tensors.push_back(make_tensor(s.name, dt, s.shape, raw.data()));
    }
    const uint64_t predicted = predicted_wire_bytes(MsgType::RoundReport, m.meta, specs);
    EXPECT_EQ(encoded_size(m), predicted);
    auto frames = encode_ok(m);
    uint64_t measured = 0;
    for (const auto& f : frames) measured += f.size();
    EXPECT_EQ(measured, predicted);
    // The payload dominates: elements * dtype size, plus small fixed costs.
    const uint64_t payload = (64 * 128 + 128 + 8 * 16 * 4) * dtype_size(dt);
    EXPECT_GT(predicted, payload);
    EXPECT_LT(predicted, payload + 512);
  }
}

// ---- byte counter ----

TEST(ByteCounter, AggregatesPerRoundSiteDirectionAndType) {
  ByteCounter c;
  c.record(1, 0, Direction::Sent, MsgType::StartRound, 100);
  c.record(1, 0, Direction::Sent, MsgType::StartRound, 50, 0.25);
  c.record(1, 1, Direction::Sent, MsgType::StartRound, 100);
  c.record(1, 0, Direction::Received, MsgType::RoundReport, 70);
  auto rows = c.snapshot();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].site, 0);
  EXPECT_EQ(rows[0].direction, Direction::Sent);
  EXPECT_EQ(rows[0].msg_type, "start_round");
  EXPECT_EQ(rows[0].bytes, 150);
  EXPECT_EQ(rows[0].messages, 2);
  EXPECT_DOUBLE_EQ(rows[0].seconds, 0.25);
  LinkBytes l = rows[0].to_link_bytes();
  EXPECT_EQ(l.bytes, 150);
  EXPECT_EQ(l.msg_type, "start_round");
  EXPECT_EQ(to_link_bytes(rows).size(), 3u);
  EXPECT_EQ(c.total(Direction::Sent), 250);
  EXPECT_EQ(c.total(Direction::Received), 70);
  EXPECT_EQ(c.take().size(), 3u);
  EXPECT_TRUE(c.snapshot().empty());
  EXPECT_EQ(c.total(Direction::Sent), 250);  // totals survive take()
}

TEST(ByteCounter, IsThreadSafe) {
  ByteCounter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 1000; ++i) c.record(0, t % 2, Direction::Received, MsgType::StepGrad, 3);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(c.total(Direction::Received), 12000);
  auto rows = c.snapshot();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].messages + rows[1].messages, 4000);
}

// The fuzzer's seed corpus is join_frames(encode(m)); it must decode, or the fuzzer starts blind.
TEST(FuzzFrames, SeedFormatRoundTripsThroughTheDecoder) {
  for (MsgType type : all_msg_types()) {
    const std::string bytes = fuzz::join_frames(encode_ok(sample_message(type)));
    auto frames = fuzz::split_frames(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    auto m = decode(frames);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->header.type, type);
  }
}

}  // namespace
}  // namespace fomoe::net
