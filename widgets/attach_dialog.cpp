#include "attach_dialog.h"

#include <QDialogButtonBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

#include "file_dialogs.h"

namespace fomoe::gui {

AttachDialog::AttachDialog(QWidget* parent) : QDialog(parent) {
  setWindowTitle(tr("Attach to remote coordinator"));
  address_ = new QLineEdit(QStringLiteral("tcp://"), this);
  address_->setPlaceholderText(tr("tcp://HOST:PORT (what `fomoe run --publish` printed)"));
  keyDir_ = new QLineEdit(this);
  keyDir_->setPlaceholderText(tr("empty: a plaintext stream (--publish-plaintext)"));
  keyName_ = new QLineEdit(this);
  keyName_->setPlaceholderText(tr("NAME of NAME.key"));
  auto* browse = new QPushButton(tr("Browse..."), this);
  connect(browse, &QPushButton::clicked, this, [this] {
    const QString dir = existingDirectory(this, tr("Watcher key directory"), keyDir_->text());
    if (!dir.isEmpty()) keyDir_->setText(dir);
  });
  auto* dirRow = new QHBoxLayout;
  dirRow->addWidget(keyDir_, 1);
  dirRow->addWidget(browse);
  auto* form = new QFormLayout;
  form->addRow(tr("Event stream:"), address_);
  form->addRow(tr("Key directory:"), dirRow);
  form->addRow(tr("Watcher name:"), keyName_);
  auto* help = new QLabel(tr("The stream is encrypted unless the coordinator publishes with --publish-plaintext. "
                             "The key directory holds this watcher's NAME.key (<code>fomoe keygen --out DIR --name NAME</code>) "
                             "and a copy of the coordinator's server.pub; NAME.pub goes into the coordinator's watchers/ "
                             "directory."),
                          this);
  help->setWordWrap(true);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  buttons->button(QDialogButtonBox::Ok)->setText(tr("Attach"));
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(help);
  layout->addWidget(buttons);
  resize(560, sizeHint().height());
}

void AttachDialog::setAddress(const QString& a) {
  if (!a.isEmpty()) address_->setText(a);
}
void AttachDialog::setKeyDir(const QString& d) { keyDir_->setText(d); }
void AttachDialog::setKeyName(const QString& n) { keyName_->setText(n); }
QString AttachDialog::address() const { return address_->text().trimmed(); }
QString AttachDialog::keyDir() const { return keyDir_->text().trimmed(); }
QString AttachDialog::keyName() const { return keyName_->text().trimmed(); }

}  // namespace fomoe::gui
