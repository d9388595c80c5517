// Corpus source registry and readers (fortune directories, dictd databases).
#include "fomoe/data/corpus_source.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <sstream>

#include "file_util.h"

namespace fomoe::data {
namespace {

// Files in a fortune directory that are pictures, not language.
const char* const kSkippedFortuneFiles[] = {"ascii-art", "asciiart", "banner"};

const std::vector<SourceInfo> kSources = {
    {"fortunes-en", SourceKind::FortuneDir, "games/fortunes", "fortunes",
     "English fortune cookies (regular files of the top directory; the symlinks there are Italian)"},
    {"fortunes-de", SourceKind::FortuneDir, "games/fortunes/de", "fortunes-de", "German fortune cookies"},
    {"fortunes-es", SourceKind::FortuneDir, "games/fortunes/es", "fortunes-es", "Spanish fortune cookies"},
    {"fortunes-it", SourceKind::FortuneDir, "games/fortunes/it", "fortunes-it", "Italian fortune cookies"},
    {"jargon", SourceKind::DictdDict, "dictd/jargon", "dict-jargon", "The Jargon File 4.4.7 (dictd database)"},
};

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

Error not_found(const SourceInfo& source, const std::string& path, const std::string& what) {
  return make_error(ErrorCode::NotFound, "corpus source '" + source.name + "': " + what + " " + path +
                                             " not found; install the Debian package " + source.package +
                                             " (apt-get install " + source.package + ")");
}

Expected<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::Io, "cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return make_error(ErrorCode::Io, "read error in " + path);
  return ss.str();
}

bool is_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}


// dictd index numbers: base64 digits, most significant first.
bool decode_b64(std::string_view s, uint64_t& value) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  value = 0;
  if (s.empty()) return false;
  for (char c : s) {
    size_t d = kAlphabet.find(c);
    if (d == std::string::npos) return false;
    value = value * 64 + d;
  }
  return true;
}

Expected<std::vector<std::string>> read_dictd(const SourceInfo& source, const std::vector<SourceFile>& files,
                                              int64_t max_bytes) {
#ifndef FOMOE_DATA_HAVE_ZLIB
  return make_error(ErrorCode::Unsupported, "corpus source '" + source.name +
                                                "' needs zlib; rebuild with zlib1g-dev installed");
#else
  const std::string& dict_path = files[0].path;
  const std::string& index_path = files[1].path;
  auto text = detail::read_maybe_gzip(dict_path);
  if (!text) return text.error();
  auto index = read_file(index_path);
  if (!index) return index.error();
  struct Entry { uint64_t offset, length; };
  std::vector<Entry> entries;
  std::istringstream lines(*index);
  std::string line;
  int line_no = 0;
  while (std::getline(lines, line)) {
    ++line_no;
    if (line.empty()) continue;
    size_t t1 = line.find('\t');
    size_t t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
    Entry e{};
    if (t2 == std::string::npos || !decode_b64(std::string_view(line).substr(t1 + 1, t2 - t1 - 1), e.offset) ||
        !decode_b64(std::string_view(line).substr(t2 + 1), e.length)) {
      return make_error(ErrorCode::Corrupt, index_path + ":" + std::to_string(line_no) +
                                                ": not a dictd index line (headword TAB offset TAB length)");
    }
    if (line.compare(0, 11, "00-database") == 0) continue;  // dictd metadata, not an entry
    if (e.offset + e.length > text->size()) {
      return make_error(ErrorCode::Corrupt, index_path + ":" + std::to_string(line_no) + ": entry beyond the end of " +
                                                dict_path + "; reinstall " + source.package);
    }
    entries.push_back(e);
  }
  // Several headwords may share one entry: keep each entry once, in file order.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.length < b.length;
  });
  entries.erase(std::unique(entries.begin(), entries.end(),
                            [](const Entry& a, const Entry& b) { return a.offset == b.offset; }),
                entries.end());
  std::vector<std::string> docs;
  int64_t total = 0;
  for (const Entry& e : entries) {
    std::string doc = text->substr(e.offset, e.length);
    while (!doc.empty() && (doc.back() == '\n' || doc.back() == ' ')) doc.pop_back();
    if (is_blank(doc)) continue;
    total += static_cast<int64_t>(doc.size());
    docs.push_back(std::move(doc));
    if (max_bytes > 0 && total >= max_bytes) break;
  }
  return docs;
#endif
}

}  // namespace

const std::vector<SourceInfo>& source_registry() { return kSources; }

const SourceInfo* find_source(std::string_view name) {
  for (const SourceInfo& s : kSources)
    if (s.name == name) return &s;
  return nullptr;
}

std::string known_source_names() {
  std::string out;
  for (const SourceInfo& s : kSources) out += (out.empty() ? "" : ", ") + s.name;
  return out;
}

Expected<std::vector<SourceFile>> list_source_files(const SourceInfo& source, const std::string& source_root) {
  std::string base = source_root.empty() ? source.rel_path : source_root + "/" + source.rel_path;
  std::vector<SourceFile> files;
  struct stat st{};
  if (source.kind == SourceKind::DictdDict) {
    for (const char* ext : {".dict.dz", ".index"}) {
      std::string path = base + ext;
      if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return not_found(source, path, "file");
      files.push_back({path, static_cast<uint64_t>(st.st_size)});
    }
    return files;
  }
  if (::stat(base.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return not_found(source, base, "directory");
  DIR* dir = ::opendir(base.c_str());
  if (!dir) return make_error(ErrorCode::Io, "cannot list " + base + ": " + std::strerror(errno));
  while (const dirent* ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name.empty() || name[0] == '.' || ends_with(name, ".dat") || ends_with(name, ".u8")) continue;
    if (std::find(std::begin(kSkippedFortuneFiles), std::end(kSkippedFortuneFiles), name) !=
        std::end(kSkippedFortuneFiles))
      continue;
    std::string path = base + "/" + name;
    // lstat: symlinks are skipped (the top English directory links the Italian files; .u8 copies).
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    files.push_back({path, static_cast<uint64_t>(st.st_size)});
  }
  ::closedir(dir);
  std::sort(files.begin(), files.end(), [](const SourceFile& a, const SourceFile& b) { return a.path < b.path; });
  if (files.empty()) return not_found(source, base + "/*", "fortune files");
  return files;
}

std::vector<std::string> split_fortunes(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  size_t pos = 0;
  auto flush = [&] {
    while (!cur.empty() && (cur.back() == '\n' || cur.back() == '\r')) cur.pop_back();
    if (!is_blank(cur)) out.push_back(cur);
    cur.clear();
  };
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line == "%") {
      flush();
    } else {
      cur.append(line.data(), line.size());
      cur.push_back('\n');
    }
    pos = end + 1;
  }
  flush();
  return out;
}

Expected<std::vector<std::string>> read_source_documents(const SourceInfo& source, const std::string& source_root,
                                                         int64_t max_bytes) {
  auto files = list_source_files(source, source_root);
  if (!files) return files.error();
  if (source.kind == SourceKind::DictdDict) return read_dictd(source, *files, max_bytes);
  std::vector<std::string> docs;
  int64_t total = 0;
  for (const SourceFile& f : *files) {
    auto text = read_file(f.path);
    if (!text) return text.error();
    for (std::string& doc : split_fortunes(*text)) {
      total += static_cast<int64_t>(doc.size());
      docs.push_back(std::move(doc));
      if (max_bytes > 0 && total >= max_bytes) return docs;
    }
  }
  return docs;
}

}  // namespace fomoe::data
