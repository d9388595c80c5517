// Helpers shared by the data tests: temporary directories and a small cached real corpus.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "fomoe/data/prepared_corpus.h"

namespace fomoe::data::test {

/// A fresh directory under /tmp, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fomoe-data-test-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// All five sources, 60 KB each: builds in a fraction of a second.
inline CorpusSpec small_spec(const std::string& cache_dir) {
  CorpusSpec spec;
  spec.max_bytes = 60000;
  spec.heldout_fraction = 0.1;
  spec.cache_dir = cache_dir;
  return spec;
}

/// The small corpus, cached in the build tree across test processes (files are written atomically).
inline const PreparedCorpus& small_corpus() {
  static PreparedCorpus* corpus = [] {
    auto pc = prepare_corpus(small_spec(std::string(FOMOE_BINARY_DIR) + "/test-data-cache"));
    if (!pc) {
      ADD_FAILURE() << pc.error().message;
      std::abort();
    }
    return new PreparedCorpus(std::move(*pc));
  }();
  return *corpus;
}

}  // namespace fomoe::data::test
