#include "colors.h"

namespace fomoe::gui {

namespace {
// Tableau-10 without its red (red means a dead site here).
const QColor kPalette[] = {QColor(31, 119, 180), QColor(255, 127, 14), QColor(44, 160, 44), QColor(148, 103, 189),
                           QColor(140, 86, 75),  QColor(227, 119, 194), QColor(127, 127, 127), QColor(188, 189, 34),
                           QColor(23, 190, 207)};
constexpr int kN = sizeof(kPalette) / sizeof(kPalette[0]);
}  // namespace

QColor siteColor(int site) { return site < 0 ? QColor(30, 30, 30) : kPalette[site % kN]; }
QColor runColor(qint64 runId) { return kPalette[static_cast<int>((runId < 0 ? -runId : runId) % kN)]; }
QColor layerColor(int layer) { return kPalette[(layer + 3) % kN]; }
QColor withAlpha(QColor c, int alpha) {
  c.setAlpha(alpha);
  return c;
}

}  // namespace fomoe::gui
