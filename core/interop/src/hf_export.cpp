#include "fomoe/interop/hf_export.h"

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "write_text.h"

#include "fomoe/federation/global_model.h"
#include "fomoe/interop/hf_import.h"
#include "fomoe/interop/hf_names.h"
#include "fomoe/interop/hf_tokenizer.h"
#include "fomoe/interop/safetensors.h"
#include "fomoe/train/data_feed.h"
#include "fomoe/train/trainer.h"

namespace fomoe::interop {

using detail::write_text;

namespace fs = std::filesystem;

std::string hf_config_json(const ExperimentConfig& cfg, int64_t eod_id, const std::string& dtype) {
  const auto& m = cfg.model;
  nlohmann::ordered_json j;
  j["architectures"] = {"Qwen2MoeForCausalLM"};
  j["model_type"] = "qwen2_moe";
  j["vocab_size"] = m.vocab_size;
  j["hidden_size"] = m.d_model;
  j["intermediate_size"] = m.d_expert * m.top_k;  // the dense layers' SwiGLU (moe_every = 2)
  j["num_hidden_layers"] = m.n_layers;
  j["num_attention_heads"] = m.n_heads;
  j["num_key_value_heads"] = m.n_kv_heads > 0 ? m.n_kv_heads : m.n_heads;
  j["head_dim"] = m.d_model / m.n_heads;
  j["hidden_act"] = "silu";
  j["max_position_embeddings"] = m.seq_len;
  j["initializer_range"] = 0.02;
  j["rms_norm_eps"] = 1e-6;
  j["use_cache"] = true;
  j["tie_word_embeddings"] = m.tie_embeddings;
  const double theta = model_options_from(cfg).rope_theta();
  j["rope_theta"] = theta;                                                 // 4.57 reads this
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", theta}};  // 5.x reads this
  j["use_sliding_window"] = false;
  j["sliding_window"] = nullptr;
  j["max_window_layers"] = m.n_layers;
  j["attention_dropout"] = 0.0;
  j["qkv_bias"] = true;  // zeros: 4.57 always builds the biases, so they are written for both
  j["decoder_sparse_step"] = m.moe_every == 1 ? 1 : 2;  // engine: layer l is MoE iff l % 2 == 1
  j["mlp_only_layers"] = nlohmann::ordered_json::array();
  j["num_experts"] = m.n_experts;
  j["num_experts_per_tok"] = m.top_k;
  j["moe_intermediate_size"] = m.d_expert;
  j["shared_expert_intermediate_size"] = m.shared_expert ? m.d_expert : 0;
  j["norm_topk_prob"] = m.gate != GateMode::Keep;
  j["output_router_logits"] = false;
  j["router_aux_loss_coef"] = m.aux_loss_coef;
  if (eod_id >= 0) {
    j["bos_token_id"] = eod_id;
    j["eos_token_id"] = eod_id;
  }
  j["torch_dtype"] = dtype;  // 4.57
  j["dtype"] = dtype;        // 5.x
  return j.dump(2) + "\n";
}

Expected<HfExportResult> export_hf(const ExperimentConfig& cfg, const std::string& checkpoint_path,
                                   const std::string& out_dir, const HfExportOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  if (options.dtype != "float32" && options.dtype != "bfloat16")
    return make_error(ErrorCode::InvalidArgument, "dtype '" + options.dtype + "' is not float32 or bfloat16");
  if (!fs::exists(checkpoint_path)) return make_error(ErrorCode::NotFound, "checkpoint " + checkpoint_path + " does not exist");
  HfExportResult result;
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  try {
    GlobalModel global(cfg);
    auto round = global.load(checkpoint_path);
    if (!round) return round.error();
    result.round = *round;
    auto mapped = to_hf_tensors(global.model());
    if (!mapped) return mapped.error();
    tensors = std::move(*mapped);
  } catch (const c10::Error& e) {
    return make_error(ErrorCode::Corrupt, "cannot read " + checkpoint_path + ": " + e.what_without_backtrace());
  }

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return make_error(ErrorCode::Io, "cannot create " + out_dir + ": " + ec.message());

  // Tokenizer first: a vocabulary HF cannot hold fails before anything large is written.
  int64_t eod = -1;
  if (!options.tokenizer_json.empty()) {
    fs::copy_file(options.tokenizer_json, out_dir + "/tokenizer.json", fs::copy_options::overwrite_existing, ec);
    if (ec) return make_error(ErrorCode::Io, "cannot copy " + options.tokenizer_json + ": " + ec.message());
    result.tokenizer_written = true;
    result.tokenizer_note = "copied from " + options.tokenizer_json;
    result.files.push_back("tokenizer.json");
  } else if (!reads_token_files(cfg.data.format) || !cfg.data.tokenizer.empty()) {
    // The run's BPE (converted), or its data.tokenizer file (copied).
    auto tok = data::corpus_tokenizer(corpus_spec_from(cfg));
    if (!tok) return tok.error();
    auto written = write_run_tokenizer(*tok, out_dir, cfg.model.seq_len);
    if (!written) return written.error();
    eod = tok->eod_id();
    result.tokenizer_written = true;
    result.tokenizer_note = written->note;
    for (const auto& f : written->files) result.files.push_back(f);
  } else {
    result.tokenizer_note = "none: the run trained on token files another stack wrote (pass --tokenizer tokenizer.json)";
  }

  const torch::ScalarType st = options.dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat;
  const std::string st_name = options.dtype == "bfloat16" ? "BF16" : "F32";
  std::vector<TensorBytes> views;
  for (auto& [name, t] : tensors) {
    t = t.detach().to(torch::kCPU, st).contiguous();
    result.parameters += t.numel();
    views.push_back({name, st_name, t.sizes().vec(), t.data_ptr(), static_cast<size_t>(t.nbytes())});
  }
  const std::string weights = out_dir + "/model.safetensors";
  if (auto s = write_safetensors(weights, views); !s) return s.error();
  result.safetensors_bytes = fs::file_size(weights, ec);
  result.files.push_back("model.safetensors");

  if (auto s = write_text(out_dir + "/config.json", hf_config_json(cfg, eod, options.dtype)); !s) return s.error();
  result.files.push_back("config.json");
  if (eod >= 0) {
    nlohmann::ordered_json gen = {{"bos_token_id", eod}, {"eos_token_id", eod}};
    if (auto s = write_text(out_dir + "/generation_config.json", gen.dump(2) + "\n"); !s) return s.error();
    result.files.push_back("generation_config.json");
  }
  // Provenance: the experiment that trained it (also what `fomoe import` reads back).
  if (auto s = write_text(out_dir + "/fomoe_experiment.toml", cfg.source_text); !s) return s.error();
  result.files.push_back("fomoe_experiment.toml");
  std::string card = "# " + cfg.run.name + "\n\n";
  if (!options.provenance.empty()) card += options.provenance + "\n\n";
  card += "A Mixture-of-Experts language model trained with FoMoE Workbench (method " +
          std::string(method_name(cfg.run.method)) + ", " + std::to_string(result.round) +
          " rounds), exported as Qwen2-MoE: " + std::to_string(cfg.model.n_layers) + " layers, d_model " +
          std::to_string(cfg.model.d_model) + ", " + std::to_string(cfg.model.n_experts) + " experts (top-" +
          std::to_string(cfg.model.top_k) + "), " + std::to_string(result.parameters) + " parameters.\n\n"
          "Tokenizer: " + result.tokenizer_note + ".\nThe experiment file is fomoe_experiment.toml.\n";
  if (auto s = write_text(out_dir + "/README.md", card); !s) return s.error();
  result.files.push_back("README.md");
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

Expected<int64_t> check_hf_weights(const ExperimentConfig& cfg, const std::string& dir) {
  try {
    const auto opts = model_options_from(cfg);
    if (auto st = validate_options(opts); !st) return st.error();
    Transformer probe(opts, Residency::full(static_cast<int>(opts.n_moe_layers()), cfg.model.n_experts));
    if (auto st = load_hf_weights(probe, dir); !st) return st.error();
    return probe->n_parameters();
  } catch (const c10::Error& e) {
    return make_error(ErrorCode::InvalidArgument, dir + ": " + e.what_without_backtrace());
  }
}

}  // namespace fomoe::interop
