#include "bridge/projection_source.h"

#include <QLocale>

#include <exception>

#include "fomoe/sysmodel/presets.h"
#include "fomoe/sysmodel/projection.h"

namespace fomoe::gui {

QStringList projectionPresets() {
  QStringList out;
  for (const auto& p : sysmodel::presets()) out << QString::fromStdString(p.name);
  return out;
}

bool projectExperiment(const ExperimentConfig& cfg, const ProjectionInput& in, QVector<ProjectionRow>* rows, QString* error,
                       QString* modelSummary) {
  try {
    sysmodel::ModelShape m;
    sysmodel::FederationShape f = sysmodel::federation_shape_from(cfg);
    if (in.preset.isEmpty()) {
      m = sysmodel::model_shape_from(cfg.model, cfg.run.name);
    } else {
      auto p = sysmodel::find_preset(in.preset.toStdString());
      if (!p) {
        if (error) *error = QString::fromStdString(p.error().message);
        return false;
      }
      m = p->model;
      f.batch = p->federation.batch;
      f.seq_len = p->federation.seq_len;
    }
    f.n_sites = in.sites;
    f.replication = in.replication;
    f.inner_steps = in.innerSteps;
    f.bandwidth_bps = in.bandwidthGbps * 1e9;
    f.precision = WirePrecision(in.precision);
    if (Status st = sysmodel::validate_model_shape(m); !st) {
      if (error) *error = QString::fromStdString(st.error().message);
      return false;
    }
    if (Status st = sysmodel::validate_federation_shape(f); !st) {
      if (error) *error = QString::fromStdString(st.error().message);
      return false;
    }
    const sysmodel::Projection p = sysmodel::project(m, f);
    rows->clear();
    const double fomoeBytes = double(p.fomoe.coordinator_total());
    for (Method method : {Method::Ddp, Method::DiLoCo, Method::Photon, Method::FoMoE}) {
      const auto& mp = p.of(method);
      ProjectionRow r;
      r.method = method_name(method);
      r.maxParamsPerSite = mp.max_params();
      r.maxMemoryBytes = double(mp.max_memory());
      const auto& s = mp.max_site();
      r.bytesPerRoundSite = double(s.up.total() + s.down.total());
      r.bytesPerRoundCoord = double(mp.coordinator_total());
      r.commSecondsPerRound = mp.coordinator_time_s;
      r.ratioVsFomoe = fomoeBytes > 0 ? r.bytesPerRoundCoord / fomoeBytes : 0;
      rows->push_back(r);
    }
    if (modelSummary) {
      int64_t total = 0;
      for (const auto& ps : sysmodel::enumerate_parameters(m)) total += ps.numel();
      *modelSummary = QString("%1: %2 parameters, %3 layers, %4 experts (top-%5), d_model %6")
                          .arg(QString::fromStdString(m.name))
                          .arg(QLocale().toString(qint64(total)))
                          .arg(m.n_layers).arg(m.n_experts).arg(m.top_k).arg(m.d_model);
    }
    return true;
  } catch (const std::exception& e) {
    if (error) *error = QString::fromUtf8(e.what());
    return false;
  }
}

}  // namespace fomoe::gui
