// prepare_corpus: reads the sources, splits documents into train / held-out by content hash,
// trains the BPE tokenizer on the train documents (or loads CorpusSpec::tokenizer, a tokenizer
// file, instead) and writes both token files, all cached in CorpusSpec::cache_dir under a hash of
// the spec (and of the tokenizer file's content); later calls only load and validate.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/data/bpe_tokenizer.h"
#include "fomoe/data/corpus_spec.h"
#include "fomoe/data/token_file.h"
#include "fomoe/data/tokenizer.h"

namespace fomoe::data {

struct SourceStats {
  std::string name;
  uint64_t train_docs = 0, train_bytes = 0, train_tokens = 0;
  uint64_t heldout_docs = 0, heldout_bytes = 0, heldout_tokens = 0;
  uint64_t docs() const { return train_docs + heldout_docs; }
  uint64_t bytes() const { return train_bytes + heldout_bytes; }
  uint64_t tokens() const { return train_tokens + heldout_tokens; }
};

struct PreparedCorpus {
  CorpusSpec spec;
  std::string key;              // 16 hex digits: hash of the spec and the source files' sizes
  std::string tokenizer_path, train_path, heldout_path;  // tokenizer_path: the trained BPE in the
                                                         // cache, or CorpusSpec::tokenizer
  Tokenizer tokenizer;
  TokenFile train;
  TokenFile heldout;
  bool built = false;           // true when this call built the files (false: loaded from cache)
  BpeTrainStats train_stats;    // tokenizer training numbers when built (the project's BPE)
  double build_seconds = 0.0;   // whole build (read + train + encode + write) when built

  std::vector<SourceStats> source_stats() const;
  /// All documents of the held-out file, each followed by the end-of-document token.
  std::shared_ptr<const std::vector<int32_t>> heldout_stream() const;
};

/// Held-out membership of a document: a pure function of its text, the seed and the fraction,
/// so identical texts always land on the same side.
bool is_heldout(std::string_view text, uint64_t seed, double heldout_fraction);

/// Validates the spec and computes its cache key (lists the source files; NotFound if missing).
/// With spec.tokenizer the key holds the tokenizer file's content hash and end-of-document id
/// instead of spec.vocab_size (the token files do not depend on the model's vocabulary).
Expected<std::string> corpus_cache_key(const CorpusSpec& spec);

Expected<PreparedCorpus> prepare_corpus(const CorpusSpec& spec);

/// The tokenizer a spec's text is tokenised with, for prompts, decoding and export: spec.tokenizer
/// loaded (and checked against vocab_size) without reading any text, or else the project's BPE
/// from prepare_corpus (built or found in the cache).
Expected<Tokenizer> corpus_tokenizer(const CorpusSpec& spec);

/// Concatenates documents (ids into file) each followed by eod.
std::vector<int32_t> concat_documents(const TokenFile& file, const std::vector<uint32_t>& doc_ids, int32_t eod);

/// Mean -sum p ln p of the token frequencies, in nats/token (0 for an empty input).
double unigram_entropy(const std::vector<int32_t>& tokens);
double unigram_entropy(const TokenFile& file);

}  // namespace fomoe::data
