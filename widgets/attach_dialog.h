// The "Attach to remote coordinator" dialog: the event stream's address and, for a CURVE stream
// (`fomoe run --publish`'s default), the watcher's key directory and name, as for
// `fomoe watch ADDRESS --keys DIR --name NAME`. MainWindow remembers the three in QSettings.
#pragma once

#include <QDialog>

class QLineEdit;

namespace fomoe::gui {

class AttachDialog : public QDialog {
  Q_OBJECT
 public:
  explicit AttachDialog(QWidget* parent = nullptr);

  void setAddress(const QString& a);
  void setKeyDir(const QString& d);
  void setKeyName(const QString& n);
  QString address() const;
  QString keyDir() const;   // "" = a plaintext stream
  QString keyName() const;

  QLineEdit* addressEdit() const { return address_; }  // tests
  QLineEdit* keyDirEdit() const { return keyDir_; }
  QLineEdit* keyNameEdit() const { return keyName_; }

 private:
  QLineEdit* address_;
  QLineEdit* keyDir_;
  QLineEdit* keyName_;
};

}  // namespace fomoe::gui
