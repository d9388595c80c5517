// Small file helpers shared by the data module's writers and readers.
#pragma once

#include <string>

#include "fomoe/base/expected.h"

namespace fomoe::data::detail {

/// Writes bytes to path + ".tmp.<pid>" and renames it over path, so readers never see a torn file.
Status write_file_atomic(const std::string& path, const std::string& bytes);
/// Whole file, gunzipped when it is gzip'd (zlib reads plain files as they are). Corrupt when it
/// cannot be decompressed; Unsupported for a gzip'd file in a build without zlib.
Expected<std::string> read_maybe_gzip(const std::string& path);
/// Whole file; NotFound when it does not exist, Io on other failures.
Expected<std::string> read_whole_file(const std::string& path);

}  // namespace fomoe::data::detail
