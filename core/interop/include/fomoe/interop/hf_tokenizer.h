// The project's byte-level BPE as a Hugging Face tokenizer: tokenizer.json (a BPE model over
// GPT-2's byte-to-unicode alphabet, with a Split pre-tokenizer whose regex reproduces
// data::pre_tokenize exactly, then ByteLevel) and tokenizer_config.json, so an exported folder
// loads with AutoTokenizer and encodes every text to the ids the engine trained on. A run whose
// data.tokenizer was a tokenizer.json or a SentencePiece model ships that file instead.
#pragma once

#include <string>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/data/bpe_tokenizer.h"
#include "fomoe/data/tokenizer.h"

namespace fomoe::interop {

/// The end-of-document token's text in the exported tokenizer.
inline constexpr const char* kEndOfTextToken = "<|endoftext|>";

/// The regex (Oniguruma syntax, as HF tokenizers runs it) that splits text as data::pre_tokenize.
std::string pre_tokenizer_regex();

/// tokenizer.json's text. InvalidArgument when two merges make the same bytes (a vocabulary HF's
/// BPE, which maps strings to ids, cannot hold).
Expected<std::string> hf_tokenizer_json(const data::BpeTokenizer& tok);

/// Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into dir.
Status write_hf_tokenizer(const data::BpeTokenizer& tok, const std::string& dir, int model_max_length);

struct RunTokenizerFiles {
  std::string note;                // where it came from, for the model card
  std::vector<std::string> files;  // written into dir
};

/// A run's tokenizer into dir as transformers loads it:
///   the project's BPE   -> write_hf_tokenizer
///   a tokenizer.json    -> copied as tokenizer.json, with tokenizer_config.json
///                          (PreTrainedTokenizerFast, its end of document as eos_token, no BOS/EOS
///                          added) and special_tokens_map.json
///   a SentencePiece model -> copied as tokenizer.model, with tokenizer_config.json (LlamaTokenizer,
///                          its bos / eos / unk pieces, add_bos_token = add_eos_token = false)
///                          and special_tokens_map.json
Expected<RunTokenizerFiles> write_run_tokenizer(const data::Tokenizer& tok, const std::string& dir, int model_max_length);

}  // namespace fomoe::interop
