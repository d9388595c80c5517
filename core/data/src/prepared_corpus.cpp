// prepare_corpus: the cached pipeline sources -> documents -> split -> BPE -> token files.
#include "fomoe/data/prepared_corpus.h"

#include "fomoe/data/own_text.h"

#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <unordered_map>

#include "data_hash.h"
#include "file_util.h"
#include "fomoe/base/log.h"
#include "fomoe/data/corpus_source.h"

namespace fomoe::data {
namespace {

constexpr int kMaxVocab = 1 << 24;

bool file_exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

Status validate_spec(const CorpusSpec& spec) {
  auto invalid = [](const std::string& m) { return make_error(ErrorCode::InvalidArgument, "corpus spec: " + m); };
  if (!spec.own.format.empty()) {
    if (spec.own.format != "text" && spec.own.format != "jsonl")
      return invalid("own text format '" + spec.own.format + "' (known: text, jsonl)");
    if (spec.own.path.empty()) return invalid("data.path is empty: name the file, folder or glob of your text");
  } else if (spec.sources.empty()) {
    return invalid("no sources; pick some of: " + known_source_names());
  }
  std::set<std::string> seen;
  for (const std::string& s : spec.own.format.empty() ? spec.sources : std::vector<std::string>{}) {
    if (!find_source(s)) return invalid("unknown source '" + s + "'; known sources: " + known_source_names());
    if (!seen.insert(s).second) return invalid("source '" + s + "' listed twice");
  }
  if (spec.tokenizer.empty() && (spec.vocab_size < BpeTokenizer::kMinVocab || spec.vocab_size > kMaxVocab))
    return invalid("vocab_size " + std::to_string(spec.vocab_size) + " must be in [257, 16777216]");
  if (!spec.tokenizer.empty() && (spec.vocab_size < 2 || spec.vocab_size > kMaxVocab))
    return invalid("vocab_size " + std::to_string(spec.vocab_size) + " must be in [2, 16777216]");
  if (!(spec.heldout_fraction >= 0.0 && spec.heldout_fraction <= 0.5))
    return invalid("heldout_fraction " + std::to_string(spec.heldout_fraction) + " must be in [0, 0.5]");
  if (spec.max_bytes < 0) return invalid("max_bytes must be >= 0 (0 = all)");
  if (spec.cache_dir.empty()) return invalid("cache_dir is empty");
  return Status::ok();
}

}  // namespace

bool is_heldout(std::string_view text, uint64_t seed, double heldout_fraction) {
  uint64_t h = detail::mix64(detail::fnv1a64(text) ^ detail::mix64(seed));
  double u = static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);
  return u < heldout_fraction;
}

namespace {

// The model's vocabulary must hold every id the tokenizer gives.
Status check_vocab(const CorpusSpec& spec, const Tokenizer& tok) {
  if (spec.vocab_size < tok.vocab_size())
    return make_error(ErrorCode::InvalidArgument, "model.vocab_size = " + std::to_string(spec.vocab_size) +
                                                      " is smaller than the vocabulary of tokenizer " + spec.tokenizer +
                                                      " (" + std::to_string(tok.vocab_size()) +
                                                      " ids): set model.vocab_size >= " + std::to_string(tok.vocab_size()));
  return Status::ok();
}

Expected<Tokenizer> load_spec_tokenizer(const CorpusSpec& spec) {
  TokenizerOptions options;
  options.eod_id = spec.eos_id;
  return load_tokenizer(spec.tokenizer, options);
}

// tok: the loaded spec.tokenizer (null when the project's BPE is trained: the key is as it always was).
Expected<std::string> cache_key(const CorpusSpec& spec, const Tokenizer* tok) {
  if (Status st = validate_spec(spec); !st) return st.error();
  if (tok)
    if (Status st = check_vocab(spec, *tok); !st) return st.error();
  std::string desc = "fomoe-data|bpe" + std::to_string(BpeTokenizer::kFileVersion) + "|tok" +
                     std::to_string(TokenFile::kVersion);
  if (!spec.own.format.empty()) {
    // Own text: every file's path, size and modification time, and how it is read.
    auto files = list_own_files(spec.own.path);
    if (!files) return files.error();
    desc += "|own:" + spec.own.format + "|" + spec.own.separator + "|" + spec.own.text_field + "|" + spec.own.domain_field;
    for (const SourceFile& f : *files) {
      struct stat st {};
      const long long mtime = ::stat(f.path.c_str(), &st) == 0 ? static_cast<long long>(st.st_mtime) : 0;
      desc += ";" + f.path + ":" + std::to_string(f.size) + ":" + std::to_string(mtime);
    }
  }
  for (const std::string& name : spec.own.format.empty() ? spec.sources : std::vector<std::string>{}) {
    auto files = list_source_files(*find_source(name), spec.source_root);
    if (!files) return files.error();
    desc += "|" + name;
    for (const SourceFile& f : *files) desc += ";" + f.path + ":" + std::to_string(f.size);
  }
  char buf[128];
  if (tok) {
    // The token files depend on the tokenizer's content and end of document, not on the model's
    // vocabulary (a larger model.vocab_size reuses them).
    desc += "|tokenizer:" + std::string(tok->kind_name()) + ":" + tok->content_hash() + ":eod" + std::to_string(tok->eod_id());
    std::snprintf(buf, sizeof(buf), "|h%.6f|m%lld|s%llu", spec.heldout_fraction, static_cast<long long>(spec.max_bytes),
                  static_cast<unsigned long long>(spec.seed));
  } else {
    std::snprintf(buf, sizeof(buf), "|v%d|h%.6f|m%lld|s%llu", spec.vocab_size, spec.heldout_fraction,
                  static_cast<long long>(spec.max_bytes), static_cast<unsigned long long>(spec.seed));
  }
  desc += buf;
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(detail::fnv1a64(desc)));
  return std::string(buf);
}

}  // namespace

Expected<std::string> corpus_cache_key(const CorpusSpec& spec) {
  if (spec.tokenizer.empty()) return cache_key(spec, nullptr);
  if (Status st = validate_spec(spec); !st) return st.error();
  auto tok = load_spec_tokenizer(spec);
  if (!tok) return tok.error();
  return cache_key(spec, &*tok);
}

namespace {

// external: the spec's own tokenizer, already loaded; null: the BPE trained into the cache.
Expected<PreparedCorpus> load_prepared(const CorpusSpec& spec, PreparedCorpus pc, const Tokenizer* external) {
  if (external) {
    pc.tokenizer = *external;
  } else {
    auto tok = BpeTokenizer::load(pc.tokenizer_path);
    if (!tok) return tok.error();
    if (tok->vocab_size() != spec.vocab_size)
      return make_error(ErrorCode::Corrupt, "tokenizer file " + pc.tokenizer_path + " has vocab " +
                                                std::to_string(tok->vocab_size()) + ", the spec asks for " +
                                                std::to_string(spec.vocab_size) + "; delete it to rebuild");
    pc.tokenizer = Tokenizer(std::move(*tok), pc.tokenizer_path);
  }
  auto train = TokenFile::open(pc.train_path);
  if (!train) return train.error();
  auto heldout = TokenFile::open(pc.heldout_path);
  if (!heldout) return heldout.error();
  const uint32_t n_sources = static_cast<uint32_t>(spec.sources.size());
  for (const TokenFile* f : {&*train, &*heldout}) {
    if (f->vocab_size() != pc.tokenizer.vocab_size() || f->n_sources() != n_sources)
      return make_error(ErrorCode::Corrupt, "token file " + f->path() + " does not match the spec (vocab " +
                                                std::to_string(f->vocab_size()) + ", sources " +
                                                std::to_string(f->n_sources()) + "); delete it to rebuild");
  }
  pc.train = std::move(*train);
  pc.heldout = std::move(*heldout);
  return Expected<PreparedCorpus>(std::move(pc));
}

struct SplitDocs {
  std::vector<std::string> text;
  std::vector<uint32_t> source;
};

Status write_split(const std::string& path, const Tokenizer& tok, const SplitDocs& docs, uint32_t n_sources,
                   WordCache& cache) {
  std::vector<DocEntry> table;
  std::vector<int32_t> tokens;
  table.reserve(docs.text.size());
  for (size_t i = 0; i < docs.text.size(); ++i) {
    DocEntry e;
    e.offset = tokens.size();
    tok.encode_into(docs.text[i], tokens, cache);
    e.n_tokens = static_cast<uint32_t>(tokens.size() - e.offset);
    e.n_bytes = static_cast<uint32_t>(docs.text[i].size());
    e.source_id = docs.source[i];
    table.push_back(e);
  }
  return TokenFile::write(path, tok.vocab_size(), n_sources, table, tokens);
}

}  // namespace

Expected<PreparedCorpus> prepare_corpus(const CorpusSpec& spec) {
  // The spec's own tokenizer, loaded once: its content hash is part of the key.
  std::optional<Tokenizer> external;
  if (!spec.tokenizer.empty()) {
    if (Status st = validate_spec(spec); !st) return st.error();
    auto tok = load_spec_tokenizer(spec);
    if (!tok) return tok.error();
    external = std::move(*tok);
  }
  const Tokenizer* ext = external ? &*external : nullptr;
  auto key = cache_key(spec, ext);
  if (!key) return key.error();
  PreparedCorpus pc;
  pc.spec = spec;
  pc.key = *key;
  const std::string dir = spec.cache_dir;
  pc.tokenizer_path = ext ? spec.tokenizer : dir + "/bpe-v" + std::to_string(spec.vocab_size) + "-" + pc.key + ".bin";
  pc.train_path = dir + "/train-" + pc.key + ".tok";
  pc.heldout_path = dir + "/heldout-" + pc.key + ".tok";
  // Own text: its sources (files or domains) are found while reading; their names are kept
  // beside the token files so a cached corpus knows them.
  const bool own = !spec.own.format.empty();
  const std::string sources_path = dir + "/sources-" + pc.key + ".txt";
  if (file_exists(pc.tokenizer_path) && file_exists(pc.train_path) && file_exists(pc.heldout_path) &&
      (!own || file_exists(sources_path))) {
    if (own) {
      auto names = detail::read_whole_file(sources_path);
      if (!names) return names.error();
      pc.spec.sources.clear();
      size_t start = 0, end;
      while ((end = names->find('\n', start)) != std::string::npos) {
        pc.spec.sources.push_back(names->substr(start, end - start));
        start = end + 1;
      }
    }
    CorpusSpec known = pc.spec;
    return load_prepared(known, std::move(pc), ext);
  }

  auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::Io, "cannot create cache directory " + dir + ": " + ec.message());

  SplitDocs train, heldout;
  if (own) {
    auto docs = read_own_documents(spec.own, spec.max_bytes);
    if (!docs) return docs.error();
    for (size_t i = 0; i < docs->texts.size(); ++i) {
      SplitDocs& side = is_heldout(docs->texts[i], spec.seed, spec.heldout_fraction) ? heldout : train;
      side.text.push_back(std::move(docs->texts[i]));
      side.source.push_back(docs->source[i]);
    }
    pc.spec.sources = docs->source_names;
    std::string names;
    for (const auto& n : docs->source_names) names += n + "\n";
    if (Status st = detail::write_file_atomic(sources_path, names); !st) return st.error();
  }
  for (uint32_t sid = 0; !own && sid < spec.sources.size(); ++sid) {
    const SourceInfo& src = *find_source(spec.sources[sid]);
    auto docs = read_source_documents(src, spec.source_root, spec.max_bytes);
    if (!docs) return docs.error();
    if (docs->empty())
      return make_error(ErrorCode::NotFound, "corpus source '" + src.name + "' has no documents; reinstall " + src.package);
    for (std::string& d : *docs) {
      SplitDocs& side = is_heldout(d, spec.seed, spec.heldout_fraction) ? heldout : train;
      side.text.push_back(std::move(d));
      side.source.push_back(sid);
    }
  }
  BpeTokenizer bpe;
  if (ext) {
    pc.tokenizer = *ext;
    FOMOE_LOG_INFO("data", "tokenising with %s %s (%d ids, end of document %d)", ext->kind_name(),
                   spec.tokenizer.c_str(), ext->vocab_size(), ext->eod_id());
  } else {
    std::vector<std::string_view> views(train.text.begin(), train.text.end());
    bpe = BpeTokenizer::train(views, spec.vocab_size, &pc.train_stats);
    FOMOE_LOG_INFO("data", "BPE vocab %d: %d merges over %llu unique words (%llu words) in %.2f s", spec.vocab_size,
                   pc.train_stats.n_merges, static_cast<unsigned long long>(pc.train_stats.n_unique_words),
                   static_cast<unsigned long long>(pc.train_stats.n_words), pc.train_stats.seconds);
  }
  if (train.text.empty())
    return make_error(ErrorCode::InvalidArgument, "every document went to the held-out split; lower data.heldout_fraction "
                                                  "or add documents");
  const uint32_t n_sources = static_cast<uint32_t>(pc.spec.sources.size());
  WordCache cache;
  if (!ext) {
    if (Status st = bpe.save(pc.tokenizer_path); !st) return st.error();
    pc.tokenizer = Tokenizer(std::move(bpe), pc.tokenizer_path);
  }
  if (Status st = write_split(pc.train_path, pc.tokenizer, train, n_sources, cache); !st) return st.error();
  if (Status st = write_split(pc.heldout_path, pc.tokenizer, heldout, n_sources, cache); !st) return st.error();
  CorpusSpec known = pc.spec;
  auto loaded = load_prepared(known, std::move(pc), ext);
  if (!loaded) return loaded.error();
  loaded->built = true;
  loaded->build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  FOMOE_LOG_INFO("data", "corpus %s: %llu train / %llu held-out documents, %llu / %llu tokens, built in %.2f s",
                 loaded->key.c_str(), static_cast<unsigned long long>(loaded->train.n_docs()),
                 static_cast<unsigned long long>(loaded->heldout.n_docs()),
                 static_cast<unsigned long long>(loaded->train.n_tokens()),
                 static_cast<unsigned long long>(loaded->heldout.n_tokens()), loaded->build_seconds);
  return loaded;
}

Expected<Tokenizer> corpus_tokenizer(const CorpusSpec& spec) {
  if (spec.tokenizer.empty()) {
    auto pc = prepare_corpus(spec);
    if (!pc) return pc.error();
    return pc->tokenizer;
  }
  if (Status st = validate_spec(spec); !st) return st.error();
  auto tok = load_spec_tokenizer(spec);
  if (!tok) return tok.error();
  if (Status st = check_vocab(spec, *tok); !st) return st.error();
  return tok;
}

std::vector<SourceStats> PreparedCorpus::source_stats() const {
  std::vector<SourceStats> out(spec.sources.size());
  for (size_t i = 0; i < out.size(); ++i) out[i].name = spec.sources[i];
  for (uint64_t i = 0; i < train.n_docs(); ++i) {
    DocEntry e = train.doc(i);
    SourceStats& s = out[e.source_id];
    ++s.train_docs;
    s.train_bytes += e.n_bytes;
    s.train_tokens += e.n_tokens;
  }
  for (uint64_t i = 0; i < heldout.n_docs(); ++i) {
    DocEntry e = heldout.doc(i);
    SourceStats& s = out[e.source_id];
    ++s.heldout_docs;
    s.heldout_bytes += e.n_bytes;
    s.heldout_tokens += e.n_tokens;
  }
  return out;
}

std::vector<int32_t> concat_documents(const TokenFile& file, const std::vector<uint32_t>& doc_ids, int32_t eod) {
  std::vector<int32_t> out;
  uint64_t total = 0;
  for (uint32_t d : doc_ids) total += file.doc(d).n_tokens + 1;
  out.reserve(total);
  for (uint32_t d : doc_ids) {
    file.append_doc(d, out);
    out.push_back(eod);
  }
  return out;
}

std::shared_ptr<const std::vector<int32_t>> PreparedCorpus::heldout_stream() const {
  std::vector<uint32_t> ids(heldout.n_docs());
  for (uint32_t i = 0; i < ids.size(); ++i) ids[i] = i;
  return std::make_shared<const std::vector<int32_t>>(concat_documents(heldout, ids, tokenizer.eod_id()));
}

namespace {
double entropy_of_counts(const std::vector<uint64_t>& counts, uint64_t total) {
  if (total == 0) return 0.0;
  double h = 0.0;
  for (uint64_t c : counts) {
    if (c == 0) continue;
    double p = static_cast<double>(c) / static_cast<double>(total);
    h -= p * std::log(p);
  }
  return h;
}
}  // namespace

double unigram_entropy(const std::vector<int32_t>& tokens) {
  std::vector<uint64_t> counts;
  for (int32_t t : tokens) {
    FOMOE_ASSERT(t >= 0, "negative token id");
    if (static_cast<size_t>(t) >= counts.size()) counts.resize(static_cast<size_t>(t) + 1, 0);
    ++counts[static_cast<size_t>(t)];
  }
  return entropy_of_counts(counts, tokens.size());
}

double unigram_entropy(const TokenFile& file) {
  std::vector<uint64_t> counts(static_cast<size_t>(file.vocab_size()), 0);
  for (uint64_t i = 0; i < file.n_tokens(); ++i) ++counts[static_cast<size_t>(file.token(i))];
  return entropy_of_counts(counts, file.n_tokens());
}

}  // namespace fomoe::data
