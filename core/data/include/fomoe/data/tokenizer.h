// Tokenizer: what every tokenizer the engine runs offers (encode, decode, vocabulary size, the
// end-of-document id), over three kinds: the project's byte-level BPE (bpe_tokenizer.h), a Hugging
// Face tokenizer.json (byte-level BPE as GPT-2, Llama 3 and Qwen2 write it) and a SentencePiece
// .model. load_tokenizer(path) picks the kind from the file. Not here: training the project's BPE
// (bpe_tokenizer.h), the corpus pipeline (prepared_corpus.h), export as HF files (core/interop).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/data/bpe_tokenizer.h"

namespace fomoe::data {

enum class TokenizerKind { FomoeBpe, HfJson, SentencePiece };
/// "fomoe-bpe", "hf-tokenizer-json", "sentencepiece" (the run record's and the manifest's words).
const char* tokenizer_kind_name(TokenizerKind kind);

/// Pre-token -> ids memo that encode_into fills across documents (kinds without words ignore it).
using WordCache = std::unordered_map<std::string, std::vector<int32_t>>;

/// One kind of tokenizer. Implementations are immutable after loading: every method is
/// thread-safe. Consumers hold a Tokenizer (below), not this.
class TokenizerImpl {
 public:
  virtual ~TokenizerImpl() = default;
  virtual TokenizerKind kind() const = 0;
  /// Ids are in [0, vocab_size): the largest id + 1 (vocabulary and added tokens).
  virtual int vocab_size() const = 0;
  virtual int32_t eod_id() const = 0;
  virtual int32_t bos_id() const { return -1; }  // -1 = none
  virtual int32_t unk_id() const { return -1; }
  virtual void encode_into(std::string_view text, std::vector<int32_t>& out, WordCache* cache) const = 0;
  /// Special tokens (the end of document among them) decode to nothing; ids the tokenizer does
  /// not know are skipped.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  /// The bytes one id stands for ("" for the project BPE's end of document and control pieces).
  virtual std::string token_bytes(int32_t id) const = 0;
  /// The token as the tokenizer spells it: a tokenizer.json vocabulary or added-token string, a
  /// SentencePiece piece, the bytes for the project's BPE ("<|endoftext|>" for its end of document).
  virtual std::string token_text(int32_t id) const = 0;
};

/// A tokenizer by value: copies share one loaded implementation.
class Tokenizer {
 public:
  Tokenizer();  // the project's BPE over bytes only (vocab 257)
  /// The project's BPE (trained or loaded); its hash is of its merges, path where it lives.
  explicit Tokenizer(BpeTokenizer bpe, std::string path = "");
  Tokenizer(std::shared_ptr<const TokenizerImpl> impl, std::string path, std::string content_hash);

  TokenizerKind kind() const { return impl_->kind(); }
  const char* kind_name() const { return tokenizer_kind_name(kind()); }
  int vocab_size() const { return impl_->vocab_size(); }
  int32_t eod_id() const { return impl_->eod_id(); }
  int32_t bos_id() const { return impl_->bos_id(); }
  int32_t unk_id() const { return impl_->unk_id(); }
  std::vector<int32_t> encode(std::string_view text) const;
  void encode_into(std::string_view text, std::vector<int32_t>& out, WordCache& cache) const {
    impl_->encode_into(text, out, &cache);
  }
  std::string decode(const std::vector<int32_t>& ids) const { return impl_->decode(ids); }
  std::string token_bytes(int32_t id) const { return impl_->token_bytes(id); }
  std::string token_text(int32_t id) const { return impl_->token_text(id); }
  /// The file it was loaded from ("" when it was made in memory).
  const std::string& path() const { return path_; }
  /// "fnv1a64:<16 hex digits>" of the file's bytes (the project BPE: of its merges when in memory).
  const std::string& content_hash() const { return content_hash_; }
  /// The project's BPE; null for the other kinds.
  const BpeTokenizer* bpe() const { return bpe_; }
  /// Gives the same ids: the same BPE merges, or the same file content and end of document.
  bool operator==(const Tokenizer& o) const;
  bool operator!=(const Tokenizer& o) const { return !(*this == o); }

 private:
  std::shared_ptr<const TokenizerImpl> impl_;
  const BpeTokenizer* bpe_ = nullptr;  // into impl_ when it is the project's BPE
  std::string path_;
  std::string content_hash_;
};

struct TokenizerOptions {
  int64_t eod_id = -1;  // -1: the tokenizer's own (load_tokenizer); else this id, which must exist
};

/// Loads a tokenizer file, by what it holds:
///   the project's BPE file (magic FOMOEBPE)  -> end of document = its last id
///   *.json (a Hugging Face tokenizer.json)    -> byte-level BPE; the end of document is the first
///       of <|endoftext|>, </s>, <eos>, <|end_of_text|> it has (scripts/prepare-tokens' order)
///   *.model (SentencePiece)                   -> end of document = the model's eos id
/// options.eod_id overrides the choice (data.eos_id). Errors name the file and, for a
/// tokenizer.json, the JSON key at fault: NotFound, Corrupt (not JSON, a missing or mistyped key),
/// Unsupported (a model, pre-tokenizer, normalizer or decoder the engine does not run).
Expected<Tokenizer> load_tokenizer(const std::string& path, const TokenizerOptions& options = {});

/// The vocabulary size of a tokenizer file, memoised by path, size and modification time (for
/// config validation, which may run on every edit). Same errors as load_tokenizer.
Expected<int> tokenizer_vocab_size(const std::string& path, int64_t eod_id = -1);

}  // namespace fomoe::data
