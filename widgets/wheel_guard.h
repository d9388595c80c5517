// The mouse wheel never changes a spin box or combo box that does not have focus (issue 13): over
// one while scrolling a long form, the page scrolls on. Installed on the application, the guard
// gives those widgets Qt::StrongFocus (the wheel no longer focuses them) and passes their
// unfocused wheel events to the parent (the scroll area).
#pragma once

#include <QObject>

class QWidget;

namespace fomoe::gui {

class WheelGuard : public QObject {
  Q_OBJECT
 public:
  /// Guards every widget of the application, those that exist and those created later.
  static WheelGuard* install(QObject* owner);
  static bool guards(const QWidget* w);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  using QObject::QObject;
};

}  // namespace fomoe::gui
