// torch::Tensor <-> wire TensorBlob, with the travel precision (fp32 / bf16 / fp16). Master
// weights and outer state stay fp32: blobs are widened back to fp32 on receipt.
#pragma once

#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

#include "fomoe/config/experiment.h"
#include "fomoe/net/protocol.h"

namespace fomoe {

net::TensorBlob tensor_to_blob(const std::string& name, const torch::Tensor& t, WirePrecision precision);
/// fp32 CPU values (block-quantized blobs are dequantized). Checks dtype and shape against `expected_shape` when given (non-empty); throws c10::Error on mismatch.
torch::Tensor blob_to_tensor(const net::TensorBlob& blob, const std::vector<int64_t>& expected_shape = {});
net::DType wire_dtype(WirePrecision p);

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;
/// Many tensors at once. Device tensors are cast on the device (bf16 halves the bus bytes), copied
/// asynchronously into pinned host buffers, and the device synchronised once.
std::vector<net::TensorBlob> tensors_to_blobs(const NamedTensors& named, WirePrecision precision);
/// Copies each blob into the tensor of its name (checked shape), through pinned host buffers and
/// asynchronous copies when the destination is on a device. Throws c10::Error on an unknown name.
void copy_blobs_into(const std::vector<net::TensorBlob>& blobs, const std::map<std::string, torch::Tensor>& destinations);

}  // namespace fomoe
