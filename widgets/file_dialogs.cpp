#include "file_dialogs.h"

#include <QAbstractFileIconProvider>
#include <QFileDialog>
#include <QFileIconProvider>
#include <QFileInfo>

namespace fomoe::gui {

namespace {

/// Icons and type names from the name only: never opens a file.
class NameOnlyIconProvider : public QAbstractFileIconProvider {
 public:
  QIcon icon(IconType type) const override { return standard_.icon(type); }
  QIcon icon(const QFileInfo& info) const override {
    return standard_.icon(info.isDir() ? QAbstractFileIconProvider::Folder : QAbstractFileIconProvider::File);
  }
  QString type(const QFileInfo& info) const override {
    if (info.isDir()) return QFileDialog::tr("Folder");
    const QString suffix = info.suffix();
    return suffix.isEmpty() ? QFileDialog::tr("File") : QFileDialog::tr("%1 file").arg(suffix.toUpper());
  }

 private:
  QFileIconProvider standard_;  // only its IconType icons, which come from the style
};

NameOnlyIconProvider* iconProvider() {
  static NameOnlyIconProvider provider;
  return &provider;
}

QString runDialog(QFileDialog& d) {
  d.setOption(QFileDialog::DontUseNativeDialog);
  d.setIconProvider(iconProvider());
  if (d.exec() != QDialog::Accepted || d.selectedFiles().isEmpty()) return QString();
  return d.selectedFiles().first();
}

}  // namespace

QString openFileName(QWidget* parent, const QString& caption, const QString& dir, const QString& filter) {
  QFileDialog d(parent, caption, dir, filter);
  d.setAcceptMode(QFileDialog::AcceptOpen);
  d.setFileMode(QFileDialog::ExistingFile);
  return runDialog(d);
}

QString saveFileName(QWidget* parent, const QString& caption, const QString& path, const QString& filter) {
  QFileDialog d(parent, caption, QString(), filter);
  d.setAcceptMode(QFileDialog::AcceptSave);
  d.setFileMode(QFileDialog::AnyFile);
  if (!path.isEmpty()) {
    const QFileInfo info(path);
    if (info.isAbsolute()) d.setDirectory(info.absolutePath());
    d.selectFile(info.fileName());
  }
  return runDialog(d);
}

QString openOrCreateFileName(QWidget* parent, const QString& caption, const QString& dir, const QString& filter) {
  QFileDialog d(parent, caption, dir, filter);
  d.setAcceptMode(QFileDialog::AcceptOpen);
  d.setFileMode(QFileDialog::AnyFile);
  d.setLabelText(QFileDialog::Accept, QFileDialog::tr("&Open"));
  return runDialog(d);
}

QString existingDirectory(QWidget* parent, const QString& caption, const QString& dir) {
  QFileDialog d(parent, caption, dir);
  d.setAcceptMode(QFileDialog::AcceptOpen);
  d.setFileMode(QFileDialog::Directory);
  d.setOption(QFileDialog::ShowDirsOnly);
  return runDialog(d);
}

}  // namespace fomoe::gui
