// The workbench palette in one place: a colour per site, per run (stable across panels: the
// same run id always gets the same colour), per layer, the dead-site red, and the chart and
// status colours, which follow the application palette (light or dark).
#pragma once

#include <QColor>

class QPalette;

namespace fomoe::gui {

QColor siteColor(int site);    // site -1 (global / coordinator) is the palette's text colour
QColor runColor(qint64 runId);
QColor layerColor(int layer);
inline QColor deadColor() { return QColor(215, 25, 28); }
QColor withAlpha(QColor c, int alpha);

/// True when the palette is dark: its window colour is darker than mid grey (Qt 6.4 has no
/// colour-scheme hint from the desktop, the palette is what it gives).
bool isDark(const QPalette& palette);
/// isDark(QApplication::palette()).
bool darkPaletteActive();

/// What a chart draws besides its data, for the current application palette.
struct ChartColors {
  QColor background;
  QColor text;         // tick labels, axis labels, legend text
  QColor axis;         // axis lines and ticks
  QColor grid;
  QColor legendFill;
  QColor legendBorder;
  QColor placeholder;  // "waiting for the first round"
};
ChartColors chartColors();

QColor okColor();      // "valid experiment", a training site
QColor errorColor();   // an invalid value and its reason
QColor quietTextColor();  // idle states, secondary text

}  // namespace fomoe::gui
