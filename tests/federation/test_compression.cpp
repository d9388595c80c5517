// Block quantization of what travels and error feedback: round trips within their bounds, exact
// wire sizes, and error feedback making the sum of what was sent follow the sum of the values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fomoe/federation/compression.h"
#include "fomoe/federation/tensor_wire.h"

#include <cstring>

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


// Top-k: the kept entries are exactly each chunk's k of largest magnitude (torch::topk per chunk),
// the rest decode to 0, the wire size is the layout's, including a short last chunk.
TEST(Sparse, KeepsEachChunksTopKByMagnitudeAndZerosTheRest) {
  for (DType values : {DType::F32, DType::Q8, DType::Q2}) {
    for (int64_t n : {int64_t{100}, int64_t{4096}, int64_t{3 * 4096 + 777}}) {
      SCOPED_TRACE(std::string(net::dtype_name(values)) + " n " + std::to_string(n));
      const double f = 0.03;
      auto x = sample({n}, 11 + n);
      auto blob = sparsify_to_blob("layers.0.w", x, f, values);
      EXPECT_EQ(blob.dtype, net::sparse_dtype(values));
      EXPECT_EQ(blob.data.size(), net::payload_bytes(blob.dtype, static_cast<uint64_t>(n), f));
      const auto vl = net::quantized_layout(values);
      EXPECT_EQ(blob.data.size(), sparse_bytes(static_cast<uint64_t>(n), f, vl ? &*vl : nullptr));
      auto y = blob_to_tensor(blob);
      ASSERT_EQ(y.sizes(), x.sizes());
      const int64_t C = 4096;
      const int64_t k_full = static_cast<int64_t>(sparse_full_k(f));
      int64_t kept_total = 0;
      for (int64_t start = 0; start < n; start += C) {
        const int64_t len = std::min(C, n - start);
        const int64_t k = len == C ? k_full : static_cast<int64_t>(sparse_last_k(static_cast<uint64_t>(len), static_cast<uint64_t>(k_full)));
        kept_total += k;
        auto xc = x.narrow(0, start, len), yc = y.narrow(0, start, len);
        auto want = std::get<1>(xc.abs().topk(k));
        auto mask = torch::zeros({len}, torch::kBool);
        mask.index_put_({want}, true);
        // Outside the top-k: exactly 0. Inside: the value (fp32 exactly; quantized within a step).
        EXPECT_TRUE(torch::equal(yc.masked_select(~mask), torch::zeros({len - k}))) << "chunk at " << start;
        if (values == DType::F32) EXPECT_TRUE(torch::equal(yc.masked_select(mask), xc.masked_select(mask)));
        else  // blocks run over the concatenated kept values: half a step of the largest one's block at most
          EXPECT_LT((yc - xc).masked_select(mask).abs().max().item<double>(), x.abs().max().item<double>() * 0.51);
      }
      EXPECT_EQ(static_cast<uint64_t>(kept_total), sparse_kept(static_cast<uint64_t>(n), f));
    }
  }
  // Through the protocol: the decoder accepts the exact size and the values survive.
  net::Message msg = net::make_message(net::MsgType::RoundReport, {{"steps", 1}, {"payload", "pseudo_grad"}, {"expert_tokens", nlohmann::json::array()}, {"metrics", nlohmann::json::object()}, {"compute_s", 0.0}});
  msg.tensors.push_back(sparsify_to_blob("layers.0.w", sample({5000}, 3), 0.02, DType::Q4));
  auto frames = net::encode(msg);
  ASSERT_TRUE(frames) << frames.error().message;
  auto back = net::decode(*frames);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(torch::equal(blob_to_tensor(back->tensors[0]), blob_to_tensor(msg.tensors[0])));
}

TEST(Sparse, HostileBlobsAreRefusedNamingTheTensor) {
  auto good = sparsify_to_blob("layers.1.w", sample({5000}, 4), 0.01, DType::Q8);
  auto expect_refused = [](const net::TensorBlob& b, const char* what) {
    try {
      blob_to_tensor(b);
      ADD_FAILURE() << what << ": accepted";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find("layers.1.w"), std::string::npos) << what << ": " << e.what();
    }
  };
  {  // wrong size: one byte short; also refused by the protocol
    auto b = good;
    b.data.pop_back();
    expect_refused(b, "short");
    net::Message msg = net::make_message(net::MsgType::StepGrad, {{"step", 0}});
    msg.tensors.push_back(b);
    auto s = net::validate(msg);
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message.find("no top-k size"), std::string::npos) << s.error().message;
  }
  {  // an index outside its chunk (the second chunk has 5000 - 4096 = 904 values)
    auto b = good;
    const uint16_t bad = 1000;
    const size_t last = sparse_full_k(0.01);  // first index of the short chunk
    std::memcpy(b.data.data() + last * 2, &bad, 2);
    expect_refused(b, "index outside the chunk");
  }
  {  // a duplicate index
    auto b = good;
    std::memcpy(b.data.data() + 2, b.data.data(), 2);
    expect_refused(b, "duplicate index");
  }
  {  // a non-finite scale of the kept values
    auto b = good;
    const size_t kept = sparse_kept(5000, 0.01);
    const uint16_t bf16_nan = 0x7fc0;
    std::memcpy(b.data.data() + kept * 2, &bf16_nan, 2);
    expect_refused(b, "non-finite scale");
  }
}

// Error feedback with top-k: each round truth - sent == the residual, and the sent sum follows
// the true sum far better than without feedback.
TEST(Sparse, ErrorFeedbackMakesTheSentSumFollowTheTrueSum) {
  const int64_t n = 4096 + 500;
  ErrorFeedback with(true), without(false);
  torch::manual_seed(9);
  auto drift = torch::randn({n}) * 2e-4;
  torch::Tensor truth = torch::zeros({n}), sent_with = torch::zeros({n}), sent_without = torch::zeros({n});
  const auto dtype = travel_dtype(Compression::Int4, 0.05);
  EXPECT_EQ(dtype, DType::SPARSE_Q4);
  for (int r = 0; r < 60; ++r) {
    auto v = drift + torch::randn({n}) * 1e-3;
    truth += v;
    torch::Tensor a, b;
    auto blob = with.encode("w", v, dtype, &a, 0.05);
    EXPECT_EQ(blob.data.size(), net::payload_bytes(dtype, static_cast<uint64_t>(n), 0.05));
    without.encode("w", v, dtype, &b, 0.05);
    sent_with += a;
    sent_without += b;
    EXPECT_TRUE(torch::allclose(truth - sent_with, with.residual("w"), 1e-5, 1e-6)) << "round " << r;
  }
  const double err_with = (truth - sent_with).norm().item<double>();
  const double err_without = (truth - sent_without).norm().item<double>();
  EXPECT_LT(err_with * 2, err_without) << "with " << err_with << ", without " << err_without;
}

// SparseLoCo's decay: each message carries value + beta * residual, and the new residual is what
// that message did not carry; beta = 1 is plain error feedback.
TEST(Compression, ErrorFeedbackDecayFadesOldResiduals) {
  torch::manual_seed(4);
  const auto v1 = torch::randn({300}) * 1e-3, v2 = torch::randn({300}) * 1e-3;
  ErrorFeedback decayed(true, 0.5), plain(true, 1.0);
  torch::Tensor s1, s2, p1, p2;
  decayed.encode("w", v1, DType::Q2, &s1);
  plain.encode("w", v1, DType::Q2, &p1);
  EXPECT_TRUE(torch::equal(s1, p1));  // no residual yet: the same message
  const auto r1 = decayed.residual("w").clone();
  EXPECT_TRUE(torch::allclose(r1, v1 - s1));
  decayed.encode("w", v2, DType::Q2, &s2);
  plain.encode("w", v2, DType::Q2, &p2);
  EXPECT_TRUE(torch::allclose(decayed.residual("w"), v2 + 0.5 * r1 - s2, 1e-6, 1e-9));
  EXPECT_TRUE(torch::allclose(plain.residual("w"), v2 + r1 - p2, 1e-6, 1e-9));
  EXPECT_FALSE(torch::equal(s2, p2));
  // beta = 0: each round on its own (but the residual is still kept, for the record).
  ErrorFeedback none(true, 0.0), off(false);
  torch::Tensor n2, o2;
  none.encode("w", v1, DType::Q2);
  none.encode("w", v2, DType::Q2, &n2);
  off.encode("w", v2, DType::Q2, &o2);
  EXPECT_TRUE(torch::equal(n2, o2));
}

// What compression changed, per group: relative errors are sqrt(err2 / norm2) pooled per group,
// the worst expert on its own; the JSON form round-trips and a malformed one is refused by name.
TEST(CompressionError, GroupsPoolAndTheJsonRoundTrips) {
  CompressionError e;
  auto t = torch::ones({4});   // norm2 4
  e.add(false, -1, -1, t, t * 1.1);   // err2 4 * 0.01
  e.add(true, 0, 1, t, t * 1.5);      // err2 1, norm2 4 -> 0.5
  e.add(true, 1, 0, t * 2, t * 2);    // err2 0, norm2 16
  EXPECT_NEAR(e.dense_relative(), 0.1, 1e-6);
  EXPECT_NEAR(e.experts_relative(), std::sqrt(1.0 / 20), 1e-6);
  EXPECT_NEAR(e.expert_max_relative(), 0.5, 1e-6);
  auto back = CompressionError::from_json(nlohmann::json::parse(e.to_json().dump()));
  EXPECT_NEAR(back.dense_relative(), 0.1, 1e-3);
  EXPECT_NEAR(back.expert_max_relative(), 0.5, 1e-3);
  ASSERT_EQ(back.experts.size(), 2u);

  for (const char* bad : {R"([])", R"({"dense": [1], "experts": []})", R"({"dense": [1, -2], "experts": []})",
                          R"({"dense": [1, 2], "experts": [[0, 1, 2]]})", R"({"dense": [1, 2], "experts": [[-1, 0, 1, 1]]})",
                          R"({"dense": [1, 2], "experts": [[0, 0, "x", 1]]})"}) {
    try {
      CompressionError::from_json(nlohmann::json::parse(bad));
      ADD_FAILURE() << "accepted " << bad;
    } catch (const std::runtime_error& err) {
      EXPECT_NE(std::string(err.what()).find("compression error"), std::string::npos) << err.what();
    }
  }
}

// The averaged update's error: n holders' independent errors shrink as sqrt(sum err2) / n against
// the mean's norm, so the same per-site error weighs less on a tensor averaged over more sites.
TEST(CompressionError, TheAveragedUpdatesErrorShrinksWithMoreHolders) {
  UpdateErrorTally tally;
  const auto ones = torch::ones({100});  // every site's value; norm2 100
  for (int site = 0; site < 4; ++site) {
    CompressionError e;
    e.dense = {1.0, 100.0};  // relative 0.1 at each site
    std::map<std::string, torch::Tensor> arrived = {{"dense.w", ones}};
    if (site < 2) {  // an expert held by two of the four
      e.experts[{0, 3}] = {1.0, 100.0};
      arrived["layers.1.moe.expert_3.w_in"] = ones;
    }
    tally.add(e, arrived);
  }
  const auto r = tally.relative([](const std::string& name) {
    return name.rfind("layers.", 0) == 0 ? std::make_pair(0, 3) : std::make_pair(-1, -1);
  });
  EXPECT_NEAR(r.dense, std::sqrt(4.0) / 4 / 10, 1e-6);   // sqrt(4 * 1) / 4 against |mean| = 10
  EXPECT_NEAR(r.experts, std::sqrt(2.0) / 2 / 10, 1e-6);  // two holders: sqrt(2) times the dense error
  EXPECT_NEAR(r.expert_max, r.experts, 1e-9);
}

}  // namespace
}  // namespace fomoe
