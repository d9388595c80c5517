#include "fomoe/interop/hf_tokenizer.h"

#include <array>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "write_text.h"
#include <unordered_map>

namespace fomoe::interop {

using detail::write_text;

namespace {

// GPT-2's reversible byte -> unicode map: printable Latin-1 bytes stand for themselves, the rest
// take code points from 256 upwards, so every byte string is a printable string.
const std::array<std::string, 256>& byte_to_unicode() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    auto utf8 = [](uint32_t cp) {
      std::string s;
      if (cp < 0x80) {
        s += static_cast<char>(cp);
      } else if (cp < 0x800) {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        s += static_cast<char>(0xE0 | (cp >> 12));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
      }
      return s;
    };
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = utf8(printable ? b : next++);
    }
    return t;
  }();
  return table;
}

std::string encode_bytes(const std::string& bytes) {
  std::string s;
  for (unsigned char c : bytes) s += byte_to_unicode()[c];
  return s;
}


}  // namespace

std::string pre_tokenizer_regex() {
  // The classes of data::pre_tokenize (bpe_tokenizer.cpp, classify): ASCII whitespace; ASCII digits;
  // letters = ASCII letters and every non-ASCII code point outside the listed punctuation and
  // symbol blocks; other = the rest. Alternatives in its order: an optional single space and a run
  // of one class; a whitespace run that leaves its final ' ' to the word after it; a whitespace run.
  const std::string space = " \\t\\n\\r\\x0B\\f";
  const std::string letter =
      "A-Za-z\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1FFF}\\x{2C00}-\\x{2FFF}\\x{3040}-\\x{D7FF}"
      "\\x{E000}-\\x{FE2F}\\x{FE50}-\\x{FEFF}\\x{FF21}-\\x{1EFFF}";
  return " ?[" + letter + "]+| ?[0-9]+| ?[^" + space + "0-9" + letter + "]+|[" + space + "]+(?= [^" + space + "])|[" +
         space + "]+";
}

Expected<std::string> hf_tokenizer_json(const data::BpeTokenizer& tok) {
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  std::unordered_map<std::string, int32_t> seen;
  const int32_t eod = tok.eod_id();
  for (int32_t id = 0; id < eod; ++id) {
    const std::string s = encode_bytes(tok.token_bytes(id));
    auto [it, fresh] = seen.emplace(s, id);
    if (!fresh)
      return make_error(ErrorCode::InvalidArgument, "tokens " + std::to_string(it->second) + " and " + std::to_string(id) +
                                                        " are the same bytes; a Hugging Face BPE vocabulary cannot hold both");
    vocab[s] = id;
  }
  nlohmann::ordered_json merges = nlohmann::ordered_json::array();
  for (const auto& [a, b] : tok.merges())
    merges.push_back(encode_bytes(tok.token_bytes(a)) + " " + encode_bytes(tok.token_bytes(b)));

  nlohmann::ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = {{{"id", eod}, {"content", kEndOfTextToken}, {"single_word", false}, {"lstrip", false},
                        {"rstrip", false}, {"normalized", false}, {"special", true}}};
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"Regex", pre_tokenizer_regex()}}}, {"behavior", "Isolated"}, {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}};
  j["post_processor"] = nullptr;
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  j["model"] = {{"type", "BPE"},           {"dropout", nullptr},        {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
                {"byte_fallback", false},  {"ignore_merges", false},    {"vocab", vocab},
                {"merges", merges}};
  return j.dump(1);
}

Status write_hf_tokenizer(const data::BpeTokenizer& tok, const std::string& dir, int model_max_length) {
  auto json = hf_tokenizer_json(tok);
  if (!json) return json.error();
  if (auto st = write_text(dir + "/tokenizer.json", *json); !st) return st;
  nlohmann::ordered_json config = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                                   {"model_max_length", model_max_length},
                                   {"bos_token", nullptr},
                                   {"eos_token", kEndOfTextToken},
                                   {"unk_token", nullptr},
                                   {"add_bos_token", false},
                                   {"add_eos_token", false},
                                   {"clean_up_tokenization_spaces", false},
                                   {"added_tokens_decoder",
                                    {{std::to_string(tok.eod_id()),
                                      {{"content", kEndOfTextToken}, {"lstrip", false}, {"normalized", false},
                                       {"rstrip", false}, {"single_word", false}, {"special", true}}}}}};
  if (auto st = write_text(dir + "/tokenizer_config.json", config.dump(2) + "\n"); !st) return st;
  nlohmann::ordered_json special = {{"eos_token", kEndOfTextToken}};
  return write_text(dir + "/special_tokens_map.json", special.dump(2) + "\n");
}

}  // namespace fomoe::interop

namespace fomoe::interop {

Expected<RunTokenizerFiles> write_run_tokenizer(const data::Tokenizer& tok, const std::string& dir, int model_max_length) {
  RunTokenizerFiles out;
  if (tok.bpe()) {
    if (auto st = write_hf_tokenizer(*tok.bpe(), dir, model_max_length); !st) return st.error();
    out.note = "the run's byte-level BPE (" + std::to_string(tok.vocab_size()) + " ids)";
    out.files = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"};
    return out;
  }
  const bool spm = tok.kind() == data::TokenizerKind::SentencePiece;
  const std::string target = spm ? "tokenizer.model" : "tokenizer.json";
  std::error_code ec;
  std::filesystem::copy_file(tok.path(), dir + "/" + target, std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) return make_error(ErrorCode::Io, "cannot copy " + tok.path() + " to " + dir + "/" + target + ": " + ec.message());
  auto piece = [&](int32_t id) { return id >= 0 ? nlohmann::ordered_json(tok.token_text(id)) : nlohmann::ordered_json(nullptr); };
  nlohmann::ordered_json config = {{"tokenizer_class", spm ? "LlamaTokenizer" : "PreTrainedTokenizerFast"},
                                   {"model_max_length", model_max_length},
                                   {"bos_token", piece(tok.bos_id())},
                                   {"eos_token", piece(tok.eod_id())},
                                   {"unk_token", piece(tok.unk_id())},
                                   {"add_bos_token", false},
                                   {"add_eos_token", false},
                                   {"clean_up_tokenization_spaces", false}};
  if (spm) {
    config["legacy"] = true;  // the SentencePiece model's own encoding, nothing added around special tokens
    config["sp_model_kwargs"] = nlohmann::ordered_json::object();
  }
  if (auto st = write_text(dir + "/tokenizer_config.json", config.dump(2) + "\n"); !st) return st.error();
  nlohmann::ordered_json special = nlohmann::ordered_json::object();
  for (const char* k : {"bos_token", "eos_token", "unk_token"})
    if (!config[k].is_null()) special[k] = config[k];
  if (auto st = write_text(dir + "/special_tokens_map.json", special.dump(2) + "\n"); !st) return st.error();
  out.note = std::string(spm ? "the run's SentencePiece model " : "the run's tokenizer.json ") + tok.path() + " (" +
             std::to_string(tok.vocab_size()) + " ids, end of document " + std::to_string(tok.eod_id()) + ")";
  out.files = {target, "tokenizer_config.json", "special_tokens_map.json"};
  return out;
}

}  // namespace fomoe::interop
