// Tokenizer: the value type over the three kinds, the project BPE's adapter, and load_tokenizer's
// dispatch on the file.
#include "fomoe/data/tokenizer.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "data_hash.h"
#include "file_util.h"
#include "tokenizer_impls.h"

namespace fomoe::data {
namespace {

std::string hash_text(uint64_t h) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016llx", static_cast<unsigned long long>(h));
  return buf;
}

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// The project's BPE behind the common interface; its own methods keep their behaviour.
class BpeImpl final : public TokenizerImpl {
 public:
  explicit BpeImpl(BpeTokenizer bpe) : bpe_(std::move(bpe)) {}
  TokenizerKind kind() const override { return TokenizerKind::FomoeBpe; }
  int vocab_size() const override { return bpe_.vocab_size(); }
  int32_t eod_id() const override { return bpe_.eod_id(); }
  void encode_into(std::string_view text, std::vector<int32_t>& out, WordCache* cache) const override {
    if (cache) {
      bpe_.encode_into(text, out, *cache);
    } else {
      const std::vector<int32_t> ids = bpe_.encode(text);
      out.insert(out.end(), ids.begin(), ids.end());
    }
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string out;
    for (int32_t t : ids)
      if (t >= 0 && t < bpe_.vocab_size()) out += bpe_.token_bytes(t);
    return out;
  }
  std::string token_bytes(int32_t id) const override {
    return id >= 0 && id < bpe_.vocab_size() ? bpe_.token_bytes(id) : std::string();
  }
  std::string token_text(int32_t id) const override {
    return id == bpe_.eod_id() ? std::string("<|endoftext|>") : token_bytes(id);
  }
  const BpeTokenizer& bpe() const { return bpe_; }

 private:
  BpeTokenizer bpe_;
};

std::string merges_hash(const BpeTokenizer& bpe) {
  uint64_t h = detail::kFnvOffset;
  const uint32_t vocab = static_cast<uint32_t>(bpe.vocab_size());
  h = detail::fnv1a64(&vocab, sizeof vocab, h);
  for (const auto& [a, b] : bpe.merges()) {
    const int32_t pair[2] = {a, b};
    h = detail::fnv1a64(pair, sizeof pair, h);
  }
  return hash_text(h);
}

}  // namespace

const char* tokenizer_kind_name(TokenizerKind kind) {
  switch (kind) {
    case TokenizerKind::FomoeBpe: return "fomoe-bpe";
    case TokenizerKind::HfJson: return "hf-tokenizer-json";
    case TokenizerKind::SentencePiece: return "sentencepiece";
  }
  return "?";
}

Tokenizer::Tokenizer() : Tokenizer(BpeTokenizer()) {}

Tokenizer::Tokenizer(BpeTokenizer bpe, std::string path) : path_(std::move(path)) {
  auto impl = std::make_shared<const BpeImpl>(std::move(bpe));
  bpe_ = &impl->bpe();
  content_hash_ = merges_hash(*bpe_);
  impl_ = std::move(impl);
}

Tokenizer::Tokenizer(std::shared_ptr<const TokenizerImpl> impl, std::string path, std::string content_hash)
    : impl_(std::move(impl)), path_(std::move(path)), content_hash_(std::move(content_hash)) {
  FOMOE_ASSERT(impl_ != nullptr, "Tokenizer without an implementation");
  if (const auto* b = dynamic_cast<const BpeImpl*>(impl_.get())) bpe_ = &b->bpe();
}

bool Tokenizer::operator==(const Tokenizer& o) const {
  if (bpe_ || o.bpe_) return bpe_ && o.bpe_ && *bpe_ == *o.bpe_;
  return kind() == o.kind() && content_hash_ == o.content_hash_ && eod_id() == o.eod_id();
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  impl_->encode_into(text, out, nullptr);
  return out;
}

Expected<Tokenizer> load_tokenizer(const std::string& path, const TokenizerOptions& options) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return make_error(ErrorCode::NotFound, "tokenizer " + path + " does not exist (data.tokenizer names a tokenizer.json, "
                                           "a SentencePiece .model or a FoMoE BPE file)");
  if (!S_ISREG(st.st_mode)) return make_error(ErrorCode::InvalidArgument, "tokenizer " + path + " is not a regular file");
  auto bytes = detail::read_whole_file(path);
  if (!bytes) return bytes.error();
  const std::string hash = hash_text(detail::fnv1a64(*bytes));
  static constexpr char kBpeMagic[8] = {'F', 'O', 'M', 'O', 'E', 'B', 'P', 'E'};
  if (bytes->size() >= sizeof kBpeMagic && std::memcmp(bytes->data(), kBpeMagic, sizeof kBpeMagic) == 0) {
    auto bpe = BpeTokenizer::load(path);
    if (!bpe) return bpe.error();
    if (options.eod_id >= 0 && options.eod_id != bpe->eod_id())
      return make_error(ErrorCode::InvalidArgument, "tokenizer " + path + " is the project's BPE, whose end of document is "
                                                    "its last id " + std::to_string(bpe->eod_id()) + "; data.eos_id = " +
                                                    std::to_string(options.eod_id) + " cannot change it (leave it at -1)");
    return Tokenizer(std::make_shared<const BpeImpl>(std::move(*bpe)), path, hash);
  }
  Expected<std::shared_ptr<const TokenizerImpl>> impl = Error{};
  const size_t first = bytes->find_first_not_of(" \t\r\n");
  if (ends_with(path, ".model")) {
    impl = detail::load_sentencepiece_tokenizer(path, *bytes, options.eod_id);
  } else if (ends_with(path, ".json") || (first != std::string::npos && (*bytes)[first] == '{')) {
    impl = detail::load_hf_json_tokenizer(path, *bytes, options.eod_id);
  } else {
    return make_error(ErrorCode::Unsupported, "tokenizer " + path + " is none of the files the engine reads: a Hugging "
                                              "Face tokenizer.json (*.json), a SentencePiece model (*.model) or the "
                                              "project's BPE file");
  }
  if (!impl) return impl.error();
  return Tokenizer(std::move(*impl), path, hash);
}

Expected<int> tokenizer_vocab_size(const std::string& path, int64_t eod_id) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return load_tokenizer(path).error();  // the NotFound message
  using Key = std::tuple<std::string, int64_t, int64_t, int64_t, int64_t>;
  const Key key{path, static_cast<int64_t>(st.st_size), static_cast<int64_t>(st.st_mtim.tv_sec),
                static_cast<int64_t>(st.st_mtim.tv_nsec), eod_id};
  static std::mutex mu;
  static std::map<Key, Expected<int>> memo;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = memo.find(key); it != memo.end()) return it->second;
  }
  TokenizerOptions options;
  options.eod_id = eod_id;
  auto tok = load_tokenizer(path, options);
  Expected<int> result = tok ? Expected<int>(tok->vocab_size()) : Expected<int>(tok.error());
  std::lock_guard<std::mutex> lock(mu);
  if (memo.size() > 64) memo.clear();
  memo.emplace(key, result);
  return result;
}

}  // namespace fomoe::data
