#include "colors.h"

#include <QApplication>
#include <QPalette>

namespace fomoe::gui {

namespace {
// Tableau-10 without its red (red means a dead site here); readable on light and dark backgrounds.
const QColor kPalette[] = {QColor(31, 119, 180), QColor(255, 127, 14), QColor(44, 160, 44), QColor(148, 103, 189),
                           QColor(140, 86, 75),  QColor(227, 119, 194), QColor(127, 127, 127), QColor(188, 189, 34),
                           QColor(23, 190, 207)};
constexpr int kN = sizeof(kPalette) / sizeof(kPalette[0]);
}  // namespace

QColor siteColor(int site) { return site < 0 ? QApplication::palette().color(QPalette::WindowText) : kPalette[site % kN]; }
QColor runColor(qint64 runId) { return kPalette[static_cast<int>((runId < 0 ? -runId : runId) % kN)]; }
QColor layerColor(int layer) { return kPalette[(layer + 3) % kN]; }
QColor withAlpha(QColor c, int alpha) {
  c.setAlpha(alpha);
  return c;
}

bool isDark(const QPalette& palette) { return palette.color(QPalette::Window).lightness() < 128; }
bool darkPaletteActive() { return isDark(QApplication::palette()); }

ChartColors chartColors() {
  const QPalette p = QApplication::palette();
  ChartColors c;
  c.background = p.color(QPalette::Base);
  c.text = p.color(QPalette::Text);
  if (darkPaletteActive()) {
    c.axis = QColor(150, 150, 150);
    c.grid = QColor(70, 70, 70);
    c.legendFill = withAlpha(c.background, 215);
    c.legendBorder = QColor(90, 90, 90);
    c.placeholder = QColor(150, 150, 150);
  } else {
    c.axis = QColor(60, 60, 60);
    c.grid = QColor(225, 225, 225);
    c.legendFill = QColor(255, 255, 255, 215);
    c.legendBorder = QColor(200, 200, 200);
    c.placeholder = QColor(140, 140, 140);
  }
  return c;
}

QColor okColor() { return darkPaletteActive() ? QColor(110, 200, 110) : QColor(42, 125, 42); }
QColor errorColor() { return darkPaletteActive() ? QColor(255, 110, 105) : QColor(192, 24, 28); }
QColor quietTextColor() { return darkPaletteActive() ? QColor(170, 170, 170) : QColor(60, 60, 60); }

}  // namespace fomoe::gui
