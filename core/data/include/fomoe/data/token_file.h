// TokenFile: the packed, checksummed binary file of a tokenized corpus split, memory-mapped for
// training. Layout (little-endian): 64-byte header {magic "FOMOETOK", version, token width (2 when
// vocab <= 65535, else 4), vocab size, n_sources, n_tokens, n_docs, checksum}, then the document
// table (DocEntry x n_docs), then the tokens. Documents are stored without end-of-document tokens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"

namespace fomoe::data {

struct DocEntry {
  uint64_t offset = 0;     // first token, in tokens from the start of the token area
  uint32_t n_tokens = 0;
  uint32_t n_bytes = 0;    // UTF-8 bytes of the document text
  uint32_t source_id = 0;  // index into CorpusSpec::sources
  uint32_t reserved = 0;
};
static_assert(sizeof(DocEntry) == 24, "DocEntry is part of the file format");

class TokenFile {
 public:
  static constexpr uint32_t kVersion = 1;
  static constexpr size_t kHeaderBytes = 64;

  /// Writes atomically (temporary file + rename). docs[i].offset/n_tokens must index tokens.
  static Status write(const std::string& path, int vocab_size, uint32_t n_sources, const std::vector<DocEntry>& docs,
                      const std::vector<int32_t>& tokens);
  /// Maps and validates the whole file (size, magic, version, checksum, table, token range).
  /// Errors name the path and say "delete it to rebuild".
  static Expected<TokenFile> open(const std::string& path);

  TokenFile() = default;
  ~TokenFile();
  TokenFile(TokenFile&& o) noexcept;
  TokenFile& operator=(TokenFile&& o) noexcept;
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;

  const std::string& path() const { return path_; }
  int vocab_size() const { return vocab_size_; }
  uint32_t n_sources() const { return n_sources_; }
  uint64_t n_tokens() const { return n_tokens_; }
  uint64_t n_docs() const { return n_docs_; }
  int token_width() const { return width_; }

  DocEntry doc(uint64_t i) const;
  int32_t token(uint64_t i) const;
  /// Appends document i's tokens to out.
  void append_doc(uint64_t i, std::vector<int32_t>& out) const;
  std::vector<int32_t> doc_tokens(uint64_t i) const;

 private:
  void unmap();

  std::string path_;
  const unsigned char* base_ = nullptr;  // mmapped file
  size_t size_ = 0;
  int vocab_size_ = 0;
  int width_ = 2;
  uint32_t n_sources_ = 0;
  uint64_t n_tokens_ = 0;
  uint64_t n_docs_ = 0;
  const unsigned char* table_ = nullptr;
  const unsigned char* tokens_ = nullptr;
};

}  // namespace fomoe::data
