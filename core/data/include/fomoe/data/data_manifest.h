// What a site trained on, without the data itself: every file it read with its size and a hash
// of its content, and the tokenizer's hash, for the run record (a federation keeps data at its
// site; the record still says exactly which bytes each site used).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/data/corpus_spec.h"

namespace fomoe::data {

struct FileFingerprint {
  std::string path;
  uint64_t bytes = 0;
  std::string hash;  // "fnv1a64:<16 hex digits>" of the whole content
};

/// Streams the file once (about a second per GB); NotFound / Io name the path.
Expected<FileFingerprint> fingerprint_file(const std::string& path);

/// The files a corpus spec reads (the registry's source files, or the researcher's own text files).
Expected<std::vector<std::string>> corpus_files(const CorpusSpec& spec);

}  // namespace fomoe::data
