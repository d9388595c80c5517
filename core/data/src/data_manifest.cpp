#include "fomoe/data/data_manifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "data_hash.h"
#include "fomoe/data/corpus_source.h"
#include "fomoe/data/own_text.h"

namespace fomoe::data {

Expected<FileFingerprint> fingerprint_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Io, "cannot read " + path + ": " + std::strerror(errno));
  FileFingerprint f;
  f.path = path;
  uint64_t h = detail::kFnvOffset;
  std::vector<char> buf(1 << 20);
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return make_error(ErrorCode::Io, "cannot read " + path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    h = detail::fnv1a64(buf.data(), static_cast<size_t>(n), h);
    f.bytes += static_cast<uint64_t>(n);
  }
  ::close(fd);
  char hex[40];
  std::snprintf(hex, sizeof hex, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  f.hash = hex;
  return f;
}

Expected<std::vector<std::string>> corpus_files(const CorpusSpec& spec) {
  std::vector<std::string> out;
  if (!spec.own.format.empty()) {
    auto files = list_own_files(spec.own.path);
    if (!files) return files.error();
    for (const auto& f : *files) out.push_back(f.path);
    return out;
  }
  for (const std::string& name : spec.sources) {
    const SourceInfo* s = find_source(name);
    if (!s) return make_error(ErrorCode::InvalidArgument, "unknown data source " + name);
    auto files = list_source_files(*s, spec.source_root);
    if (!files) return files.error();
    for (const auto& f : *files) out.push_back(f.path);
  }
  return out;
}

}  // namespace fomoe::data
