// A Hugging Face tokenizer.json run in the engine: the byte-level BPE that GPT-2, Llama 3 and Qwen2
// checkpoints ship, encoding as PyPI `tokenizers` does with add_special_tokens=False.
//   1. added tokens with normalized = false are cut out of the raw text (leftmost-longest, with
//      single_word / lstrip / rstrip), as tokenizers' AddedVocabulary does;
//   2. each remaining piece is normalized (NFC, NFD, NFKC, NFKD or a Sequence of them; ICU), then
//      added tokens with normalized = true are cut out of it;
//   3. the pre-tokenizer (Split with an Oniguruma-style regex run by PCRE2 with Unicode
//      properties and JIT, Digits, ByteLevel, or a Sequence ending in ByteLevel) cuts words;
//   4. each word's bytes go through the BPE merges (lowest rank first, leftmost on ties; with
//      ignore_merges a word already in the vocabulary is one token).
// The post-processor (a template adding BOS) is not applied: the corpus pipeline ends documents
// with the end-of-document id instead. Invalid UTF-8 in the text is replaced by U+FFFD per maximal
// subpart first (Python's errors="replace"), as tokenizers only takes valid strings. Anything
// else in the file (another model type, a normalizer or pre-tokenizer not listed) is refused
// naming the JSON key.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>
#include <unicode/uchar.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>

#include "fomoe/base/log.h"
#include "tokenizer_impls.h"

namespace fomoe::data::detail {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Load errors: thrown while reading the JSON, turned into an Error naming the file at the boundary.
struct LoadError {
  ErrorCode code;
  std::string key;   // JSON key path, "model.type", "pre_tokenizer.pretokenizers[0].pattern"
  std::string what;
};

[[noreturn]] void fail(ErrorCode code, const std::string& key, const std::string& what) { throw LoadError{code, key, what}; }

std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }

std::string type_of(const json& obj, const std::string& key) {
  if (!obj.is_object()) fail(ErrorCode::Corrupt, key, "is not an object");
  auto it = obj.find("type");
  if (it == obj.end() || !it->is_string()) fail(ErrorCode::Corrupt, key + ".type", "is missing (or not a string)");
  return it->get<std::string>();
}

bool bool_or(const json& obj, const char* name, bool fallback, const std::string& key) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail(ErrorCode::Corrupt, key + "." + name, "is not true or false");
  return it->get<bool>();
}

// ---------------------------------------------------------------------------------------------
// UTF-8.

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Length of the well-formed sequence at s[i], or 0 with *bad set to how many bytes form the
// maximal invalid subpart (Unicode's "best practice", what Python's decoder replaces by one U+FFFD).
size_t utf8_sequence(std::string_view s, size_t i, size_t* bad) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c == 0xE0) { len = 3; lo = 0xA0; }
  else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) len = 3;
  else if (c == 0xED) { len = 3; hi = 0x9F; }
  else if (c == 0xF0) { len = 4; lo = 0x90; }
  else if (c >= 0xF1 && c <= 0xF3) len = 4;
  else if (c == 0xF4) { len = 4; hi = 0x8F; }
  else { *bad = 1; return 0; }
  for (size_t k = 1; k < len; ++k) {
    if (i + k >= s.size()) { *bad = k; return 0; }
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) { *bad = k; return 0; }
  }
  return len;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0, bad = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) { ++i; continue; }
    const size_t n = utf8_sequence(s, i, &bad);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string replace_invalid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0, bad = 0;
  while (i < s.size()) {
    const size_t n = utf8_sequence(s, i, &bad);
    if (n) {
      out.append(s.data() + i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += bad;
    }
  }
  return out;
}

// Code point at s[i] of valid UTF-8, and its length.
uint32_t code_point(std::string_view s, size_t i, size_t* len) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) { *len = 1; return c; }
  const size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  *len = n;
  return cp;
}

// Start of the last code point of a non-empty valid UTF-8 string.
size_t last_char_start(std::string_view s) {
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

// Rust regex's Unicode \w (what tokenizers' single_word tests) and \s (lstrip / rstrip).
bool is_word_char(uint32_t cp) {
  const auto c = static_cast<UChar32>(cp);
  if (u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL)) return true;
  const int8_t t = u_charType(c);
  return t == U_NON_SPACING_MARK || t == U_ENCLOSING_MARK || t == U_COMBINING_SPACING_MARK ||
         t == U_DECIMAL_DIGIT_NUMBER || t == U_CONNECTOR_PUNCTUATION;
}
bool is_space_char(uint32_t cp) { return u_isUWhiteSpace(static_cast<UChar32>(cp)); }

// GPT-2's reversible byte <-> printable character map, which byte-level vocabularies are spelt in.
struct ByteAlphabet {
  std::array<std::string, 256> byte_char;          // byte -> its character, UTF-8
  std::unordered_map<uint32_t, uint8_t> char_byte;  // character -> byte
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet = [] {
    ByteAlphabet a;
    std::array<bool, 256> printable{};
    for (int b = '!'; b <= '~'; ++b) printable[static_cast<size_t>(b)] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) printable[static_cast<size_t>(b)] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) printable[static_cast<size_t>(b)] = true;
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const uint32_t cp = printable[static_cast<size_t>(b)] ? static_cast<uint32_t>(b) : next++;
      append_utf8(a.byte_char[static_cast<size_t>(b)], cp);
      a.char_byte[cp] = static_cast<uint8_t>(b);
    }
    return a;
  }();
  return alphabet;
}

// tokenizers' ByteLevel decoder on one token: each character back to its byte, or the token's
// own UTF-8 when a character is outside the alphabet (an added token such as "<|im_start|>" maps
// to itself either way).
std::string byte_level_decode(const std::string& token) {
  const ByteAlphabet& a = byte_alphabet();
  std::string out;
  out.reserve(token.size());
  for (size_t i = 0; i < token.size();) {
    size_t len;
    const uint32_t cp = code_point(token, i, &len);
    auto it = a.char_byte.find(cp);
    if (it == a.char_byte.end()) return token;
    out += static_cast<char>(it->second);
    i += len;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// A PCRE2 pattern (UTF, Unicode properties for \p{..}, \s, \d, \w and case folding; JIT when the
// platform has it). Matching is thread-safe: each thread keeps its own match data and JIT stack.
class Regex {
 public:
  Regex(const std::string& pattern, bool literal, const std::string& key) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
    if (!code_) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail(ErrorCode::Unsupported, key,
           in_quotes(pattern) + " is not a regex PCRE2 compiles (" + reinterpret_cast<const char*>(msg) + " at offset " +
               std::to_string(offset) + ")");
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // without JIT pcre2_match interprets
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  /// The non-overlapping matches in s (valid UTF-8), left to right; empty matches are skipped.
  void find_all(std::string_view s, std::vector<std::pair<size_t, size_t>>& out) const {
    Scratch& m = scratch();
    size_t pos = 0;
    uint32_t options = PCRE2_NO_UTF_CHECK;
    while (pos < s.size()) {
      int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), pos, options, m.data, m.context);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0 && !(options & PCRE2_NO_JIT)) {  // JIT stack exhausted: the interpreter keeps frames on the heap
        options |= PCRE2_NO_JIT;
        continue;
      }
      if (rc < 0) {
        FOMOE_LOG_WARN("data", "tokenizer regex failed (PCRE2 error %d) on a %zu-byte piece; its rest is one piece", rc,
                       s.size());
        break;
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.data);
      const size_t start = ov[0], end = ov[1];
      if (end == start) {  // an empty match: step over one character
        size_t len;
        code_point(s, start, &len);
        pos = start + len;
        continue;
      }
      out.emplace_back(start, end);
      pos = end;
    }
  }

 private:
  struct Scratch {
    pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
    pcre2_match_context* context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, nullptr);
    Scratch() {
      pcre2_jit_stack_assign(context, nullptr, stack);
      pcre2_set_heap_limit(context, 1u << 20);  // KiB: 1 GiB for the interpreter fallback
    }
    ~Scratch() {
      pcre2_jit_stack_free(stack);
      pcre2_match_context_free(context);
      pcre2_match_data_free(data);
    }
  };
  static Scratch& scratch() {
    thread_local Scratch s;
    return s;
  }
  pcre2_code* code_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Normalizers.

class Normalizer {
 public:
  void add(const icu::Normalizer2* n) { steps_.push_back(n); }
  bool empty() const { return steps_.empty(); }
  void apply(std::string& s) const {
    for (const icu::Normalizer2* n : steps_) {
      UErrorCode e = U_ZERO_ERROR;
      const icu::StringPiece in(s.data(), static_cast<int32_t>(s.size()));
      if (n->isNormalizedUTF8(in, e) && U_SUCCESS(e)) continue;
      e = U_ZERO_ERROR;
      std::string out;
      icu::StringByteSink<std::string> sink(&out);
      n->normalizeUTF8(0, in, sink, nullptr, e);
      FOMOE_ASSERT(U_SUCCESS(e), std::string("ICU normalization failed: ") + u_errorName(e));
      s.swap(out);
    }
  }

 private:
  std::vector<const icu::Normalizer2*> steps_;
};

void read_normalizer(const json& j, const std::string& key, Normalizer& out) {
  if (j.is_null()) return;
  const std::string type = type_of(j, key);
  UErrorCode e = U_ZERO_ERROR;
  if (type == "Sequence") {
    auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) fail(ErrorCode::Corrupt, key + ".normalizers", "is missing (or not an array)");
    for (size_t i = 0; i < it->size(); ++i) read_normalizer((*it)[i], key + ".normalizers[" + std::to_string(i) + "]", out);
    return;
  }
  const icu::Normalizer2* n = type == "NFC"    ? icu::Normalizer2::getNFCInstance(e)
                              : type == "NFD"  ? icu::Normalizer2::getNFDInstance(e)
                              : type == "NFKC" ? icu::Normalizer2::getNFKCInstance(e)
                              : type == "NFKD" ? icu::Normalizer2::getNFKDInstance(e)
                                               : nullptr;
  if (!n)
    fail(ErrorCode::Unsupported, key + ".type",
         in_quotes(type) + " is not a normalizer the engine runs (NFC, NFD, NFKC, NFKD, or a Sequence of them)");
  if (U_FAILURE(e)) fail(ErrorCode::Unsupported, key + ".type", "ICU cannot load " + type + ": " + u_errorName(e));
  out.add(n);
}

// ---------------------------------------------------------------------------------------------
// Added tokens.

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

struct Segment {
  size_t begin, end;
  const AddedToken* token;  // null: text between added tokens
};

// One of tokenizers' two matching sets: leftmost-longest over the patterns' bytes.
class AddedMatcher {
 public:
  void add(std::string pattern, const AddedToken* token) {
    if (pattern.empty()) return;
    const auto first = static_cast<unsigned char>(pattern[0]);
    by_first_[first].push_back({std::move(pattern), token});
    present_[first] = true;
    any_ = true;
  }
  void finish() {
    for (auto& v : by_first_)
      std::stable_sort(v.begin(), v.end(), [](const Pat& a, const Pat& b) { return a.text.size() > b.text.size(); });
  }
  bool empty() const { return !any_; }

  /// tokenizers' AddedVocabulary::find_matches: the segments covering s, in order.
  void split(std::string_view s, std::vector<Segment>& out) const {
    size_t start_offset = 0;
    size_t i = 0;
    while (i < s.size()) {
      const auto c = static_cast<unsigned char>(s[i]);
      const Pat* hit = nullptr;
      if (present_[c])
        for (const Pat& p : by_first_[c])
          if (s.compare(i, p.text.size(), p.text) == 0) {
            hit = &p;
            break;
          }
      if (!hit) {
        ++i;
        continue;
      }
      size_t start = i, stop = i + hit->text.size();
      i = stop;
      const AddedToken& t = *hit->token;
      if (t.single_word) {
        bool start_ok = true, stop_ok = true;
        if (start > 0) {
          size_t len;
          start_ok = !is_word_char(code_point(s, last_char_start(s.substr(0, start)), &len));
        }
        if (stop < s.size()) {
          size_t len;
          stop_ok = !is_word_char(code_point(s, stop, &len));
        }
        if (!start_ok || !stop_ok) continue;
      }
      if (t.lstrip) {
        size_t b = start;
        while (b > 0) {
          const size_t prev = last_char_start(s.substr(0, b));
          size_t len;
          if (!is_space_char(code_point(s, prev, &len))) break;
          b = prev;
        }
        start = std::max(b, start_offset);
      }
      if (t.rstrip) {
        while (stop < s.size()) {
          size_t len;
          if (!is_space_char(code_point(s, stop, &len))) break;
          stop += len;
        }
        i = std::max(i, stop);
      }
      if (start_offset < start) out.push_back({start_offset, start, nullptr});
      out.push_back({start, stop, &t});
      start_offset = stop;
    }
    if (start_offset < s.size()) out.push_back({start_offset, s.size(), nullptr});
  }

 private:
  struct Pat {
    std::string text;
    const AddedToken* token;
  };
  std::array<std::vector<Pat>, 256> by_first_;
  std::array<bool, 256> present_{};
  bool any_ = false;
};

// ---------------------------------------------------------------------------------------------
// Pre-tokenizer.

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct PreStep {
  std::unique_ptr<Regex> regex;  // null: ByteLevel without its regex
  Behavior behavior = Behavior::Isolated;
  bool invert = false;
  bool byte_level = false;       // the ByteLevel step (last): add_prefix_space, then its regex
  bool add_prefix_space = false;
};

// GPT-2's regex, which ByteLevel runs when use_regex is true (tokenizers' byte_level.rs).
constexpr const char* kByteLevelRegex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// tokenizers' NormalizedString::split: the pieces of s a pattern and a behaviour leave.
void split_piece(const std::string& s, const PreStep& step, std::vector<std::string>& out) {
  std::vector<std::pair<size_t, size_t>> matches;
  step.regex->find_all(s, matches);
  struct Part {
    size_t b, e;
    bool match;
  };
  std::vector<Part> parts;
  size_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (prev != b) parts.push_back({prev, b, false});
    parts.push_back({b, e, true});
    prev = e;
  }
  if (prev != s.size()) parts.push_back({prev, s.size(), false});
  if (step.invert)
    for (Part& p : parts) p.match = !p.match;
  std::vector<Part> kept;  // match = "remove" from here on
  switch (step.behavior) {
    case Behavior::Isolated:
      for (const Part& p : parts) kept.push_back({p.b, p.e, false});
      break;
    case Behavior::Removed:
      kept = parts;
      break;
    case Behavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const Part& p : parts) {
        if (p.match && !previous_match && !kept.empty()) kept.back().e = p.e;
        else kept.push_back({p.b, p.e, false});
        previous_match = p.match;
      }
      break;
    }
    case Behavior::MergedWithNext: {
      bool previous_match = false;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->match && !previous_match && !kept.empty()) kept.back().b = it->b;
        else kept.push_back({it->b, it->e, false});
        previous_match = it->match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
    case Behavior::Contiguous: {
      bool previous_match = false;
      for (const Part& p : parts) {
        if (p.match == previous_match && !kept.empty()) kept.back().e = p.e;
        else kept.push_back({p.b, p.e, false});
        previous_match = p.match;
      }
      break;
    }
  }
  for (const Part& p : kept)
    if (!p.match && p.e > p.b) out.emplace_back(s, p.b, p.e - p.b);
}

Behavior read_behavior(const json& step, const std::string& key) {
  auto it = step.find("behavior");
  if (it == step.end() || !it->is_string()) fail(ErrorCode::Corrupt, key + ".behavior", "is missing (or not a string)");
  const std::string b = it->get<std::string>();
  if (b == "Removed") return Behavior::Removed;
  if (b == "Isolated") return Behavior::Isolated;
  if (b == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::MergedWithNext;
  if (b == "Contiguous") return Behavior::Contiguous;
  fail(ErrorCode::Unsupported, key + ".behavior",
       in_quotes(b) + " is unknown (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
}

void read_pre_tokenizer(const json& j, const std::string& key, std::vector<PreStep>& out) {
  const std::string type = type_of(j, key);
  if (!out.empty() && out.back().byte_level)
    fail(ErrorCode::Unsupported, key + ".type",
         in_quotes(type) + " after ByteLevel: the engine runs ByteLevel as the last pre-tokenizer");
  if (type == "Sequence") {
    auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) fail(ErrorCode::Corrupt, key + ".pretokenizers", "is missing (or not an array)");
    for (size_t i = 0; i < it->size(); ++i)
      read_pre_tokenizer((*it)[i], key + ".pretokenizers[" + std::to_string(i) + "]", out);
    return;
  }
  PreStep step;
  if (type == "ByteLevel") {
    step.byte_level = true;
    step.add_prefix_space = bool_or(j, "add_prefix_space", true, key);
    if (bool_or(j, "use_regex", true, key)) step.regex = std::make_unique<Regex>(kByteLevelRegex, false, key);
  } else if (type == "Split") {
    auto it = j.find("pattern");
    if (it == j.end() || !it->is_object()) fail(ErrorCode::Corrupt, key + ".pattern", "is missing (or not an object)");
    if (auto r = it->find("Regex"); r != it->end() && r->is_string()) {
      step.regex = std::make_unique<Regex>(r->get<std::string>(), false, key + ".pattern.Regex");
    } else if (auto s = it->find("String"); s != it->end() && s->is_string()) {
      step.regex = std::make_unique<Regex>(s->get<std::string>(), true, key + ".pattern.String");
    } else {
      fail(ErrorCode::Corrupt, key + ".pattern", "holds neither a \"Regex\" nor a \"String\"");
    }
    step.behavior = read_behavior(j, key);
    step.invert = bool_or(j, "invert", false, key);
  } else if (type == "Digits") {
    step.regex = std::make_unique<Regex>(R"(\p{N})", false, key);
    step.behavior = bool_or(j, "individual_digits", false, key) ? Behavior::Isolated : Behavior::Contiguous;
  } else {
    fail(ErrorCode::Unsupported, key + ".type",
         in_quotes(type) + " is not a pre-tokenizer the engine runs (ByteLevel, Split, Digits, or a Sequence of them "
                        "ending in ByteLevel)");
  }
  out.push_back(std::move(step));
}

// ---------------------------------------------------------------------------------------------
// The tokenizer.

class HfJsonImpl final : public TokenizerImpl {
 public:
  TokenizerKind kind() const override { return TokenizerKind::HfJson; }
  int vocab_size() const override { return vocab_size_; }
  int32_t eod_id() const override { return eod_; }
  int32_t unk_id() const override { return unk_; }

  void encode_into(std::string_view text, std::vector<int32_t>& out, WordCache* cache) const override {
    std::string clean;
    if (!valid_utf8(text)) {
      clean = replace_invalid_utf8(text);
      text = clean;
    }
    std::vector<Segment> raw;
    if (raw_added_.empty()) raw.push_back({0, text.size(), nullptr});
    else raw_added_.split(text, raw);
    std::vector<Segment> inner;
    std::vector<std::string> words;
    for (const Segment& seg : raw) {
      if (seg.token) {
        out.push_back(seg.token->id);
        continue;
      }
      std::string piece(text.substr(seg.begin, seg.end - seg.begin));
      normalizer_.apply(piece);
      inner.clear();
      if (normalized_added_.empty()) inner.push_back({0, piece.size(), nullptr});
      else normalized_added_.split(piece, inner);
      for (const Segment& s : inner) {
        if (s.token) {
          out.push_back(s.token->id);
          continue;
        }
        words.clear();
        pre_tokenize(piece.substr(s.begin, s.end - s.begin), words);
        for (const std::string& w : words) encode_word_cached(w, out, cache);
      }
    }
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string out;
    for (int32_t id : ids) {
      if (id < 0 || id >= vocab_size_) continue;
      const Entry& e = entries_[static_cast<size_t>(id)];
      if (!e.known || e.special) continue;
      out += e.bytes;
    }
    return out;
  }
  std::string token_bytes(int32_t id) const override {
    return id >= 0 && id < vocab_size_ ? entries_[static_cast<size_t>(id)].bytes : std::string();
  }
  std::string token_text(int32_t id) const override {
    return id >= 0 && id < vocab_size_ ? entries_[static_cast<size_t>(id)].text : std::string();
  }

  void load(const json& root, int64_t eod_override);

 private:
  struct Entry {
    std::string text;   // as the file spells it
    std::string bytes;  // what it decodes to
    bool known = false, special = false;
  };

  void pre_tokenize(std::string piece, std::vector<std::string>& words) const {
    std::vector<std::string> cur, next;
    cur.push_back(std::move(piece));
    for (const PreStep& step : steps_) {
      next.clear();
      for (std::string& p : cur) {
        if (step.byte_level && step.add_prefix_space && !p.empty() && p[0] != ' ') p.insert(p.begin(), ' ');
        if (step.regex) split_piece(p, step, next);
        else if (!p.empty()) next.push_back(std::move(p));
      }
      cur.swap(next);
    }
    for (std::string& p : cur)
      if (!p.empty()) words.push_back(std::move(p));
  }

  void encode_word_cached(const std::string& w, std::vector<int32_t>& out, WordCache* cache) const {
    if (!cache) {
      encode_word(w, out);
      return;
    }
    auto it = cache->find(w);
    if (it == cache->end()) {
      std::vector<int32_t> ids;
      encode_word(w, ids);
      it = cache->emplace(w, std::move(ids)).first;
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
  }

  // tokenizers' BPE::merge_word + Word::merge_all on the word's bytes (one symbol per byte).
  void encode_word(std::string_view w, std::vector<int32_t>& out) const {
    const ByteAlphabet& a = byte_alphabet();
    if (ignore_merges_) {
      std::string spelt;
      for (char c : w) spelt += a.byte_char[static_cast<unsigned char>(c)];
      if (auto it = vocab_.find(spelt); it != vocab_.end()) {
        out.push_back(it->second);
        return;
      }
    }
    std::vector<int32_t> sym;
    sym.reserve(w.size());
    bool unk_pending = false;
    for (char ch : w) {
      const auto b = static_cast<unsigned char>(ch);
      if (byte_id_[b] >= 0 || !fallback_ids_[b].empty()) {
        if (unk_pending) sym.push_back(unk_);
        unk_pending = false;
        if (byte_id_[b] >= 0) sym.push_back(byte_id_[b]);
        else sym.insert(sym.end(), fallback_ids_[b].begin(), fallback_ids_[b].end());
      } else if (unk_ >= 0) {
        if (unk_pending && !fuse_unk_) sym.push_back(unk_);
        unk_pending = true;
      }  // else: a byte the vocabulary lacks, with no unk token, is dropped (as tokenizers does)
    }
    if (unk_pending) sym.push_back(unk_);
    merge_all(sym);
    out.insert(out.end(), sym.begin(), sym.end());
  }

  void merge_all(std::vector<int32_t>& sym) const {
    const size_t n = sym.size();
    if (n < 2) return;
    std::vector<int> prev(n), next(n);
    std::vector<char> alive(n, 1);
    for (size_t i = 0; i < n; ++i) {
      prev[i] = static_cast<int>(i) - 1;
      next[i] = i + 1 < n ? static_cast<int>(i + 1) : -1;
    }
    struct Cand {
      int32_t rank;
      int pos;
      int32_t new_id;
      bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
    auto push = [&](int pos) {
      const int nx = next[static_cast<size_t>(pos)];
      if (nx < 0) return;
      auto it = merges_.find(pair_key(sym[static_cast<size_t>(pos)], sym[static_cast<size_t>(nx)]));
      if (it != merges_.end()) heap.push({it->second.first, pos, it->second.second});
    };
    for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int>(i));
    while (!heap.empty()) {
      const Cand top = heap.top();
      heap.pop();
      const auto p = static_cast<size_t>(top.pos);
      if (!alive[p] || next[p] < 0) continue;
      const auto r = static_cast<size_t>(next[p]);
      auto it = merges_.find(pair_key(sym[p], sym[r]));
      if (it == merges_.end() || it->second.second != top.new_id) continue;  // an expired entry
      sym[p] = top.new_id;
      alive[r] = 0;
      next[p] = next[r];
      if (next[r] >= 0) prev[static_cast<size_t>(next[r])] = top.pos;
      if (prev[p] >= 0) push(prev[p]);
      push(top.pos);
    }
    size_t k = 0;
    for (size_t i = 0; i < n; ++i)
      if (alive[i]) sym[k++] = sym[i];
    sym.resize(k);
  }

  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  std::unordered_map<std::string, int32_t> vocab_;                           // the model's, as spelt
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;          // (left, right) -> (rank, id)
  std::array<int32_t, 256> byte_id_{};                                        // byte -> id of its character
  std::array<std::vector<int32_t>, 256> fallback_ids_;                        // byte_fallback's <0xNN> ids
  int32_t unk_ = -1;
  bool fuse_unk_ = false, ignore_merges_ = false;
  std::vector<AddedToken> added_;
  AddedMatcher raw_added_, normalized_added_;
  Normalizer normalizer_;
  std::vector<PreStep> steps_;
  std::vector<Entry> entries_;  // by id
  int vocab_size_ = 0;
  int32_t eod_ = -1;
};

void HfJsonImpl::load(const json& root, int64_t eod_override) {
  if (!root.is_object()) fail(ErrorCode::Corrupt, "(top level)", "is not a JSON object");
  auto mit = root.find("model");
  if (mit == root.end() || mit->is_null()) fail(ErrorCode::Corrupt, "model", "is missing");
  const json& model = *mit;
  if (!model.is_object()) fail(ErrorCode::Corrupt, "model", "is not an object");
  std::string type;
  if (auto t = model.find("type"); t != model.end() && t->is_string()) type = t->get<std::string>();
  else if (model.contains("merges")) type = "BPE";  // files from before tokenizers wrote the type
  else fail(ErrorCode::Corrupt, "model.type", "is missing");
  if (type != "BPE")
    fail(ErrorCode::Unsupported, "model.type",
         in_quotes(type) + " is not supported: the engine runs byte-level BPE tokenizer.json files (model.type \"BPE\"); "
                        "for a SentencePiece tokenizer give its .model file");

  // Vocabulary.
  auto vit = model.find("vocab");
  if (vit == model.end() || vit->is_null()) fail(ErrorCode::Corrupt, "model.vocab", "is missing");
  if (!vit->is_object()) fail(ErrorCode::Corrupt, "model.vocab", "is not an object of token: id");
  int64_t max_id = -1;
  vocab_.reserve(vit->size());
  for (auto it = vit->begin(); it != vit->end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() >= (int64_t{1} << 30))
      fail(ErrorCode::Corrupt, "model.vocab[" + in_quotes(it.key()) + "]", "is not an id in [0, 2^30)");
    const auto id = static_cast<int32_t>(it.value().get<int64_t>());
    vocab_[it.key()] = id;
    max_id = std::max<int64_t>(max_id, id);
  }

  // Options.
  if (auto d = model.find("dropout"); d != model.end() && !d->is_null()) {
    if (!d->is_number()) fail(ErrorCode::Corrupt, "model.dropout", "is not a number");
    if (d->get<double>() > 0.0)
      fail(ErrorCode::Unsupported, "model.dropout", "is " + d->dump() + ": BPE dropout makes encoding random; set it to null");
  }
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(k);
    if (it != model.end() && !it->is_null() && !(it->is_string() && it->get<std::string>().empty()))
      fail(ErrorCode::Unsupported, std::string("model.") + k,
           "is " + it->dump() + ": word-piece style BPE is not byte-level; the engine runs it without one");
  }
  fuse_unk_ = bool_or(model, "fuse_unk", false, "model");
  ignore_merges_ = bool_or(model, "ignore_merges", false, "model");
  const bool byte_fallback = bool_or(model, "byte_fallback", false, "model");
  if (auto u = model.find("unk_token"); u != model.end() && !u->is_null()) {
    if (!u->is_string()) fail(ErrorCode::Corrupt, "model.unk_token", "is not a string");
    auto it = vocab_.find(u->get<std::string>());
    if (it == vocab_.end()) fail(ErrorCode::Corrupt, "model.unk_token", in_quotes(u->get<std::string>()) + " is not in model.vocab");
    unk_ = it->second;
  }
  const ByteAlphabet& alphabet = byte_alphabet();
  for (size_t b = 0; b < 256; ++b) {
    auto it = vocab_.find(alphabet.byte_char[b]);
    byte_id_[b] = it == vocab_.end() ? -1 : it->second;
    if (byte_id_[b] < 0 && byte_fallback) {
      std::vector<int32_t> ids;
      for (char c : alphabet.byte_char[b]) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", static_cast<unsigned>(static_cast<unsigned char>(c)));
        auto f = vocab_.find(name);
        if (f == vocab_.end()) {
          ids.clear();
          break;
        }
        ids.push_back(f->second);
      }
      fallback_ids_[b] = std::move(ids);
    }
  }

  // Merges: "a b" strings (older files) or [a, b] pairs (tokenizers >= 0.20).
  auto gm = model.find("merges");
  if (gm == model.end() || gm->is_null()) fail(ErrorCode::Corrupt, "model.merges", "is missing");
  if (!gm->is_array()) fail(ErrorCode::Corrupt, "model.merges", "is not an array");
  merges_.reserve(gm->size());
  for (size_t i = 0; i < gm->size(); ++i) {
    const json& m = (*gm)[i];
    const std::string key = "model.merges[" + std::to_string(i) + "]";
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos) fail(ErrorCode::Corrupt, key, in_quotes(s) + " is not \"left right\"");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      fail(ErrorCode::Corrupt, key, "is neither \"left right\" nor [\"left\", \"right\"]");
    }
    auto ia = vocab_.find(a), ib = vocab_.find(b), iab = vocab_.find(a + b);
    if (ia == vocab_.end() || ib == vocab_.end() || iab == vocab_.end())
      fail(ErrorCode::Corrupt, key,
           in_quotes(ia == vocab_.end() ? a : ib == vocab_.end() ? b : a + b) + " is not in model.vocab");
    merges_[pair_key(ia->second, ib->second)] = {static_cast<int32_t>(i), iab->second};
  }

  // Added tokens.
  if (auto at = root.find("added_tokens"); at != root.end() && !at->is_null()) {
    if (!at->is_array()) fail(ErrorCode::Corrupt, "added_tokens", "is not an array");
    for (size_t i = 0; i < at->size(); ++i) {
      const json& t = (*at)[i];
      const std::string key = "added_tokens[" + std::to_string(i) + "]";
      if (!t.is_object()) fail(ErrorCode::Corrupt, key, "is not an object");
      auto id = t.find("id");
      auto content = t.find("content");
      if (id == t.end() || !id->is_number_integer() || id->get<int64_t>() < 0 || id->get<int64_t>() >= (int64_t{1} << 30))
        fail(ErrorCode::Corrupt, key + ".id", "is missing (or not an id in [0, 2^30))");
      if (content == t.end() || !content->is_string()) fail(ErrorCode::Corrupt, key + ".content", "is missing (or not a string)");
      AddedToken a;
      a.id = static_cast<int32_t>(id->get<int64_t>());
      a.content = content->get<std::string>();
      a.special = bool_or(t, "special", false, key);
      a.single_word = bool_or(t, "single_word", false, key);
      a.lstrip = bool_or(t, "lstrip", false, key);
      a.rstrip = bool_or(t, "rstrip", false, key);
      a.normalized = bool_or(t, "normalized", !a.special, key);
      max_id = std::max<int64_t>(max_id, a.id);
      added_.push_back(std::move(a));
    }
  }

  read_normalizer(root.value("normalizer", json()), "normalizer", normalizer_);
  auto pt = root.find("pre_tokenizer");
  if (pt == root.end() || pt->is_null())
    fail(ErrorCode::Unsupported, "pre_tokenizer",
         "is null: the engine runs byte-level BPE, whose pre_tokenizer is ByteLevel (or a Sequence ending in it)");
  read_pre_tokenizer(*pt, "pre_tokenizer", steps_);
  if (steps_.empty() || !steps_.back().byte_level)
    fail(ErrorCode::Unsupported, "pre_tokenizer",
         "has no ByteLevel step: the engine runs byte-level BPE only (Metaspace / byte_fallback tokenizers such as "
         "Llama 2's: give their SentencePiece .model file)");
  auto dec = root.find("decoder");
  if (dec == root.end() || dec->is_null())
    fail(ErrorCode::Unsupported, "decoder", "is null: a byte-level BPE decodes with decoder.type \"ByteLevel\"");
  if (const std::string t = type_of(*dec, "decoder"); t != "ByteLevel")
    fail(ErrorCode::Unsupported, "decoder.type", in_quotes(t) + " is not supported (the engine decodes byte-level BPE: \"ByteLevel\")");

  // Matching sets as tokenizers builds them: normalized = false on the raw text, normalized =
  // true (content normalized too) on the normalized pieces. A content listed twice: the last wins.
  std::unordered_map<std::string, size_t> last;
  for (size_t i = 0; i < added_.size(); ++i) last[added_[i].content] = i;
  for (size_t i = 0; i < added_.size(); ++i) {
    if (last[added_[i].content] != i) continue;
    const AddedToken& t = added_[i];
    if (t.normalized) {
      std::string content = t.content;
      normalizer_.apply(content);
      normalized_added_.add(std::move(content), &t);
    } else {
      raw_added_.add(t.content, &t);
    }
  }
  raw_added_.finish();
  normalized_added_.finish();

  // Ids: the vocabulary, then the added tokens over it (tokenizers looks added tokens up first).
  vocab_size_ = static_cast<int>(max_id + 1);
  entries_.resize(static_cast<size_t>(vocab_size_));
  for (const auto& [text, id] : vocab_) {
    Entry& e = entries_[static_cast<size_t>(id)];
    e.text = text;
    e.bytes = byte_level_decode(text);
    e.known = true;
  }
  for (const AddedToken& t : added_) {
    Entry& e = entries_[static_cast<size_t>(t.id)];
    e.text = t.content;
    e.bytes = byte_level_decode(t.content);
    e.known = true;
    e.special = t.special;
  }

  // End of document.
  if (eod_override >= 0) {
    if (eod_override >= vocab_size_ || !entries_[static_cast<size_t>(eod_override)].known)
      fail(ErrorCode::InvalidArgument, "data.eos_id",
           "= " + std::to_string(eod_override) + " is not an id of this tokenizer (" + std::to_string(vocab_size_) + " ids)");
    eod_ = static_cast<int32_t>(eod_override);
  } else {
    for (const char* name : {"<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>"}) {
      auto found = std::find_if(added_.begin(), added_.end(), [&](const AddedToken& t) { return t.content == name; });
      if (found != added_.end()) eod_ = found->id;
      else if (auto v = vocab_.find(name); v != vocab_.end()) eod_ = v->second;
      if (eod_ >= 0) break;
    }
    if (eod_ < 0)
      fail(ErrorCode::InvalidArgument, "added_tokens",
           "hold none of the end-of-text tokens <|endoftext|>, </s>, <eos>, <|end_of_text|>: set data.eos_id to the id "
           "that ends a document");
  }
}

}  // namespace

Expected<std::shared_ptr<const TokenizerImpl>> load_hf_json_tokenizer(const std::string& path, const std::string& bytes,
                                                                      int64_t eod_id) {
  json root;
  try {
    root = json::parse(bytes);
  } catch (const json::parse_error& e) {
    return make_error(ErrorCode::Corrupt, "tokenizer " + path + " is not JSON (" + e.what() + ")");
  }
  auto impl = std::make_shared<HfJsonImpl>();
  try {
    impl->load(root, eod_id);
  } catch (const LoadError& e) {
    return make_error(e.code, "tokenizer " + path + ": " + e.key + " " + e.what);
  } catch (const json::exception& e) {  // a value of an unexpected type that slipped past the checks
    return make_error(ErrorCode::Corrupt, "tokenizer " + path + ": " + e.what());
  }
  return std::shared_ptr<const TokenizerImpl>(std::move(impl));
}

}  // namespace fomoe::data::detail
