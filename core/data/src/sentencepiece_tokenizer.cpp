// A SentencePiece model (BPE or unigram, as spm_train writes it) through Debian's
// libsentencepiece: encoding, normalisation and decoding are the library's own, so ids equal
// spm_encode's. Encode adds no BOS/EOS (documents are ended by the corpus pipeline).
#include <sentencepiece_processor.h>

#include <cstdio>

#include "tokenizer_impls.h"

namespace fomoe::data::detail {
namespace {

class SentencePieceImpl final : public TokenizerImpl {
 public:
  TokenizerKind kind() const override { return TokenizerKind::SentencePiece; }
  int vocab_size() const override { return sp_.GetPieceSize(); }
  int32_t eod_id() const override { return eod_; }
  int32_t bos_id() const override { return sp_.bos_id(); }
  int32_t unk_id() const override { return sp_.unk_id(); }
  void encode_into(std::string_view text, std::vector<int32_t>& out, WordCache*) const override {
    std::vector<int> ids;
    const auto st = sp_.Encode(text, &ids);
    FOMOE_ASSERT(st.ok(), "SentencePiece Encode failed on a loaded model: " + st.ToString());
    out.insert(out.end(), ids.begin(), ids.end());
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::vector<int> known;
    known.reserve(ids.size());
    for (int32_t t : ids)
      if (t >= 0 && t < sp_.GetPieceSize()) known.push_back(t);
    std::string out;
    const auto st = sp_.Decode(known, &out);
    FOMOE_ASSERT(st.ok(), "SentencePiece Decode failed on known ids: " + st.ToString());
    return out;
  }
  std::string token_bytes(int32_t id) const override {
    if (id < 0 || id >= sp_.GetPieceSize() || sp_.IsControl(id)) return "";
    const std::string& piece = sp_.IdToPiece(id);
    unsigned byte = 0;
    if (sp_.IsByte(id) && std::sscanf(piece.c_str(), "<0x%2X>", &byte) == 1) return std::string(1, static_cast<char>(byte));
    std::string out;
    static const std::string kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space
    for (size_t i = 0; i < piece.size();) {
      if (piece.compare(i, kSpace.size(), kSpace) == 0) {
        out += ' ';
        i += kSpace.size();
      } else {
        out += piece[i++];
      }
    }
    return out;
  }
  std::string token_text(int32_t id) const override {
    return id >= 0 && id < sp_.GetPieceSize() ? sp_.IdToPiece(id) : std::string();
  }

  sentencepiece::SentencePieceProcessor sp_;
  int32_t eod_ = -1;
};

}  // namespace

Expected<std::shared_ptr<const TokenizerImpl>> load_sentencepiece_tokenizer(const std::string& path,
                                                                            const std::string& bytes, int64_t eod_id) {
  auto impl = std::make_shared<SentencePieceImpl>();
  if (const auto st = impl->sp_.LoadFromSerializedProto(bytes); !st.ok())
    return make_error(ErrorCode::Corrupt, "tokenizer " + path + " is not a SentencePiece model (" + st.ToString() + ")");
  const int n = impl->sp_.GetPieceSize();
  if (eod_id >= 0) {
    if (eod_id >= n)
      return make_error(ErrorCode::InvalidArgument, "data.eos_id = " + std::to_string(eod_id) + " is outside the " +
                                                        std::to_string(n) + " pieces of tokenizer " + path);
    impl->eod_ = static_cast<int32_t>(eod_id);
  } else if (impl->sp_.eos_id() >= 0) {
    impl->eod_ = impl->sp_.eos_id();
  } else {
    return make_error(ErrorCode::InvalidArgument, "tokenizer " + path + " has no eos piece (trained with --eos_id=-1); "
                                                  "set data.eos_id to the id that ends a document");
  }
  return std::shared_ptr<const TokenizerImpl>(std::move(impl));
}

}  // namespace fomoe::data::detail
