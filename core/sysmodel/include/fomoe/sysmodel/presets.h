// Public MoE shapes mapped onto the engine's architecture (MHA attention, SwiGLU experts, untied
// head, no biases). Sources and approximations: core/sysmodel/README.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/config/experiment.h"
#include "fomoe/sysmodel/model_shape.h"
#include "fomoe/sysmodel/projection.h"

namespace fomoe::sysmodel {

struct Preset {
  std::string name;               // "mixtral-8x7b"
  ModelShape model;
  FederationShape federation;     // defaults: K 4, r 2, H 32 (the engine's), batch/seq as noted
  double published_total_params = 0.0;  // from the model card; 0 = not applicable
  std::string source;             // where the numbers come from
  std::string approximation;      // what our MHA/SwiGLU shapes change, one line
};

const std::vector<Preset>& presets();
/// Case-insensitive. The error lists every preset name.
Expected<Preset> find_preset(const std::string& name);
/// "engine-small, olmoe-1b-7b, ..." for messages.
std::string preset_names();

/// Shapes from an experiment config (the engine's [model] and [federation], [train] batch).
ModelShape model_shape_from(const ModelSection& m, const std::string& name = "experiment");
FederationShape federation_shape_from(const ExperimentConfig& cfg);

}  // namespace fomoe::sysmodel
