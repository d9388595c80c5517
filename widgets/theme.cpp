#include "theme.h"

#include <QApplication>

namespace fomoe::gui {

QPalette darkFusionPalette() {
  QPalette p;
  const QColor window(45, 45, 48), base(30, 30, 32), text(225, 225, 225), disabled(120, 120, 120);
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, QColor(40, 40, 43));
  p.setColor(QPalette::ToolTipBase, QColor(60, 60, 64));
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::PlaceholderText, disabled);
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, QColor(55, 55, 58));
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::BrightText, QColor(255, 90, 90));
  p.setColor(QPalette::Light, QColor(80, 80, 84));
  p.setColor(QPalette::Midlight, QColor(65, 65, 68));
  p.setColor(QPalette::Mid, QColor(70, 70, 74));
  p.setColor(QPalette::Dark, QColor(25, 25, 27));
  p.setColor(QPalette::Shadow, QColor(15, 15, 15));
  p.setColor(QPalette::Highlight, QColor(42, 110, 180));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, QColor(100, 170, 240));
  p.setColor(QPalette::LinkVisited, QColor(170, 130, 230));
  for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
    p.setColor(QPalette::Disabled, role, disabled);
  p.setColor(QPalette::Disabled, QPalette::Base, window);
  return p;
}

namespace {
QPalette& capturedDesktopPalette() {
  static QPalette desktop = QApplication::palette();  // first use: before any theme was applied
  return desktop;
}
}  // namespace

QPalette desktopPalette() { return capturedDesktopPalette(); }

void applyTheme(bool dark) {
  const QPalette desktop = capturedDesktopPalette();
  QApplication::setPalette(dark ? darkFusionPalette() : desktop);
  // The style sheet's palette(...) references resolve at polish time: polish again.
  if (auto* app = qobject_cast<QApplication*>(QCoreApplication::instance()); app && !app->styleSheet().isEmpty())
    app->setStyleSheet(app->styleSheet());
}

}  // namespace fomoe::gui
