#include "fomoe/federation/tensor_wire.h"

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

}  // namespace fomoe
