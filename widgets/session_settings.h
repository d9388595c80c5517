// What the workbench remembers between sessions, in QSettings (organisation "fomoe", application
// "fomoe-workbench"): the last run store and experiment, the window's geometry and its dock and
// toolbar layout, the theme, the Attach dialog's fields. Paths given on the command line win over remembered ones.
#pragma once

#include <QString>

class QSettings;

namespace fomoe::gui::session {

inline constexpr char kStore[] = "session/store";
inline constexpr char kExperiment[] = "session/experiment";
inline constexpr char kGeometry[] = "window/geometry";
inline constexpr char kLayout[] = "window/layout";
inline constexpr char kTheme[] = "view/theme";  // "dark", "light"; absent = follow the desktop
// The Attach dialog's last address, watcher key directory and name.
inline constexpr char kAttachAddress[] = "attach/address";
inline constexpr char kAttachKeyDir[] = "attach/key_dir";
inline constexpr char kAttachKeyName[] = "attach/key_name";

/// The path to open at start: the command line's, else the remembered one if the file still
/// exists, else the fallback.
QString startupPath(const QString& fromCommandLine, const QSettings& settings, const char* key, const QString& fallback);

}  // namespace fomoe::gui::session
