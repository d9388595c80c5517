// Ctrl+Z / Ctrl+Y / Ctrl+Shift+Z undo and redo the experiment document even while a line edit or
// spin box of a document panel has focus (issue 13). Those editors claim the keys for their own
// text undo through QEvent::ShortcutOverride; this application filter refuses the claim inside
// the given panels, so the window's Undo/Redo actions fire. Elsewhere (the run browser's fields,
// dialogs) editors keep their own undo.
#pragma once

#include <QList>
#include <QObject>
#include <QPointer>

class QAction;
class QWidget;

namespace fomoe::gui {

class UndoShortcutRouter : public QObject {
  Q_OBJECT
 public:
  /// The actions (Undo, Redo) win over the editors inside `panels`.
  UndoShortcutRouter(QList<QAction*> actions, QList<QWidget*> panels, QObject* parent);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  bool insidePanel(const QWidget* w) const;
  QList<QAction*> actions_;
  QList<QPointer<QWidget>> panels_;
};

}  // namespace fomoe::gui
