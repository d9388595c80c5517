// BpeTokenizer: byte-level BPE trained by this project. Ids 0..255 are bytes, then the merges in
// rank order, and the last id (vocab_size - 1) is the end-of-document token. Text is first split
// GPT-2 style into words (space-prefixed letter runs, digit runs, punctuation runs, whitespace);
// merges never cross a word boundary. Any byte string round-trips exactly. Not owned here: files
// of tokens (token_file.h) and the corpus pipeline (prepared_corpus.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fomoe/base/expected.h"

namespace fomoe::data {

/// Splits text into pre-tokens (views into text); concatenating them gives text back.
std::vector<std::string_view> pre_tokenize(std::string_view text);

struct BpeTrainStats {
  int n_merges = 0;
  uint64_t n_words = 0;         // pre-tokens seen
  uint64_t n_unique_words = 0;  // size of the count table merges run over
  double seconds = 0.0;
};

class BpeTokenizer {
 public:
  static constexpr uint32_t kFileVersion = 1;
  static constexpr int kMinVocab = 257;  // 256 bytes + end-of-document

  BpeTokenizer();  // bytes only: vocab_size 257

  /// Trains merges on documents until vocab_size ids exist (or no pair repeats). Deterministic:
  /// ties in pair counts go to the smallest (left, right) id pair.
  static BpeTokenizer train(const std::vector<std::string_view>& documents, int vocab_size,
                            BpeTrainStats* stats = nullptr);

  int vocab_size() const { return vocab_size_; }
  int n_merges() const { return static_cast<int>(merges_.size()); }
  int32_t eod_id() const { return vocab_size_ - 1; }
  const std::vector<std::pair<int32_t, int32_t>>& merges() const { return merges_; }

  /// Thread-safe (const, no shared cache).
  std::vector<int32_t> encode(std::string_view text) const;
  /// Appends the tokens of text to out, memoising words in cache (reuse it across documents).
  void encode_into(std::string_view text, std::vector<int32_t>& out,
                   std::unordered_map<std::string, std::vector<int32_t>>& cache) const;
  /// End-of-document tokens decode to nothing. Ids outside [0, vocab_size) are a bug (assert).
  std::string decode(const std::vector<int32_t>& tokens) const;
  /// The bytes of one id ("" for end-of-document).
  const std::string& token_bytes(int32_t id) const;

  /// Small binary file: magic, version, vocab size, merges, checksum. Written atomically.
  Status save(const std::string& path) const;
  /// NotFound / Corrupt (truncated, bad magic or checksum) / Unsupported (version); messages name the file.
  static Expected<BpeTokenizer> load(const std::string& path);

  bool operator==(const BpeTokenizer& o) const { return vocab_size_ == o.vocab_size_ && merges_ == o.merges_; }

 private:
  void build_tables();
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  int vocab_size_ = kMinVocab;
  std::vector<std::pair<int32_t, int32_t>> merges_;   // merge i creates id 256 + i
  std::vector<std::string> bytes_;                    // id -> bytes
  std::unordered_map<uint64_t, int32_t> rank_;        // (left << 32 | right) -> merge index
};

}  // namespace fomoe::data
