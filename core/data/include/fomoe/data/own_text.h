// A researcher's own text as a corpus (data.format = "text" | "jsonl"): read into documents and
// sources, then tokenised, split and cached exactly like the built-in texts (prepared_corpus.h).
//   text   a file, a folder (every regular file below it, sorted) or a glob; each file is one
//          document, or split on lines equal to `separator`; each file is a source.
//   jsonl  one JSON object per line (optionally gzip'd), the text in `text_field`; the source is
//          the value of `domain_field` when given (what a non-IID split splits on), else the file.
// Errors name the file and line (a line that is not JSON, a missing field) or the path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/data/corpus_source.h"

namespace fomoe::data {

struct OwnTextSpec {
  std::string format;              // "" = not used (the registry's sources), "text" or "jsonl"
  std::string path;
  std::string separator;           // text: a line equal to this ends a document ("" = file = document)
  std::string text_field = "text"; // jsonl
  std::string domain_field;        // jsonl: names each document's source ("" = one source per file)
};

struct OwnDocuments {
  std::vector<std::string> source_names;  // in order of first appearance: the source ids
  std::vector<std::string> texts;
  std::vector<uint32_t> source;           // per document
};

/// The files `path` names (a file, a folder, a glob), sorted; NotFound / Io naming the path.
Expected<std::vector<SourceFile>> list_own_files(const std::string& path);
/// Reads every document (stops after the one that reaches max_bytes when > 0).
Expected<OwnDocuments> read_own_documents(const OwnTextSpec& spec, int64_t max_bytes);

}  // namespace fomoe::data
