// Byte-level BPE: GPT-2-like pre-tokenizer, merge training over the unique-word count table with
// incremental pair counts and a lazy max-heap, rank-ordered encoding, a checksummed file format.
#include "fomoe/data/bpe_tokenizer.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <queue>

#include "data_hash.h"
#include "file_util.h"
#include "fomoe/base/log.h"

namespace fomoe::data {
namespace {

constexpr char kMagic[8] = {'F', 'O', 'M', 'O', 'E', 'B', 'P', 'E'};
constexpr uint32_t kPreTokenizerVersion = 1;  // bump when pre_tokenize changes what it splits
constexpr size_t kFileHeaderBytes = 24;       // magic, version, vocab, n_merges, pre-tokenizer

enum class CharClass { Space, Letter, Digit, Other };

// Decodes the UTF-8 sequence at s[i]; invalid or truncated sequences count as one byte.
void utf8_at(std::string_view s, size_t i, uint32_t& cp, size_t& len) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) { cp = c; len = 1; return; }
  size_t need = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (c >= 0xF8) need = 0;
  if (need == 0 || i + need > s.size()) { cp = 0xFFFD; len = 1; return; }
  uint32_t v = c & (0x7F >> need);
  for (size_t k = 1; k < need; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) { cp = 0xFFFD; len = 1; return; }
    v = (v << 6) | (cc & 0x3F);
  }
  cp = v;
  len = need;
}

CharClass classify(uint32_t cp, size_t len) {
  if (len == 1 && cp < 0x80) {
    if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f') return CharClass::Space;
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CharClass::Letter;
    if (cp >= '0' && cp <= '9') return CharClass::Digit;
    return CharClass::Other;
  }
  if (len == 1) return CharClass::Other;  // invalid byte
  // Non-ASCII: letters unless a known punctuation/symbol block (Latin-1 signs, general
  // punctuation to misc symbols, CJK punctuation, fullwidth ASCII punctuation, emoji).
  if (cp <= 0xBF || cp == 0xD7 || cp == 0xF7) return CharClass::Other;
  if (cp >= 0x2000 && cp <= 0x2BFF) return CharClass::Other;
  if (cp >= 0x3000 && cp <= 0x303F) return CharClass::Other;
  if (cp >= 0xFE30 && cp <= 0xFE4F) return CharClass::Other;
  if (cp >= 0xFF00 && cp <= 0xFF20) return CharClass::Other;
  if (cp >= 0x1F000) return CharClass::Other;
  return CharClass::Letter;
}

uint64_t pair_key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

void put_u32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void put_u64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
uint32_t get_u32(const char* p) { uint32_t v; std::memcpy(&v, p, 4); return v; }
uint64_t get_u64(const char* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }

}  // namespace

std::vector<std::string_view> pre_tokenize(std::string_view text) {
  std::vector<std::string_view> out;
  const size_t n = text.size();
  // Class and length of the character at each position, computed lazily while scanning.
  auto char_at = [&](size_t i, CharClass& cls) {
    uint32_t cp;
    size_t len;
    utf8_at(text, i, cp, len);
    cls = classify(cp, len);
    return len;
  };
  size_t i = 0;
  while (i < n) {
    CharClass cls;
    size_t len = char_at(i, cls);
    size_t start = i;
    if (cls == CharClass::Space) {
      // A single ' ' before a non-space joins the following run (" word").
      if (text[i] == ' ' && i + 1 < n) {
        CharClass next;
        size_t next_len = char_at(i + 1, next);
        if (next != CharClass::Space) {
          size_t j = i + 1 + next_len;
          while (j < n) {
            CharClass c;
            size_t l = char_at(j, c);
            if (c != next) break;
            j += l;
          }
          out.push_back(text.substr(start, j - start));
          i = j;
          continue;
        }
      }
      size_t j = i + len;
      while (j < n) {
        CharClass c;
        size_t l = char_at(j, c);
        if (c != CharClass::Space) break;
        j += l;
      }
      // Leave a final ' ' for the word after the run (GPT-2's \s+(?!\S)).
      if (j < n && j - i > 1 && text[j - 1] == ' ') --j;
      out.push_back(text.substr(start, j - start));
      i = j;
      continue;
    }
    size_t j = i + len;
    while (j < n) {
      CharClass c;
      size_t l = char_at(j, c);
      if (c != cls) break;
      j += l;
    }
    out.push_back(text.substr(start, j - start));
    i = j;
  }
  return out;
}

BpeTokenizer::BpeTokenizer() { build_tables(); }

void BpeTokenizer::build_tables() {
  bytes_.assign(static_cast<size_t>(vocab_size_), std::string());
  for (int b = 0; b < 256; ++b) bytes_[static_cast<size_t>(b)] = std::string(1, static_cast<char>(b));
  rank_.clear();
  rank_.reserve(merges_.size() * 2);
  for (size_t i = 0; i < merges_.size(); ++i) {
    const auto& [a, b] = merges_[i];
    bytes_[256 + i] = bytes_[static_cast<size_t>(a)] + bytes_[static_cast<size_t>(b)];
    rank_.emplace(pair_key(a, b), static_cast<int32_t>(i));
  }
}

BpeTokenizer BpeTokenizer::train(const std::vector<std::string_view>& documents, int vocab_size,
                                 BpeTrainStats* stats) {
  FOMOE_ASSERT(vocab_size >= kMinVocab, "vocab_size must be >= 257 (256 bytes + end-of-document)");
  auto t0 = std::chrono::steady_clock::now();
  BpeTokenizer tok;
  tok.vocab_size_ = vocab_size;
  const int target_merges = vocab_size - kMinVocab;

  // 1. Unique-word count table.
  std::unordered_map<std::string_view, uint64_t> word_counts;
  uint64_t n_words = 0;
  for (std::string_view doc : documents) {
    for (std::string_view w : pre_tokenize(doc)) {
      ++word_counts[w];
      ++n_words;
    }
  }
  struct Word {
    std::vector<int32_t> symbols;
    int64_t count;
  };
  std::vector<Word> words;
  words.reserve(word_counts.size());
  for (const auto& [w, c] : word_counts) {
    if (w.size() < 2) continue;  // single bytes never take part in a merge
    Word word{{}, static_cast<int64_t>(c)};
    word.symbols.reserve(w.size());
    for (char ch : w) word.symbols.push_back(static_cast<unsigned char>(ch));
    words.push_back(std::move(word));
  }

  // 2. Pair counts and pair -> words index (may hold duplicates and stale entries).
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<uint32_t>> pair_words;
  for (uint32_t wi = 0; wi < words.size(); ++wi) {
    const Word& w = words[wi];
    for (size_t k = 0; k + 1 < w.symbols.size(); ++k) {
      uint64_t key = pair_key(w.symbols[k], w.symbols[k + 1]);
      pair_count[key] += w.count;
      auto& list = pair_words[key];
      if (list.empty() || list.back() != wi) list.push_back(wi);
    }
  }

  // 3. Lazy max-heap: highest count first, then the smallest pair key (deterministic ties).
  using Item = std::pair<int64_t, uint64_t>;
  auto cmp = [](const Item& x, const Item& y) { return x.first != y.first ? x.first < y.first : x.second > y.second; };
  std::priority_queue<Item, std::vector<Item>, decltype(cmp)> heap(cmp);
  for (const auto& [key, c] : pair_count) heap.push({c, key});

  std::vector<uint32_t> visited(words.size(), UINT32_MAX);
  std::unordered_map<uint64_t, int64_t> delta;
  std::vector<int32_t> merged;
  while (static_cast<int>(tok.merges_.size()) < target_merges && !heap.empty()) {
    auto [count, key] = heap.top();
    heap.pop();
    auto it = pair_count.find(key);
    if (it == pair_count.end() || it->second != count) continue;  // stale entry
    if (count < 2) break;  // only pairs seen once remain: merging them would only memorise
    const int32_t a = static_cast<int32_t>(key >> 32), b = static_cast<int32_t>(key & 0xffffffffu);
    const int32_t new_id = 256 + static_cast<int32_t>(tok.merges_.size());
    const uint32_t step = static_cast<uint32_t>(tok.merges_.size());
    tok.merges_.emplace_back(a, b);
    delta.clear();
    std::vector<uint32_t> users = std::move(pair_words[key]);
    pair_words.erase(key);
    for (uint32_t wi : users) {
      if (visited[wi] == step) continue;
      visited[wi] = step;
      Word& w = words[wi];
      std::vector<int32_t>& s = w.symbols;
      bool has = false;
      for (size_t k = 0; k + 1 < s.size(); ++k)
        if (s[k] == a && s[k + 1] == b) { has = true; break; }
      if (!has) continue;
      for (size_t k = 0; k + 1 < s.size(); ++k) delta[pair_key(s[k], s[k + 1])] -= w.count;
      merged.clear();
      for (size_t k = 0; k < s.size();) {
        if (k + 1 < s.size() && s[k] == a && s[k + 1] == b) {
          merged.push_back(new_id);
          k += 2;
        } else {
          merged.push_back(s[k]);
          ++k;
        }
      }
      s.swap(merged);
      for (size_t k = 0; k + 1 < s.size(); ++k) {
        uint64_t pk = pair_key(s[k], s[k + 1]);
        delta[pk] += w.count;
        if (s[k] == new_id || s[k + 1] == new_id) {
          auto& list = pair_words[pk];
          if (list.empty() || list.back() != wi) list.push_back(wi);
        }
      }
    }
    for (const auto& [pk, d] : delta) {
      if (d == 0) continue;
      int64_t& c = pair_count[pk];
      c += d;
      if (c > 0) heap.push({c, pk});
    }
    pair_count.erase(key);
  }
  tok.build_tables();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (static_cast<int>(tok.merges_.size()) < target_merges) {
    FOMOE_LOG_WARN("data", "BPE: only %zu of %d merges found (text too small); ids up to %d stay unused",
                   tok.merges_.size(), target_merges, vocab_size - 2);
  }
  if (stats) {
    stats->n_merges = static_cast<int>(tok.merges_.size());
    stats->n_words = n_words;
    stats->n_unique_words = word_counts.size();
    stats->seconds = seconds;
  }
  return tok;
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.size() == 1 || merges_.empty()) {
    for (char c : word) out.push_back(static_cast<unsigned char>(c));
    return;
  }
  std::vector<int32_t> s;
  s.reserve(word.size());
  for (char c : word) s.push_back(static_cast<unsigned char>(c));
  while (s.size() > 1) {
    int32_t best_rank = INT32_MAX;
    for (size_t k = 0; k + 1 < s.size(); ++k) {
      auto it = rank_.find(pair_key(s[k], s[k + 1]));
      if (it != rank_.end() && it->second < best_rank) best_rank = it->second;
    }
    if (best_rank == INT32_MAX) break;
    const auto [a, b] = merges_[static_cast<size_t>(best_rank)];
    const int32_t id = 256 + best_rank;
    size_t w = 0;
    for (size_t k = 0; k < s.size();) {
      if (k + 1 < s.size() && s[k] == a && s[k + 1] == b) {
        s[w++] = id;
        k += 2;
      } else {
        s[w++] = s[k++];
      }
    }
    s.resize(w);
  }
  out.insert(out.end(), s.begin(), s.end());
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 2 + 1);
  for (std::string_view w : pre_tokenize(text)) encode_word(w, out);
  return out;
}

void BpeTokenizer::encode_into(std::string_view text, std::vector<int32_t>& out,
                               std::unordered_map<std::string, std::vector<int32_t>>& cache) const {
  std::string key;
  for (std::string_view w : pre_tokenize(text)) {
    if (w.size() == 1) {
      out.push_back(static_cast<unsigned char>(w[0]));
      continue;
    }
    key.assign(w.data(), w.size());
    auto it = cache.find(key);
    if (it == cache.end()) {
      std::vector<int32_t> toks;
      encode_word(w, toks);
      it = cache.emplace(key, std::move(toks)).first;
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
  }
}

const std::string& BpeTokenizer::token_bytes(int32_t id) const {
  FOMOE_ASSERT(id >= 0 && id < vocab_size_, "token id " + std::to_string(id) + " outside the vocabulary of " +
                                                std::to_string(vocab_size_));
  return bytes_[static_cast<size_t>(id)];
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& tokens) const {
  std::string out;
  for (int32_t t : tokens) out += token_bytes(t);
  return out;
}

Status BpeTokenizer::save(const std::string& path) const {
  std::string bytes(kMagic, sizeof(kMagic));
  put_u32(bytes, kFileVersion);
  put_u32(bytes, static_cast<uint32_t>(vocab_size_));
  put_u32(bytes, static_cast<uint32_t>(merges_.size()));
  put_u32(bytes, kPreTokenizerVersion);
  for (const auto& [a, b] : merges_) {
    put_u32(bytes, static_cast<uint32_t>(a));
    put_u32(bytes, static_cast<uint32_t>(b));
  }
  put_u64(bytes, detail::fnv1a64(bytes.data(), bytes.size()));
  return detail::write_file_atomic(path, bytes);
}

Expected<BpeTokenizer> BpeTokenizer::load(const std::string& path) {
  auto data = detail::read_whole_file(path);
  if (!data) return data.error();
  const std::string& d = *data;
  auto corrupt = [&](const std::string& why) {
    return make_error(ErrorCode::Corrupt, "tokenizer file " + path + " is corrupt: " + why +
                                              "; delete it to rebuild (prepare_corpus retrains it)");
  };
  if (d.size() < kFileHeaderBytes + 8) return corrupt("truncated (" + std::to_string(d.size()) + " bytes)");
  if (std::memcmp(d.data(), kMagic, sizeof(kMagic)) != 0) return corrupt("bad magic (not a FoMoE BPE file)");
  uint32_t version = get_u32(d.data() + 8);
  if (version != kFileVersion) {
    return make_error(ErrorCode::Unsupported, "tokenizer file " + path + " has format version " +
                                                  std::to_string(version) + ", this build reads " +
                                                  std::to_string(kFileVersion) + "; delete it to rebuild");
  }
  uint32_t vocab = get_u32(d.data() + 12), n_merges = get_u32(d.data() + 16), pre = get_u32(d.data() + 20);
  size_t expected = kFileHeaderBytes + 8ull * n_merges + 8;
  if (d.size() != expected) {
    return corrupt((d.size() < expected ? "truncated: " : "trailing bytes: ") + std::to_string(d.size()) +
                   " bytes, header says " + std::to_string(expected));
  }
  if (get_u64(d.data() + d.size() - 8) != detail::fnv1a64(d.data(), d.size() - 8)) return corrupt("checksum mismatch");
  if (pre != kPreTokenizerVersion) {
    return make_error(ErrorCode::Unsupported, "tokenizer file " + path + " was trained with pre-tokenizer v" +
                                                  std::to_string(pre) + ", this build has v" +
                                                  std::to_string(kPreTokenizerVersion) + "; delete it to rebuild");
  }
  if (vocab < static_cast<uint32_t>(kMinVocab) || n_merges > vocab - kMinVocab)
    return corrupt("vocab size " + std::to_string(vocab) + " cannot hold " + std::to_string(n_merges) + " merges");
  BpeTokenizer tok;
  tok.vocab_size_ = static_cast<int>(vocab);
  tok.merges_.reserve(n_merges);
  for (uint32_t i = 0; i < n_merges; ++i) {
    uint32_t a = get_u32(d.data() + kFileHeaderBytes + 8ull * i), b = get_u32(d.data() + kFileHeaderBytes + 8ull * i + 4);
    if (a >= 256 + i || b >= 256 + i) return corrupt("merge " + std::to_string(i) + " refers to a later id");
    tok.merges_.emplace_back(static_cast<int32_t>(a), static_cast<int32_t>(b));
  }
  tok.build_tables();
  return tok;
}

}  // namespace fomoe::data
