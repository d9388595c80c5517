// The workbench palette in one place: a colour per site, per run (stable across panels: the
// same run id always gets the same colour), per layer, and the dead-site red.
#pragma once

#include <QColor>

namespace fomoe::gui {

QColor siteColor(int site);    // site -1 (global / coordinator) is near-black
QColor runColor(qint64 runId);
QColor layerColor(int layer);
inline QColor deadColor() { return QColor(215, 25, 28); }
QColor withAlpha(QColor c, int alpha);

}  // namespace fomoe::gui
