// fomoe import HF_DIR --out EXPERIMENT.toml: an experiment that starts from a transformers MoE
// checkpoint (model.init_from), with the model shape read from its config.json and the weights
// checked now, so a run does not fail later on something the engine cannot represent.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli_options.h"
#include "commands.h"
#include "fomoe/config/experiment.h"
#include "fomoe/interop/hf_export.h"
#include "fomoe/interop/hf_folder.h"

namespace fomoe::cli {

int import_command(const std::vector<std::string>& args) {
  auto app = make_app("fomoe import", "Write an experiment that starts from a Hugging Face transformers MoE checkpoint (Qwen2-MoE or Mixtral,\n"
               "per-expert or fused expert tensors): its shape from config.json, model.init_from = the folder.\n"
               "A folder `fomoe export` wrote also brings back the experiment (data, training) it came from.");
  std::string dir, out, base;
  std::vector<std::string> sets;
  app->add_option("dir", dir, "the Hugging Face model folder")->required()->check(CLI::ExistingDirectory);
  app->add_option("--out", out, "the experiment file to write")->required();
  app->add_option("--experiment", base, "take everything but the model from this experiment");
  add_repeated(*app, "--set", sets, "section.key=value override");
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;

  auto model = interop::hf_model_section(dir);
  if (!model) {
    std::cerr << "fomoe import: " << model.error().message << "\n";
    return 1;
  }
  ExperimentConfig cfg;
  std::string origin = "the defaults";
  const std::string provenance = dir + "/fomoe_experiment.toml";
  if (!base.empty() || std::filesystem::exists(provenance)) {
    const std::string from = base.empty() ? provenance : base;
    auto loaded = base.empty() ? parse_experiment([&] {
      std::ifstream in(from);
      return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }(), from) : load_experiment(from);
    if (!loaded) {
      std::cerr << "fomoe import: " << loaded.error().message << "\n";
      return 2;
    }
    cfg = *loaded;
    origin = from;
  } else {
    cfg.run.name = std::filesystem::path(dir).filename().string();
  }
  const double residency = cfg.model.residency;
  const double aux = cfg.model.aux_loss_coef, z = cfg.model.z_loss_coef;
  cfg.model = *model;
  cfg.model.residency = residency;
  cfg.model.aux_loss_coef = aux;
  cfg.model.z_loss_coef = z;
  cfg.model.init_from = std::filesystem::absolute(dir).lexically_normal().string();
  if (auto st = apply_overrides(cfg, sets); !st) {
    std::cerr << "fomoe import: " << st.error().message << "\n";
    return 2;
  }
  // Load the weights once now: a tensor the engine cannot represent is reported here, not mid-run.
  auto n_params = interop::check_hf_weights(cfg, cfg.model.init_from);
  if (!n_params) {
    std::cerr << "fomoe import: " << n_params.error().message << "\n";
    return 1;
  }
  {
    std::ofstream(out) << to_toml_minimal(cfg);
    if (!std::ifstream(out)) {
      std::cerr << "fomoe import: cannot write " << out << "\n";
      return 1;
    }
    std::cout << "wrote " << out << ": " << cfg.model.n_layers << " layers, d_model " << cfg.model.d_model << ", "
              << cfg.model.n_experts << " experts (top-" << cfg.model.top_k << "), " << *n_params
              << " parameters from " << cfg.model.init_from << "\n  everything else from " << origin << "\n";
    if (origin == "the defaults")
      std::cout << "  note: train on data tokenised with this model's tokenizer (e.g. data.format = \"megatron\"),\n"
                   "        the built-in texts use the project's own BPE of model.vocab_size ids\n";
    std::cout << "  run it: fomoe run " << out << "\n";
  }
  return 0;
}

}  // namespace fomoe::cli
