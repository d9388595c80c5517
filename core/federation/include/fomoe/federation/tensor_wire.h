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
/// Checks dtype and shape against `expected_shape` when given (non-empty); throws c10::Error on mismatch.
torch::Tensor blob_to_tensor(const net::TensorBlob& blob, const std::vector<int64_t>& expected_shape = {});
net::DType wire_dtype(WirePrecision p);

}  // namespace fomoe
