// Registry of the real-text corpus sources (Debian packages) and the readers that cut them into
// documents: one fortune entry or one jargon-file entry per document. Owns no tokenization.
// Add a source: one row in kSources (corpus_source.cpp), and a reader if its format is new.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fomoe/base/expected.h"

namespace fomoe::data {

enum class SourceKind {
  FortuneDir,  // a directory of fortune files: entries separated by lines holding only "%"
  DictdDict,   // a dictd database: <name>.dict.dz (dictzip = gzip) + <name>.index
};

struct SourceInfo {
  std::string name;         // "fortunes-en"
  SourceKind kind;
  std::string rel_path;     // below CorpusSpec::source_root: a directory, or the path sans ".dict.dz"
  std::string package;      // Debian package that ships it
  std::string description;
};

const std::vector<SourceInfo>& source_registry();
/// nullptr when unknown.
const SourceInfo* find_source(std::string_view name);
/// "fortunes-en, fortunes-de, ..." for error messages.
std::string known_source_names();

struct SourceFile {
  std::string path;
  uint64_t size = 0;
};

/// The files a source reads, in the order they are read. NotFound names the path and package.
Expected<std::vector<SourceFile>> list_source_files(const SourceInfo& source, const std::string& source_root);

/// The source's documents in a fixed order; with max_bytes > 0 stops after the document that
/// reaches max_bytes. Empty entries are dropped.
Expected<std::vector<std::string>> read_source_documents(const SourceInfo& source, const std::string& source_root,
                                                         int64_t max_bytes);

/// Splits the text of one fortune file into entries (exposed for tests).
std::vector<std::string> split_fortunes(std::string_view text);

}  // namespace fomoe::data
