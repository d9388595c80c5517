#include "undo_shortcut_router.h"

#include <QAction>
#include <QCoreApplication>
#include <QKeyEvent>
#include <QWidget>

namespace fomoe::gui {

UndoShortcutRouter::UndoShortcutRouter(QList<QAction*> actions, QList<QWidget*> panels, QObject* parent)
    : QObject(parent), actions_(std::move(actions)) {
  for (QWidget* p : panels) panels_ << p;
  QCoreApplication::instance()->installEventFilter(this);
}

bool UndoShortcutRouter::insidePanel(const QWidget* w) const {
  for (const auto& p : panels_)
    if (p && (p == w || p->isAncestorOf(w))) return true;
  return false;
}

bool UndoShortcutRouter::eventFilter(QObject* watched, QEvent* event) {
  if (event->type() != QEvent::ShortcutOverride) return false;
  auto* w = qobject_cast<QWidget*>(watched);
  if (!w || !insidePanel(w)) return false;
  const QKeySequence pressed(static_cast<QKeyEvent*>(event)->keyCombination());
  for (QAction* a : actions_) {
    if (!a->isEnabled()) continue;  // nothing to undo: the editor may keep the key
    for (const QKeySequence& s : a->shortcuts())
      if (s == pressed) {
        event->ignore();  // not claimed: the shortcut map triggers the action
        return true;
      }
  }
  return false;
}

}  // namespace fomoe::gui
