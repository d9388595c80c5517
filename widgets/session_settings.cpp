#include "session_settings.h"

#include <QFileInfo>
#include <QSettings>

namespace fomoe::gui::session {

QString startupPath(const QString& fromCommandLine, const QSettings& settings, const char* key, const QString& fallback) {
  if (!fromCommandLine.isEmpty()) return fromCommandLine;
  const QString remembered = settings.value(key).toString();
  // A store or experiment deleted since: start from the default rather than fail at start.
  if (!remembered.isEmpty() && QFileInfo::exists(remembered)) return remembered;
  return fallback;
}

}  // namespace fomoe::gui::session
