// The kinds of tokenizer behind fomoe/data/tokenizer.h, each loaded from a file's bytes already
// read (so the content hash and the loaded tokenizer are of the same bytes).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "fomoe/base/expected.h"
#include "fomoe/data/tokenizer.h"

namespace fomoe::data::detail {

/// A Hugging Face tokenizer.json (hf_json_tokenizer.cpp); eod_id -1 = its own end of text.
Expected<std::shared_ptr<const TokenizerImpl>> load_hf_json_tokenizer(const std::string& path, const std::string& bytes,
                                                                      int64_t eod_id);
/// A SentencePiece model (sentencepiece_tokenizer.cpp); eod_id -1 = the model's eos id.
Expected<std::shared_ptr<const TokenizerImpl>> load_sentencepiece_tokenizer(const std::string& path,
                                                                            const std::string& bytes, int64_t eod_id);

}  // namespace fomoe::data::detail
