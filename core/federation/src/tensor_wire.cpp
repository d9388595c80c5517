#include "fomoe/federation/tensor_wire.h"

#include "fomoe/federation/compression.h"

#include <torch/cuda.h>
#include <torch/torch.h>

namespace fomoe {

net::DType wire_dtype(WirePrecision p) {
  switch (p) {
    case WirePrecision::F32: return net::DType::F32;
    case WirePrecision::BF16: return net::DType::BF16;
    case WirePrecision::F16: return net::DType::F16;
  }
  return net::DType::F32;
}

namespace {
torch::ScalarType torch_dtype(net::DType d) {
  switch (d) {
    case net::DType::F32: return torch::kFloat;
    case net::DType::BF16: return torch::kBFloat16;
    case net::DType::F16: return torch::kHalf;
    case net::DType::I64: return torch::kLong;
    case net::DType::I32: return torch::kInt;
    default: break;  // block-quantized and sparse: decoded by dequantize_blob
  }
  return torch::kFloat;
}
}  // namespace

net::TensorBlob tensor_to_blob(const std::string& name, const torch::Tensor& t, WirePrecision precision) {
  const auto dtype = wire_dtype(precision);
  auto c = t.detach().to(torch::kCPU, torch_dtype(dtype)).contiguous();  // x86-64: already little-endian
  return net::make_tensor(name, dtype, c.sizes().vec(), c.data_ptr());
}

torch::Tensor blob_to_tensor(const net::TensorBlob& blob, const std::vector<int64_t>& expected_shape) {
  TORCH_CHECK(expected_shape.empty() || blob.shape == expected_shape, "tensor ", blob.name, ": shape ",
              c10::IntArrayRef(blob.shape), " does not match the model's ", c10::IntArrayRef(expected_shape));
  if (net::quantized_layout(blob.dtype) || net::sparse_value_dtype(blob.dtype)) return dequantize_blob(blob);
  TORCH_CHECK(blob.dtype == net::DType::F32 || blob.dtype == net::DType::BF16 || blob.dtype == net::DType::F16,
              "tensor ", blob.name, ": dtype ", net::dtype_name(blob.dtype), " is not a floating-point travel precision");
  TORCH_CHECK(expected_shape.empty() || blob.shape == expected_shape, "tensor ", blob.name, ": shape ",
              c10::IntArrayRef(blob.shape), " does not match the model's ", c10::IntArrayRef(expected_shape));
  auto t = torch::empty(blob.shape, torch::TensorOptions().dtype(torch_dtype(blob.dtype)));
  TORCH_CHECK(static_cast<size_t>(t.nbytes()) == blob.data.size(), "tensor ", blob.name, ": ", blob.data.size(),
              " data bytes for shape ", c10::IntArrayRef(blob.shape));
  std::memcpy(t.data_ptr(), blob.data.data(), blob.data.size());
  return t.to(torch::kFloat);
}

std::vector<net::TensorBlob> tensors_to_blobs(const NamedTensors& named, WirePrecision precision) {
  const auto dtype = torch_dtype(wire_dtype(precision));
  // Device tensors: start every copy first (cast on the device, async into pinned memory), then
  // synchronise once; host tensors need no staging and go through tensor_to_blob.
  std::vector<torch::Tensor> pinned(named.size());
  bool any_device = false;
  for (size_t i = 0; i < named.size(); ++i) {
    const auto& t = named[i].second;
    if (!t.is_cuda()) continue;
    auto on_device = t.detach().to(dtype).contiguous();
    pinned[i] = torch::empty(on_device.sizes(), torch::TensorOptions().dtype(dtype).pinned_memory(true));  // cached by LibTorch
    pinned[i].copy_(on_device, /*non_blocking=*/true);
    any_device = true;
  }
  if (any_device) torch::cuda::synchronize();
  std::vector<net::TensorBlob> blobs;
  blobs.reserve(named.size());
  for (size_t i = 0; i < named.size(); ++i)
    blobs.push_back(tensor_to_blob(named[i].first, pinned[i].defined() ? pinned[i] : named[i].second, precision));
  return blobs;
}

void copy_blobs_into(const std::vector<net::TensorBlob>& blobs, const std::map<std::string, torch::Tensor>& destinations) {
  torch::NoGradGuard no_grad;
  bool any_device = false;
  std::vector<torch::Tensor> staged;  // keeps pinned sources alive until the copies have run
  for (const auto& blob : blobs) {
    auto it = destinations.find(blob.name);
    TORCH_CHECK(it != destinations.end(), "received tensor ", blob.name, " which this site does not hold");
    auto dst = it->second;
    auto src = blob_to_tensor(blob, dst.sizes().vec());
    if (dst.is_cuda()) {
      auto pinned = src.pin_memory();
      dst.copy_(pinned, /*non_blocking=*/true);
      staged.push_back(pinned);
      any_device = true;
    } else {
      dst.copy_(src);
    }
  }
  if (any_device) torch::cuda::synchronize();
}

}  // namespace fomoe
