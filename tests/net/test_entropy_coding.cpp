// Lossless zstd coding of tensor data frames: coded frames decode to the very bytes sent, the byte
// count is the coded size, and a hostile or broken coded frame is rejected with its reason before
// anything larger than the message limit is allocated.
#include <gtest/gtest.h>

#include <zstd.h>

#include <random>

#include "fomoe/net/entropy_coding.h"
#include "fomoe/net/protocol.h"
#include "net_test_util.h"

namespace fomoe::net {
namespace {

using testing::f32_tensor;
using testing::minimal_meta;

// n int4 codes of bell-shaped values (block scale absmax / 7), two per byte, after bf16 scales:
// the small codes are the common ones, so they hold less than 4 bits of information each.
TensorBlob q4_tensor(const std::string& name, int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  TensorBlob t;
  t.name = name;
  t.dtype = DType::Q4;
  t.shape = {n};
  t.data.assign(payload_bytes(DType::Q4, static_cast<uint64_t>(n)), '\0');
  const size_t codes = quantized_blocks(static_cast<uint64_t>(n), kInt4Layout) * kQuantScaleBytes;
  for (size_t i = 0; i < codes; ++i) t.data[i] = static_cast<char>(0x3c + (i & 1));  // bf16 scales near 1
  for (size_t i = codes; i < t.data.size(); ++i) {
    auto nibble = [&] { return static_cast<unsigned>(std::clamp(std::lround(normal(rng) * 2.5f), -7L, 7L) + 8); };
    t.data[i] = static_cast<char>(nibble() | (nibble() << 4));
  }
  return t;
}

TensorBlob random_bytes_tensor(const std::string& name, int64_t n) {
  std::mt19937 rng(1);
  TensorBlob t = f32_tensor(name, {n});
  for (auto& c : t.data) c = static_cast<char>(rng());
  return t;
}

uint64_t frames_bytes(const std::vector<std::string>& frames) {
  uint64_t total = 0;
  for (const auto& f : frames) total += f.size();
  return total;
}

TEST(EntropyCoding, CodedFramesDecodeToTheBytesSentAndAreCountedAtTheirCodedSize) {
  Message m = make_message(MsgType::RoundReport, minimal_meta(MsgType::RoundReport), 3, 2);
  m.tensors.push_back(q4_tensor("layers.0.mlp.experts.1.w1", 64 * 1024, 7));
  m.tensors.push_back(random_bytes_tensor("noise", 4096));  // incompressible: stays raw
  m.tensors.push_back(f32_tensor("tiny", {3}));             // below kEntropyCodingMinBytes: stays raw
  const Message raw = m;
  const uint64_t raw_size = encoded_size(raw);

  const CodingTally tally = entropy_code(m);
  const uint64_t saved = tally.raw - tally.coded;
  uint64_t raw_data = 0;
  for (auto& t : raw.tensors) raw_data += t.data.size();
  EXPECT_EQ(tally.raw, raw_data);
  EXPECT_LT(tally.fraction(), 0.95);
  EXPECT_TRUE(m.tensors[0].zstd);
  EXPECT_FALSE(m.tensors[1].zstd);
  EXPECT_FALSE(m.tensors[2].zstd);
  // Normal codes of std 2.5 carry ~3.4 bits, so a 4-bit frame shrinks by more than a tenth.
  EXPECT_LT(m.tensors[0].data.size(), raw.tensors[0].data.size() * 9 / 10);
  EXPECT_EQ(encoded_size(m), raw_size - saved);
  const Message once = m;
  const CodingTally again = entropy_code(m);
  EXPECT_EQ(again.coded, again.raw) << "coding twice changes nothing";
  for (size_t i = 0; i < m.tensors.size(); ++i) EXPECT_EQ(m.tensors[i].data, once.tensors[i].data);

  auto frames = encode(m);
  ASSERT_TRUE(frames) << frames.error().message;
  EXPECT_EQ(frames_bytes(*frames), encoded_size(m)) << "the byte counter's number is the coded size";
  auto out = decode(*frames);
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_EQ(out->tensors.size(), raw.tensors.size());
  for (size_t i = 0; i < raw.tensors.size(); ++i) {
    EXPECT_EQ(out->tensors[i].name, raw.tensors[i].name);
    EXPECT_EQ(out->tensors[i].dtype, raw.tensors[i].dtype);
    EXPECT_EQ(out->tensors[i].shape, raw.tensors[i].shape);
    EXPECT_FALSE(out->tensors[i].zstd) << "decode hands back raw data";
    EXPECT_EQ(out->tensors[i].data, raw.tensors[i].data) << raw.tensors[i].name << " is not bit-exact";
  }
}

TEST(EntropyCoding, SparseTensorsAreCheckedByTheirDecodedSize) {
  Message m = make_message(MsgType::StepGrad, minimal_meta(MsgType::StepGrad));
  TensorBlob t;
  t.name = "sparse";
  t.dtype = DType::SPARSE_F32;
  t.shape = {8192};
  t.data.assign(payload_bytes(t.dtype, 8192, 0.25), '\0');  // compressible, and valid only at k = 1024 per chunk
  m.tensors.push_back(t);
  entropy_code(m);
  ASSERT_TRUE(m.tensors[0].zstd);
  auto frames = encode(m);
  ASSERT_TRUE(frames) << frames.error().message;
  auto out = decode(*frames);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->tensors[0].data, t.data);
}

// frames of a message with one coded tensor whose zstd frame holds `payload` and whose descriptor
// says f32 of `shape`.
std::vector<std::string> coded_frames(const std::string& payload, std::vector<int64_t> shape) {
  Message m = make_message(MsgType::StartRound, minimal_meta(MsgType::StartRound), 1, 1);
  TensorBlob t;
  t.name = "w";
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  t.data.resize(ZSTD_compressBound(payload.size()));
  t.data.resize(ZSTD_compress(t.data.data(), t.data.size(), payload.data(), payload.size(), 1));
  t.zstd = true;
  m.tensors.push_back(std::move(t));
  // encode() would refuse a frame whose size disagrees with the shape: build the frames by hand.
  auto ok = encode(make_message(MsgType::StartRound, minimal_meta(MsgType::StartRound), 1, 1));
  EXPECT_TRUE(ok);
  std::vector<std::string> frames = *ok;
  std::string desc;
  desc += static_cast<char>(static_cast<uint8_t>(DType::F32) | 0x80);
  desc += static_cast<char>(m.tensors[0].shape.size());
  desc += static_cast<char>(1);
  desc += static_cast<char>(0);
  desc += "w";
  auto put_u64 = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) desc += static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  for (int64_t d : m.tensors[0].shape) put_u64(static_cast<uint64_t>(d));
  put_u64(m.tensors[0].data.size());
  frames.push_back(desc);
  frames.push_back(m.tensors[0].data);
  return frames;
}

void expect_rejected(const std::vector<std::string>& frames, const std::string& needle, const DecodeLimits& limits = {}) {
  auto m = decode(frames, limits);
  ASSERT_FALSE(m) << "decoded although it should be rejected for: " << needle;
  EXPECT_EQ(m.error().code, ErrorCode::Protocol);
  EXPECT_NE(m.error().message.find(needle), std::string::npos) << "reason '" << m.error().message << "' does not mention '" << needle << "'";
}

TEST(EntropyCodingReject, AHandBuiltCodedFrameOfTheRightSizeDecodes) {
  const std::string payload(24, '\x01');
  auto out = decode(coded_frames(payload, {2, 3}));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->tensors[0].data, payload);
}

TEST(EntropyCodingReject, DecodedSizeDisagreesWithTheShape) {
  expect_rejected(coded_frames(std::string(20, '\x01'), {2, 3}), "its zstd frame declares 20 bytes but shape and f32 need 24");
}

TEST(EntropyCodingReject, NotAZstdFrame) {
  auto f = coded_frames(std::string(24, '\x01'), {2, 3});
  f[3] = std::string(f[3].size(), 'x');
  expect_rejected(f, "not a zstd frame");
}

TEST(EntropyCodingReject, TruncatedOrTrailingBytes) {
  auto f = coded_frames(std::string(4096, '\x07'), {1024});
  auto truncated = f;
  truncated[3].resize(truncated[3].size() - 3);
  for (int i = 0; i < 8; ++i) truncated[2][truncated[2].size() - 8 + i] = static_cast<char>((truncated[3].size() >> (8 * i)) & 0xFF);
  expect_rejected(truncated, "truncated zstd frame");
  auto trailing = f;
  trailing[3] += "junk";
  for (int i = 0; i < 8; ++i) trailing[2][trailing[2].size() - 8 + i] = static_cast<char>((trailing[3].size() >> (8 * i)) & 0xFF);
  expect_rejected(trailing, "followed by 4 more");
}

TEST(EntropyCodingReject, CorruptCodedDataIsNamed) {
  std::mt19937 rng(3);
  std::string payload(8192, '\0');
  for (auto& c : payload) c = static_cast<char>(rng() % 5);  // compressible, not trivially
  auto f = coded_frames(payload, {2048});
  // Garble the compressed body, keeping the frame header (its declared size) intact.
  for (size_t i = 8; i < f[3].size(); ++i) f[3][i] = static_cast<char>(f[3][i] ^ 0x5a);
  expect_rejected(f, "tensor 0 (frame 2) 'w': ");  // named; "truncated zstd frame" or "does not decode"

}

// A few hundred bytes that claim to decode to megabytes: refused by the size the frame declares,
// before any buffer of that size is made.
TEST(EntropyCodingReject, DecompressionBombBeyondTheMessageLimit) {
  auto f = coded_frames(std::string(size_t{4} << 20, '\0'), {int64_t{1} << 20});
  EXPECT_LT(f[3].size(), 1024u);
  DecodeLimits limits;
  limits.max_message_bytes = size_t{1} << 20;
  expect_rejected(f, "exceeds the message limit of 1048576", limits);  // the shape alone is too big
  EXPECT_TRUE(decode(f)) << "within the default limit the same frame decodes";
}

// encode() refuses what decode() would: a coded message whose decoded tensors exceed the limit,
// though its frames are small, counting the raw tensors beside it too.
TEST(EntropyCodingReject, EncodeRefusesADecodedTotalBeyondTheLimit) {
  Message m = make_message(MsgType::StepGrad, minimal_meta(MsgType::StepGrad));
  m.tensors.push_back(make_tensor("zeros", DType::F32, {192 * 1024}, std::string(768 * 1024, '\0').data()));
  m.tensors.push_back(random_bytes_tensor("noise", 96 * 1024));  // 384 KiB, stays raw
  entropy_code(m);
  ASSERT_TRUE(m.tensors[0].zstd);
  ASSERT_FALSE(m.tensors[1].zstd);
  EXPECT_LT(encoded_size(m), 400u * 1024);
  DecodeLimits limits;
  limits.max_message_bytes = 1 << 20;  // frames: ~384 KiB; decoded: 1152 KiB
  auto refused = encode(m, limits);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("decoded tensors exceed the message limit of 1048576"), std::string::npos)
      << refused.error().message;
  auto frames = encode(m);
  ASSERT_TRUE(frames) << frames.error().message;
  auto in = decode(*frames, limits);
  ASSERT_FALSE(in);
  EXPECT_NE(in.error().message.find("decoded tensors exceed"), std::string::npos) << in.error().message;
}

}  // namespace
}  // namespace fomoe::net
