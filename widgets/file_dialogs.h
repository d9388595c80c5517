// Every file dialog of the workbench. Qt's own dialog (the same on every desktop, and the one
// the tests drive) with an icon provider that names icons and types from the file name alone:
// the default provider opens files to sniff their MIME type, and a process must not open and
// close descriptors of a run store it holds (see core/store/src/ofd_locks.cpp for why that
// once lost runs). The store's locks no longer depend on it; this keeps dialogs from reading
// every file of a folder, which is also what makes them slow on large run folders.
#pragma once

#include <QString>

class QWidget;

namespace fomoe::gui {

QString openFileName(QWidget* parent, const QString& caption, const QString& dir, const QString& filter);
QString saveFileName(QWidget* parent, const QString& caption, const QString& path, const QString& filter);
/// An existing file or a new name (a run store that does not exist yet is created on open).
QString openOrCreateFileName(QWidget* parent, const QString& caption, const QString& dir, const QString& filter);
/// An existing directory.
QString existingDirectory(QWidget* parent, const QString& caption, const QString& dir);

}  // namespace fomoe::gui
