// One small writer for the interop files (config.json, tokenizer files, model card).
#pragma once

#include <fstream>
#include <string>

#include "fomoe/base/expected.h"

namespace fomoe::interop::detail {

inline Status write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) return make_error(ErrorCode::Io, "cannot write " + path + " (disk full?)");
  return {};
}

}  // namespace fomoe::interop::detail
