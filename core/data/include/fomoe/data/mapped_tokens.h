// MappedTokens: pre-tokenized corpora that other stacks write, memory-mapped (never read whole)
// and validated at open, each error naming the file and the byte offset:
//   megatron  Megatron-LM / GPT-NeoX / NeMo / datatrove indexed dataset, PREFIX.bin + PREFIX.idx
//             ("MMIDIDX\0\0", u64 version 1, u8 dtype code, u64 sequences, u64 document-index
//             entries, i32 lengths, i64 byte pointers, i64 document index starting at 0);
//   tokens    flat arrays of uint16 or uint32 ids (nanoGPT, Dolma/OLMo .npy-without-header),
//             documents ended by an EOS id when one is given;
//   llmc      llm.c shards: 256 int32 header (magic 20240520 version 1 = uint16, magic 20240801
//             version 7 = uint32, token count), EOT prepended to each document.
// In all three the tokens form one contiguous array; splits (held-out, sites) are contiguous
// token ranges moved to the next document boundary, so a site maps its own range and nothing
// is copied.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"

namespace fomoe::data {

enum class TokenFormat { Megatron, Flat, Llmc };
const char* token_format_name(TokenFormat f);  // "megatron", "tokens", "llmc"

struct TokenSourceSpec {
  TokenFormat format = TokenFormat::Megatron;
  std::string path;        // megatron: PREFIX (or PREFIX.bin / PREFIX.idx); others: the file
  int flat_width = 2;      // tokens: 2 = uint16, 4 = uint32
  int64_t eos_id = -1;     // tokens: the id that ends a document (-1 = no document boundaries)
};

class MappedTokens {
 public:
  static Expected<std::shared_ptr<const MappedTokens>> open(const TokenSourceSpec& spec);
  ~MappedTokens();
  MappedTokens(const MappedTokens&) = delete;
  MappedTokens& operator=(const MappedTokens&) = delete;

  const TokenSourceSpec& spec() const { return spec_; }
  const std::string& token_path() const { return token_path_; }  // the file holding the tokens
  uint64_t n_tokens() const { return n_tokens_; }
  int width() const { return width_; }     // bytes per token: 1, 2, 4 or 8 (megatron may use any)
  uint64_t file_bytes() const { return size_; }
  /// Documents known from an index (megatron) or by scanning for EOS/EOT; -1 if not counted.
  int64_t n_docs() const { return n_docs_; }

  int64_t token(uint64_t i) const;  // 0 <= i < n_tokens(); through the mapping (scans)
  /// Tokens [first, first + n) into out, with one positioned read of the file (pread), not
  /// through the mapping: on kernels whose page cache holds large folios, touching one mapped
  /// byte maps a whole 2 MiB folio into the process, and random windows would grow the RSS with
  /// the corpus. Io error text on a failed read.
  Status read(uint64_t first, size_t n, int64_t* out) const;
  /// Drops the mapping's pages from this process (after a scan); the page cache keeps them.
  void release_pages() const;
  /// The first document start at or after token offset `at` (n_tokens() when none follows; `at`
  /// itself when the format has no document boundaries).
  uint64_t boundary_at_or_after(uint64_t at) const;
  /// Token offsets where documents start (megatron: from the index; others: scanned once).
  std::vector<uint64_t> document_starts() const;
  /// "megatron data/c4 (.bin 12.0 MiB, 3412 documents, 6291456 uint16 tokens)".
  std::string describe() const;

 private:
  MappedTokens() = default;
  TokenSourceSpec spec_;
  std::string token_path_;
  const unsigned char* base_ = nullptr;  // mmapped token file
  size_t size_ = 0;
  int fd_ = -1;                          // the same file, for read()
  uint64_t data_offset_ = 0;             // byte offset of token 0 in the file (llmc: 1024)
  const unsigned char* tokens_ = nullptr;
  uint64_t n_tokens_ = 0;
  int width_ = 2;
  bool is_signed_ = false;
  int64_t n_docs_ = -1;
  std::vector<uint64_t> doc_starts_;  // megatron only (from the .idx)
};

/// A contiguous token range [begin, end) of a mapped corpus: what a site trains on.
struct TokenRange {
  std::shared_ptr<const MappedTokens> tokens;
  uint64_t begin = 0, end = 0;
  uint64_t size() const { return end - begin; }
};

struct TokenSplit {
  TokenRange train, heldout;
};
/// The last heldout_fraction of the tokens (from a document boundary) is held out.
TokenSplit split_heldout(std::shared_ptr<const MappedTokens> tokens, double heldout_fraction);
/// Site `site` of `n_sites`: the site-th of n_sites nearly equal parts of `train`, each starting
/// at a document boundary.
TokenRange site_range(const TokenRange& train, int n_sites, int site);

}  // namespace fomoe::data
