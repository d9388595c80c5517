// The core's plain event structs as Qt metatypes, so they travel in signals and QSignalSpy.
// Part of the bridge: the only Qt code that includes core headers (these are torch-free).
#pragma once

#include <QMetaType>
#include <QVector>

#include "fomoe/base/run_events.h"

Q_DECLARE_METATYPE(fomoe::MetricPoint)
Q_DECLARE_METATYPE(fomoe::LinkBytes)
Q_DECLARE_METATYPE(fomoe::PlacementEntry)
Q_DECLARE_METATYPE(fomoe::ExpertLoadEntry)
Q_DECLARE_METATYPE(fomoe::RunEvent)
Q_DECLARE_METATYPE(fomoe::SampleEntry)

namespace fomoe::gui {

/// Registers the metatypes above (idempotent). Call once before queued connections or spies.
void registerBridgeTypes();

}  // namespace fomoe::gui
