// ProjectionSource: the system model (`fomoe project`) for the workbench: the experiment's own
// shape or a public preset (Mixtral, OLMoE, ...), projected for all four methods. Plain rows
// for the projection panel; the arithmetic stays in core/sysmodel.
#pragma once

#include <QString>
#include <QStringList>
#include <QVector>

#include "fomoe/config/experiment.h"

namespace fomoe::gui {

struct ProjectionRow {
  QString method;
  qint64 maxParamsPerSite = 0;
  double maxMemoryBytes = 0;       // largest site
  double bytesPerRoundSite = 0;    // the busiest site, up + down
  double bytesPerRoundCoord = 0;   // coordinator in + out
  double commSecondsPerRound = 0;  // coordinator link, all sites serialised
  double ratioVsFomoe = 0;         // coordinator bytes / FoMoE's
};

struct ProjectionInput {
  QString preset;           // "" = the experiment's own model
  int sites = 4;
  int replication = 2;
  int innerSteps = 32;
  double bandwidthGbps = 1.0;
  int precision = 0;        // WirePrecision
};

QStringList projectionPresets();
/// Rows for DDP, DiLoCo, Photon, FoMoE; false + message on an invalid shape.
bool projectExperiment(const ExperimentConfig& cfg, const ProjectionInput& in, QVector<ProjectionRow>* rows, QString* error,
                       QString* modelSummary = nullptr);

}  // namespace fomoe::gui
