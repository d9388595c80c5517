// Start from a Hugging Face transformers MoE checkpoint: Qwen2-MoE (what `fomoe export` writes)
// and Mixtral, per-expert files and transformers 5.x's fused expert tensors alike, single or
// sharded safetensors. Anything the engine cannot represent exactly is refused with the key or
// tensor at fault (grouped-query attention, tied embeddings, non-zero attention biases, a gated
// shared expert, another norm epsilon or activation).
#pragma once

#include <string>

#include "fomoe/base/expected.h"
#include "fomoe/config/experiment.h"
#include "fomoe/model/transformer.h"

namespace fomoe::interop {

/// The engine's model section for the folder's config.json (gate mode from norm_topk_prob;
/// init_from = dir). Errors (InvalidArgument / Unsupported) name config.json and the key.
Expected<ModelSection> hf_model_section(const std::string& dir);

/// Copies the folder's weights into model, whose shape must be the folder's (hf_model_section).
/// Errors name the file and tensor: missing, wrong shape, unsupported dtype, or not representable.
Status load_hf_weights(Transformer& model, const std::string& dir);

}  // namespace fomoe::interop
