// Block quantization of what travels and error feedback: round trips within their bounds, exact
// wire sizes, and error feedback making the sum of what was sent follow the sum of the values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fomoe/federation/compression.h"
#include "fomoe/federation/tensor_wire.h"

namespace fomoe {
namespace {

using net::DType;

// Values with a spread of magnitudes per block (pseudo-gradients have outliers).
torch::Tensor sample(std::vector<int64_t> shape, uint64_t seed) {
  torch::manual_seed(seed);
  auto x = torch::randn(shape) * 1e-3;
  auto mask = torch::rand(shape) < 0.01;
  return torch::where(mask, x * 30, x);
}

// Each value's error is at most half a code step of its block: absmax / (2 * code_max), with the
// bf16 scale rounded up by at most 2^-7 (+ 2^-8 slack). fp8 e4m3: 2^-4 relative, or half its
// smallest subnormal step near zero.
void expect_within_bounds(const torch::Tensor& x, DType q) {
  auto blob = quantize_to_blob("w", x, q);
  auto y = blob_to_tensor(blob);
  ASSERT_EQ(y.sizes(), x.sizes());
  const auto layout = *net::quantized_layout(q);
  const int64_t n = x.numel(), B = layout.block, nb = (n + B - 1) / B;
  auto flat = torch::cat({x.reshape(-1), torch::zeros({nb * B - n})}).view({nb, B});
  auto err = torch::cat({(x - y).reshape(-1).abs(), torch::zeros({nb * B - n})}).view({nb, B});
  auto absmax = flat.abs().amax(1, /*keepdim=*/true);
  const double slack = (1.0 + 1.0 / 128) * (1.0 + 1.0 / 256);
  torch::Tensor bound;
  switch (q) {
    case DType::Q8: bound = absmax / 254 * slack; break;
    case DType::Q4: bound = absmax / 14 * slack; break;
    case DType::Q2: bound = absmax / 3 * slack; break;
    case DType::FP8: {
      const auto scale = absmax / 448 * slack;
      bound = torch::maximum(flat.abs() * (1.0 / 16), scale * std::ldexp(1.0, -10));
      break;
    }
    default: FAIL();
  }
  auto over = (err - bound).gt(1e-12);
  EXPECT_FALSE(over.any().item<bool>()) << net::dtype_name(q) << ": worst excess " << (err - bound).max().item<double>();
  EXPECT_EQ(blob.data.size(), net::payload_bytes(q, static_cast<uint64_t>(n)));
}

TEST(Compression, EveryFormatRoundTripsWithinItsBound) {
  for (DType q : {DType::Q8, DType::FP8, DType::Q4, DType::Q2}) {
    SCOPED_TRACE(net::dtype_name(q));
    expect_within_bounds(sample({64, 48}, 1), q);
    expect_within_bounds(sample({1000}, 2), q);  // not a multiple of any block: a short last block
    expect_within_bounds(sample({7}, 3), q);     // one partial block; an odd count of nibbles
  }
}

TEST(Compression, ZerosAndExactLevelsSurvive) {
  auto zeros = torch::zeros({300});
  for (DType q : {DType::Q8, DType::FP8, DType::Q4})
    EXPECT_TRUE(torch::equal(blob_to_tensor(quantize_to_blob("z", zeros, q)), zeros)) << net::dtype_name(q);
  // Int2 has no zero level: zeros come back as zeros only because their scale is 0.
  EXPECT_TRUE(torch::equal(blob_to_tensor(quantize_to_blob("z", zeros, DType::Q2)), zeros));
  // The block maximum itself is within 2^-7 relative (the scale was rounded up to bf16).
  auto x = torch::tensor({-3.0f, 1.0f, 0.5f, 2.0f});
  for (DType q : {DType::Q8, DType::Q4, DType::Q2}) {
    auto y = blob_to_tensor(quantize_to_blob("x", x, q));
    EXPECT_NEAR(y[0].item<float>(), -3.0, 3.0 / 64) << net::dtype_name(q);
  }
}

TEST(Compression, WireSizesAreTheLayoutsOwn) {
  // n values: ceil(n / block) bf16 scales + ceil(n * bits / 8) code bytes.
  EXPECT_EQ(net::payload_bytes(DType::Q8, 1000), 8u * 2 + 1000);
  EXPECT_EQ(net::payload_bytes(DType::FP8, 256), 2u * 2 + 256);
  EXPECT_EQ(net::payload_bytes(DType::Q4, 1000), 16u * 2 + 500);
  EXPECT_EQ(net::payload_bytes(DType::Q4, 7), 1u * 2 + 4);
  EXPECT_EQ(net::payload_bytes(DType::Q2, 1000), 16u * 2 + 250);
  // A message with a quantized tensor encodes to exactly the predicted size and decodes back.
  auto msg = net::make_message(net::MsgType::StepGrad, {{"step", 1}});
  msg.tensors.push_back(quantize_to_blob("layers.0.w", sample({33, 17}, 4), DType::Q4));
  auto encoded = net::encode(msg);
  ASSERT_TRUE(encoded) << encoded.error().message;
  auto& frames = *encoded;
  uint64_t sum = 0;
  for (auto& f : frames) sum += f.size();
  EXPECT_EQ(sum, net::encoded_size(msg));
  EXPECT_EQ(sum, net::predicted_wire_bytes(net::MsgType::StepGrad, msg.meta, {{"layers.0.w", DType::Q4, {33, 17}}}));
  auto back = net::decode(frames);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(torch::equal(blob_to_tensor(back->tensors[0]), blob_to_tensor(msg.tensors[0])));
}

TEST(Compression, HostileQuantizedDataIsRefusedWithTheTensorsName) {
  auto msg = net::make_message(net::MsgType::StepGrad, {{"step", 1}});
  msg.tensors.push_back(quantize_to_blob("layers.0.w", sample({64}, 5), DType::Q8));
  auto good = net::encode(msg);
  ASSERT_TRUE(good);
  auto frames = *good;
  frames.back().pop_back();  // the data frame one code byte short
  auto back = net::decode(frames);
  ASSERT_FALSE(back);
  EXPECT_NE(back.error().message.find("layers.0.w"), std::string::npos) << back.error().message;
  // A non-finite scale is refused on decoding the values.
  auto blob = quantize_to_blob("w", sample({64}, 6), DType::Q4);
  const uint16_t bf16_inf = 0x7f80;
  std::memcpy(blob.data.data(), &bf16_inf, 2);
  EXPECT_THROW(blob_to_tensor(blob), c10::Error);
}

// Error feedback: over R rounds, the sum of what was sent differs from the sum of the true values
// by exactly the last residual (bounded by one round's quantization error), while without it the
// error of every round adds up.
TEST(Compression, ErrorFeedbackMakesTheSentSumFollowTheTrueSum) {
  for (DType q : {DType::Q4, DType::Q2}) {
    SCOPED_TRACE(net::dtype_name(q));
    ErrorFeedback with(true), without(false);
    torch::manual_seed(7);
    // A small consistent drift plus noise, as pseudo-gradients of a slowly moving objective.
    auto drift = torch::randn({512}) * 2e-4;
    torch::Tensor truth = torch::zeros({512}), sent_with = torch::zeros({512}), sent_without = torch::zeros({512});
    const int R = 50;
    for (int r = 0; r < R; ++r) {
      auto v = drift + torch::randn({512}) * 1e-3;
      truth += v;
      torch::Tensor a, b;
      with.encode("w", v, q, &a);
      without.encode("w", v, q, &b);
      sent_with += a;
      sent_without += b;
      // The invariant: truth - sent == the residual kept at the sender.
      EXPECT_TRUE(torch::allclose(truth - sent_with, with.residual("w"), 1e-5, 1e-6)) << "round " << r;
    }
    const double err_with = (truth - sent_with).norm().item<double>();
    const double err_without = (truth - sent_without).norm().item<double>();
    EXPECT_LT(err_with * 3, err_without) << "with " << err_with << ", without " << err_without;
    EXPECT_FALSE(without.residual("w").defined());
  }
}

TEST(Compression, ForgettingDropsResidualsOfTensorsNoLongerHeld) {
  ErrorFeedback fb(true);
  fb.encode("a", torch::randn({70}), DType::Q4);
  fb.encode("b", torch::randn({70}), DType::Q4);
  fb.forget_all_but({"b"});
  EXPECT_FALSE(fb.residual("a").defined());
  EXPECT_TRUE(fb.residual("b").defined());
}

}  // namespace
}  // namespace fomoe
