#include "wheel_guard.h"

#include <QAbstractSpinBox>
#include <QApplication>
#include <QComboBox>
#include <QEvent>

namespace fomoe::gui {

WheelGuard* WheelGuard::install(QObject* owner) {
  auto* guard = new WheelGuard(owner);
  for (QWidget* w : QApplication::allWidgets())
    if (guards(w)) w->setFocusPolicy(Qt::StrongFocus);
  QCoreApplication::instance()->installEventFilter(guard);
  return guard;
}

bool WheelGuard::guards(const QWidget* w) {
  return qobject_cast<const QAbstractSpinBox*>(w) || qobject_cast<const QComboBox*>(w);
}

bool WheelGuard::eventFilter(QObject* watched, QEvent* event) {
  if (event->type() != QEvent::Polish && event->type() != QEvent::Wheel) return false;
  auto* w = qobject_cast<QWidget*>(watched);
  if (!w || !guards(w)) return false;
  if (event->type() == QEvent::Polish) {
    // Qt's default for both is WheelFocus: the wheel would focus them before any filter sees it.
    w->setFocusPolicy(Qt::StrongFocus);
    return false;
  }
  if (w->hasFocus()) return false;
  event->ignore();  // ignored + filtered: QApplication offers the wheel to the parent widgets
  return true;
}

}  // namespace fomoe::gui
