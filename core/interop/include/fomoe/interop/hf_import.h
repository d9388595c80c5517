// Start from a Hugging Face transformers MoE checkpoint: Qwen2-MoE (what `fomoe export` writes)
// and Mixtral, per-expert files and transformers 5.x's fused expert tensors alike, single or
// sharded safetensors, grouped-query attention and tied embeddings. Anything the engine cannot
// represent exactly is refused with the key or tensor at fault (non-zero attention biases, a
// gated shared expert, another norm epsilon, activation or RoPE).
#pragma once

#include <string>

#include "fomoe/base/expected.h"
#include "fomoe/config/experiment.h"
#include "fomoe/interop/hf_folder.h"
#include "fomoe/model/transformer.h"

namespace fomoe::interop {

/// Copies the folder's weights into model, whose shape must be the folder's (hf_model_section).
/// Errors name the file and tensor: missing, wrong shape, unsupported dtype, or not representable.
Status load_hf_weights(Transformer& model, const std::string& dir);

}  // namespace fomoe::interop
