// The workbench's two looks: the desktop's own palette, or a dark Fusion palette. View > Dark
// theme switches (and is remembered); with no choice remembered, the desktop's palette decides.
// Panels follow through QEvent::PaletteChange (charts: ChartPanel::styleAxes).
#pragma once

#include <QPalette>

namespace fomoe::gui {

QPalette darkFusionPalette();
/// The palette the application had before the first applyTheme(): the desktop's.
QPalette desktopPalette();
/// Sets the application palette (dark, or the desktop's) and re-resolves the style sheet's
/// palette(...) colours.
void applyTheme(bool dark);

}  // namespace fomoe::gui
