#include "fomoe/data/own_text.h"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "file_util.h"

namespace fomoe::data {

namespace {

namespace fs = std::filesystem;

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

}  // namespace

Expected<std::vector<SourceFile>> list_own_files(const std::string& path) {
  std::vector<SourceFile> out;
  auto add = [&](const std::string& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) out.push_back({p, static_cast<uint64_t>(st.st_size)});
  };
  if (path.find_first_of("*?[") != std::string::npos) {
    glob_t g{};
    const int rc = ::glob(path.c_str(), 0, nullptr, &g);
    if (rc == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) add(g.gl_pathv[i]);
    globfree(&g);
    if (out.empty()) return make_error(ErrorCode::NotFound, "data.path " + path + ": the pattern matches no file");
  } else {
    std::error_code ec;
    if (!fs::exists(path, ec)) return make_error(ErrorCode::NotFound, "data.path " + path + ": no such file or folder");
    if (fs::is_directory(path, ec)) {
      for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec)) add(it->path().string());
      if (ec) return make_error(ErrorCode::Io, "data.path " + path + ": cannot list (" + ec.message() + ")");
      if (out.empty()) return make_error(ErrorCode::NotFound, "data.path " + path + ": the folder holds no files");
    } else {
      add(path);
    }
  }
  std::sort(out.begin(), out.end(), [](const SourceFile& a, const SourceFile& b) { return a.path < b.path; });
  return out;
}

Expected<OwnDocuments> read_own_documents(const OwnTextSpec& spec, int64_t max_bytes) {
  if (spec.format != "text" && spec.format != "jsonl")
    return make_error(ErrorCode::InvalidArgument, "own text format '" + spec.format + "' (known: text, jsonl)");
  auto files = list_own_files(spec.path);
  if (!files) return files.error();
  OwnDocuments out;
  std::map<std::string, uint32_t> ids;
  auto source_id = [&](const std::string& name) {
    auto [it, fresh] = ids.emplace(name, static_cast<uint32_t>(out.source_names.size()));
    if (fresh) out.source_names.push_back(name);
    return it->second;
  };
  int64_t total = 0;
  auto add = [&](std::string text, uint32_t sid) {
    if (blank(text)) return false;
    total += static_cast<int64_t>(text.size());
    out.texts.push_back(std::move(text));
    out.source.push_back(sid);
    return max_bytes > 0 && total >= max_bytes;
  };
  for (const SourceFile& f : *files) {
    auto content = detail::read_maybe_gzip(f.path);
    if (!content) return content.error();
    const std::string name = fs::path(f.path).filename().string();
    if (spec.format == "text") {
      const uint32_t sid = source_id(name);
      if (spec.separator.empty()) {
        if (add(std::move(*content), sid)) return out;
        continue;
      }
      std::string doc;
      size_t start = 0;
      while (start < content->size()) {
        size_t end = content->find('\n', start);
        if (end == std::string::npos) end = content->size();
        std::string_view line(content->data() + start, end - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line == spec.separator) {
          if (add(std::move(doc), sid)) return out;
          doc.clear();
        } else {
          doc.append(line);
          doc.push_back('\n');
        }
        start = end + 1;
      }
      if (add(std::move(doc), sid)) return out;
      continue;
    }
    // jsonl
    size_t start = 0;
    long line_no = 0;
    while (start < content->size()) {
      size_t end = content->find('\n', start);
      if (end == std::string::npos) end = content->size();
      ++line_no;
      const std::string_view line(content->data() + start, end - start);
      start = end + 1;
      if (blank(line)) continue;
      const std::string where = f.path + ":" + std::to_string(line_no);
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::parse_error& e) {
        return make_error(ErrorCode::InvalidArgument, where + ": not JSON (" + std::string(e.what()) + ")");
      }
      if (!j.is_object() || !j.contains(spec.text_field) || !j[spec.text_field].is_string())
        return make_error(ErrorCode::InvalidArgument, where + ": no string field \"" + spec.text_field +
                                                          "\" (data.text_field names it)");
      uint32_t sid;
      if (spec.domain_field.empty()) {
        sid = source_id(name);
      } else {
        if (!j.contains(spec.domain_field) || !j[spec.domain_field].is_string())
          return make_error(ErrorCode::InvalidArgument, where + ": no string field \"" + spec.domain_field +
                                                            "\" (data.domain_field names it)");
        sid = source_id(j[spec.domain_field].get<std::string>());
      }
      if (add(j[spec.text_field].get<std::string>(), sid)) return out;
    }
  }
  if (out.texts.empty()) return make_error(ErrorCode::InvalidArgument, "data.path " + spec.path + ": no documents (an empty corpus)");
  return out;
}

}  // namespace fomoe::data
