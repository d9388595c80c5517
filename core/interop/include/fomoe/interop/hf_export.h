// Export a federation's global model as a Hugging Face transformers folder (Qwen2-MoE):
// config.json, model.safetensors and the tokenizer files, loadable with AutoModelForCausalLM /
// AutoTokenizer with no missing or newly initialised weights and the engine's logits.
// Torch-free header, so the CLI stays light.
//
// Why Qwen2-MoE: it represents every engine variant exactly. Softmax over all E, top-k, gates
// kept (norm_topk_prob = false) or renormalised (gate = renormalize | reroute: with every expert
// present both renormalise); the ungated shared expert as a zero shared_expert_gate
// (sigmoid(0) = 1/2) with a doubled down_proj (exact in binary floating point); every-other-layer
// MoE as decoder_sparse_step = 2; attention without bias as zero q/k/v biases (4.57 always has
// them); the engine's RoPE already rotates halves as transformers does, so q/k need no permutation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/config/experiment.h"

namespace fomoe::interop {

struct HfExportOptions {
  std::string dtype = "float32";  // or "bfloat16"
  std::string tokenizer_json;     // a tokenizer.json to copy; "" = the run's own BPE where it has one
  std::string provenance;         // written as the model card's first paragraph (what run, which round)
};

struct HfExportResult {
  int64_t parameters = 0;
  uint64_t safetensors_bytes = 0;
  int64_t round = 0;           // completed rounds in the checkpoint
  bool tokenizer_written = false;
  std::string tokenizer_note;  // why there is no tokenizer, or where it came from
  double seconds = 0.0;
  std::vector<std::string> files;
};

/// Loads the coordinator checkpoint into a global model of cfg's shape and writes the folder
/// out_dir (created; existing files of the same names replaced). Errors: the checkpoint (Corrupt,
/// with its path), the output folder (Io), a tokenizer HF cannot represent (InvalidArgument).
Expected<HfExportResult> export_hf(const ExperimentConfig& cfg, const std::string& checkpoint_path,
                                   const std::string& out_dir, const HfExportOptions& options = {});

/// Loads a Hugging Face folder's weights into a model of cfg's shape (the trainer's options) once,
/// so what the engine cannot represent is reported before a run starts. Returns the parameter count.
Expected<int64_t> check_hf_weights(const ExperimentConfig& cfg, const std::string& dir);

/// config.json of the Qwen2-MoE model of cfg's shape (eod_id: the tokenizer's end of document, -1 none).
std::string hf_config_json(const ExperimentConfig& cfg, int64_t eod_id, const std::string& dtype);

}  // namespace fomoe::interop
