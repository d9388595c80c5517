#include "file_util.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#ifdef FOMOE_DATA_HAVE_ZLIB
#include <zlib.h>
#endif

namespace fomoe::data::detail {

Expected<std::string> read_maybe_gzip(const std::string& path) {
#ifdef FOMOE_DATA_HAVE_ZLIB
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return make_error(ErrorCode::Io, path + ": cannot open (" + std::strerror(errno) + ")");
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int errnum = 0;
      const std::string msg = gzerror(f, &errnum);
      gzclose(f);
      return make_error(ErrorCode::Corrupt, path + ": cannot decompress (" + msg + ")");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  gzclose(f);
  return out;
#else
  auto out = read_whole_file(path);
  if (out && out->size() >= 2 && static_cast<unsigned char>((*out)[0]) == 0x1f && static_cast<unsigned char>((*out)[1]) == 0x8b)
    return make_error(ErrorCode::Unsupported, path + " is gzip'd; rebuild with zlib1g-dev installed to read it");
  return out;
#endif
}

Status write_file_atomic(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return make_error(ErrorCode::Io, "cannot create " + tmp + ": " + std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return make_error(ErrorCode::Io, "cannot write " + tmp + " (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    return make_error(ErrorCode::Io, "cannot rename " + tmp + " to " + path + ": " + std::strerror(e));
  }
  return Status::ok();
}

Expected<std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int e = errno;
    if (e == ENOENT) return make_error(ErrorCode::NotFound, path + " does not exist");
    return make_error(ErrorCode::Io, "cannot open " + path + ": " + std::strerror(e));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return make_error(ErrorCode::Io, "read error in " + path);
  return ss.str();
}

}  // namespace fomoe::data::detail
