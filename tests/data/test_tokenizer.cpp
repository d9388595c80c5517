// Tokenizers the engine runs (fomoe/data/tokenizer.h): Hugging Face tokenizer.json files built by
// PyPI `tokenizers` in the test (GPT-2 ByteLevel, Llama 3 / Qwen2 Split + ByteLevel, NFC, the
// other Split behaviours) encode tricky text to exactly the ids `tokenizers` gives; a SentencePiece
// model trained by Debian's spm_train encodes as spm_encode does; round trips; the project's BPE
// through the same interface; damaged or unsupported files refused naming the file and the JSON
// key; the corpus pipeline and the config with data.tokenizer.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "data_test_util.h"
#include "fomoe/config/experiment.h"
#include "fomoe/data/prepared_corpus.h"
#include "fomoe/data/tokenizer.h"

namespace fomoe::data {
namespace {

namespace fs = std::filesystem;

std::string run_capture(const std::string& cmd, int* rc = nullptr) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  if (rc) *rc = status;
  return out;
}

// The tokenizer.json files and what `tokenizers` gives, written once per test process.
class HfTokenizerJson : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("fomoe_hf_tok_" + std::to_string(::getpid()))).string();
    const std::string python = std::string(FOMOE_SOURCE_DIR) + "/.venv/bin/python";
    if (!fs::exists(python)) return;
    int rc = 0;
    run_capture(python + " " + FOMOE_SOURCE_DIR + "/tests/data/write_hf_tokenizers.py " + dir_ + " 2>&1", &rc);
    if (rc != 0) return;
    std::ifstream in(dir_ + "/expected.json");
    expected_ = nlohmann::json::parse(in);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override {
    if (expected_.is_null())
      GTEST_SKIP() << "PyPI tokenizers is not in the project venv (.venv); run scripts/install-deps";
  }
  static Tokenizer load(const std::string& name, int64_t eod = -1) {
    TokenizerOptions o;
    o.eod_id = eod;
    auto t = load_tokenizer(expected_["tokenizers"][name]["path"].get<std::string>(), o);
    EXPECT_TRUE(t) << t.error().message;
    return t ? *t : Tokenizer();
  }
  static std::string dir_;
  static nlohmann::json expected_;
};
std::string HfTokenizerJson::dir_;
nlohmann::json HfTokenizerJson::expected_;

std::string show(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    char b[8];
    if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else std::snprintf(b, sizeof b, "\\x%02x", c), out += b;
  }
  return out;
}

TEST_F(HfTokenizerJson, EncodesTrickyTextTokenForTokenAsTokenizers) {
  const auto& texts = expected_["texts"];
  for (const char* name : {"gpt2", "gpt2-prefix", "llama3", "qwen2", "misc"}) {
    SCOPED_TRACE(name);
    const auto& e = expected_["tokenizers"][name];
    const Tokenizer tok = load(name);
    EXPECT_EQ(tok.kind(), TokenizerKind::HfJson);
    EXPECT_EQ(tok.vocab_size(), e["vocab"].get<int>());
    EXPECT_EQ(tok.eod_id(), e["eos"].get<int>());
    WordCache cache;
    for (size_t i = 0; i < texts.size(); ++i) {
      const std::string text = texts[i].get<std::string>();
      const auto want = e["ids"][i].get<std::vector<int32_t>>();
      EXPECT_EQ(tok.encode(text), want) << name << " text " << i << ": " << show(text);
      std::vector<int32_t> cached;
      tok.encode_into(text, cached, cache);  // the pipeline's path, memoising words across texts
      EXPECT_EQ(cached, want) << name << " text " << i << " (cached)";
      EXPECT_EQ(tok.decode(want), e["decoded"][i].get<std::string>()) << name << " text " << i;
    }
  }
}

TEST_F(HfTokenizerJson, DecodeOfEncodeGivesTheTextBack) {
  // Tokenizers with no normaliser, prefix space or removed pieces, on text without added tokens.
  for (const char* name : {"gpt2", "llama3"}) {
    const Tokenizer tok = load(name);
    for (const auto& t : expected_["texts"]) {
      const std::string text = t.get<std::string>();
      if (text.find("<|") != std::string::npos || text.find("<mask>") != std::string::npos ||
          text.find("[[note]]") != std::string::npos)
        continue;
      EXPECT_EQ(tok.decode(tok.encode(text)), text) << name << ": " << show(text);
    }
  }
  // The end of document decodes to nothing, as the project's BPE's does.
  const Tokenizer tok = load("llama3");
  EXPECT_EQ(tok.decode({tok.eod_id()}), "");
  EXPECT_EQ(tok.token_text(tok.eod_id()), "<|end_of_text|>");
  // Invalid UTF-8 is tokenised as Python's errors="replace" decodes it.
  EXPECT_EQ(tok.encode("a\xff" "b\xe2\x82"), tok.encode("a\xef\xbf\xbd" "b\xef\xbf\xbd"));
}

TEST_F(HfTokenizerJson, EndOfDocumentCanBeChosen) {
  const Tokenizer tok = load("llama3", /*eod=*/5);
  EXPECT_EQ(tok.eod_id(), 5);
  TokenizerOptions o;
  o.eod_id = 1 << 20;
  auto bad = load_tokenizer(expected_["tokenizers"]["llama3"]["path"].get<std::string>(), o);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("data.eos_id"), std::string::npos) << bad.error().message;
}

TEST_F(HfTokenizerJson, CorpusPipelineTokenisesTextWithItAndCachesByContent) {
  test::TempDir cache;
  CorpusSpec spec;
  spec.own.format = "jsonl";
  spec.own.path = dir_ + "/docs.jsonl";
  spec.tokenizer = expected_["tokenizers"]["llama3"]["path"].get<std::string>();
  spec.heldout_fraction = 0.0;
  spec.vocab_size = 1152;  // padded above the tokenizer's 1100, as models often are
  spec.cache_dir = cache.path();
  auto pc = prepare_corpus(spec);
  ASSERT_TRUE(pc) << pc.error().message;
  EXPECT_TRUE(pc->built);
  EXPECT_EQ(pc->tokenizer.kind(), TokenizerKind::HfJson);
  EXPECT_EQ(pc->tokenizer_path, spec.tokenizer);
  EXPECT_EQ(pc->train.vocab_size(), 1100);
  const auto& want = expected_["tokenizers"]["llama3"]["doc_ids"];
  ASSERT_EQ(pc->train.n_docs(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_EQ(pc->train.doc_tokens(i), want[i].get<std::vector<int32_t>>()) << "document " << i;
  EXPECT_FALSE(fs::exists(cache.path() + "/bpe-v1152-" + pc->key + ".bin"));  // no BPE trained
  const std::string key = pc->key;
  // The same spec loads from the cache; a larger model vocabulary reuses the files.
  spec.vocab_size = 2048;
  auto again = prepare_corpus(spec);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->built);
  EXPECT_EQ(again->key, key);
  EXPECT_TRUE(again->tokenizer == pc->tokenizer);
  // Another end of document or another tokenizer's content: another key.
  spec.eos_id = 5;
  auto key_eod = corpus_cache_key(spec);
  ASSERT_TRUE(key_eod);
  EXPECT_NE(*key_eod, key);
  spec.eos_id = -1;
  spec.tokenizer = expected_["tokenizers"]["qwen2"]["path"].get<std::string>();
  auto key_qwen = corpus_cache_key(spec);
  ASSERT_TRUE(key_qwen);
  EXPECT_NE(*key_qwen, key);
  // The stream ends every document with the tokenizer's end of document.
  auto stream = again->heldout_stream();
  EXPECT_TRUE(stream->empty());  // heldout_fraction 0
  auto tok = corpus_tokenizer(spec);
  ASSERT_TRUE(tok) << tok.error().message;
  EXPECT_EQ(tok->eod_id(), expected_["tokenizers"]["qwen2"]["eos"].get<int>());
}

TEST_F(HfTokenizerJson, VocabularyLargerThanTheModelsIsRefusedNamingBothNumbers) {
  test::TempDir cache;
  CorpusSpec spec;
  spec.own.format = "jsonl";
  spec.own.path = dir_ + "/docs.jsonl";
  spec.tokenizer = expected_["tokenizers"]["llama3"]["path"].get<std::string>();
  spec.vocab_size = 1024;
  spec.cache_dir = cache.path();
  auto prepared = prepare_corpus(spec);
  auto loaded = corpus_tokenizer(spec);
  ASSERT_FALSE(prepared);
  ASSERT_FALSE(loaded);
  for (const Error& r : {prepared.error(), loaded.error()}) {
    EXPECT_EQ(r.code, ErrorCode::InvalidArgument);
    for (const std::string& part : {std::string("1024"), std::string("1100"), spec.tokenizer})
      EXPECT_NE(r.message.find(part), std::string::npos) << r.message;
  }
  // The config says it when the experiment is loaded.
  const std::string toml = "[model]\nvocab_size = 1024\n[data]\nformat = \"jsonl\"\npath = \"" + spec.own.path +
                           "\"\ntokenizer = \"" + spec.tokenizer + "\"\n";
  auto cfg = parse_experiment(toml, "tok.toml");
  ASSERT_FALSE(cfg);
  for (const std::string& part : {std::string("model.vocab_size (1024)"), std::string("1100 ids"), spec.tokenizer})
    EXPECT_NE(cfg.error().message.find(part), std::string::npos) << cfg.error().message;
  auto ok = parse_experiment("[model]\nvocab_size = 1100\n[data]\nformat = \"jsonl\"\npath = \"" + spec.own.path +
                                 "\"\ntokenizer = \"" + spec.tokenizer + "\"\n",
                             "tok.toml");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->data.tokenizer, spec.tokenizer);
  // The key round-trips through the canonical TOML.
  auto back = parse_experiment(to_toml(*ok), "canonical");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->data.tokenizer, spec.tokenizer);
  // Token files with a tokenizer (for prompts and decoding): allowed.
  auto tokens = parse_experiment("[model]\nvocab_size = 1100\n[data]\nformat = \"tokens\"\npath = \"x.bin\"\n"
                                 "tokenizer = \"" + spec.tokenizer + "\"\n",
                                 "tok.toml");
  EXPECT_TRUE(tokens) << tokens.error().message;
}

TEST_F(HfTokenizerJson, TextAtASiteIsAllowedWithOneTokenizerForAll) {
  const std::string path = expected_["tokenizers"]["gpt2"]["path"].get<std::string>();
  const std::string base = "[run]\nmethod = \"fomoe\"\n[federation]\nsites = 2\nsite_data_paths = [\"a.txt\", \"b.txt\"]\n"
                           "[data]\nformat = \"text\"\npath = \"a.txt\"\n";
  auto without = parse_experiment(base, "sites.toml");
  ASSERT_FALSE(without);
  EXPECT_NE(without.error().message.find("data.tokenizer"), std::string::npos) << without.error().message;
  auto with = parse_experiment(base + "tokenizer = \"" + path + "\"\n", "sites.toml");
  EXPECT_TRUE(with) << with.error().message;
}

// --- refusals: damaged and unsupported files name the file and the key -------------------------

class TokenizerFiles : public ::testing::Test {
 protected:
  // A minimal valid byte-level BPE tokenizer.json: the 256 byte characters, one merge, <|endoftext|>.
  static nlohmann::json minimal() {
    nlohmann::json vocab = nlohmann::json::object();
    // GPT-2's byte alphabet: printable Latin-1 as itself, the other bytes from U+0100 up.
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const int cp = printable ? b : next++;
      std::string s;
      if (cp < 0x80) s += static_cast<char>(cp);
      else s += static_cast<char>(0xC0 | (cp >> 6)), s += static_cast<char>(0x80 | (cp & 0x3F));
      vocab[s] = b;
    }
    vocab["ab"] = 256;
    return {{"version", "1.0"},
            {"added_tokens",
             nlohmann::json::array({{{"id", 257}, {"content", "<|endoftext|>"}, {"special", true}, {"normalized", false}}})},
            {"normalizer", nullptr},
            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
            {"decoder", {{"type", "ByteLevel"}}},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array({"a b"})}}}};
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_.path() + "/" + name;
    test::write_bytes(path, text);
    return path;
  }
  // The error of loading j, checked to name the file and every part.
  void expect_refused(const nlohmann::json& j, ErrorCode code, std::initializer_list<const char*> parts) {
    const std::string path = write("t" + std::to_string(n_++) + ".json", j.dump());
    auto t = load_tokenizer(path);
    ASSERT_FALSE(t) << j.dump().substr(0, 200);
    EXPECT_EQ(t.error().code, code) << t.error().message;
    EXPECT_NE(t.error().message.find(path), std::string::npos) << t.error().message;
    for (const char* p : parts) EXPECT_NE(t.error().message.find(p), std::string::npos) << t.error().message;
  }
  test::TempDir dir_;
  int n_ = 0;
};

TEST_F(TokenizerFiles, MinimalTokenizerJsonLoads) {
  const std::string path = write("tokenizer.json", minimal().dump());
  auto t = load_tokenizer(path);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->vocab_size(), 258);
  EXPECT_EQ(t->eod_id(), 257);
  EXPECT_EQ(t->encode("ab<|endoftext|>a"), (std::vector<int32_t>{256, 257, 'a'}));
  EXPECT_EQ(t->content_hash().rfind("fnv1a64:", 0), 0u);
  auto v = tokenizer_vocab_size(path);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 258);
}

TEST_F(TokenizerFiles, CorruptOrUnsupportedTokenizerJsonIsRefusedNamingFileAndKey) {
  {
    const std::string path = write("broken.json", "{\"model\": {\"type\": \"BPE\", ");
    auto t = load_tokenizer(path);
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().code, ErrorCode::Corrupt);
    EXPECT_NE(t.error().message.find(path), std::string::npos) << t.error().message;
    EXPECT_NE(t.error().message.find("not JSON"), std::string::npos) << t.error().message;
  }
  auto j = minimal();
  j["model"].erase("vocab");
  expect_refused(j, ErrorCode::Corrupt, {"model.vocab", "missing"});
  j = minimal();
  j["model"]["vocab"] = nlohmann::json::array({1, 2});
  expect_refused(j, ErrorCode::Corrupt, {"model.vocab"});
  j = minimal();
  j["model"].erase("merges");
  expect_refused(j, ErrorCode::Corrupt, {"model.merges"});
  j = minimal();
  j["model"]["merges"] = nlohmann::json::array({"a b", "a zz"});
  expect_refused(j, ErrorCode::Corrupt, {"model.merges[1]", "zz"});
  j = minimal();
  j["model"]["type"] = "WordPiece";
  expect_refused(j, ErrorCode::Unsupported, {"model.type", "WordPiece"});
  j = minimal();
  j["model"]["type"] = "Unigram";
  expect_refused(j, ErrorCode::Unsupported, {"model.type", "Unigram", ".model"});
  j = minimal();
  j.erase("model");
  expect_refused(j, ErrorCode::Corrupt, {"model", "missing"});
  j = minimal();
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers", nlohmann::json::array({{{"type", "NFC"}}, {{"type", "Lowercase"}}})}};
  expect_refused(j, ErrorCode::Unsupported, {"normalizer.normalizers[1].type", "Lowercase"});
  j = minimal();
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xe2\x96\x81"}};
  expect_refused(j, ErrorCode::Unsupported, {"pre_tokenizer.type", "Metaspace"});
  j = minimal();
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers", nlohmann::json::array({{{"type", "Split"},
                                                                  {"pattern", {{"Regex", "(?<!x"}}},
                                                                  {"behavior", "Isolated"}}})}};
  expect_refused(j, ErrorCode::Unsupported, {"pre_tokenizer.pretokenizers[0].pattern.Regex", "PCRE2"});
  j = minimal();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Isolated"}};
  expect_refused(j, ErrorCode::Unsupported, {"pre_tokenizer", "ByteLevel"});
  j = minimal();
  j["decoder"] = nullptr;
  expect_refused(j, ErrorCode::Unsupported, {"decoder"});
  j = minimal();
  j["model"]["dropout"] = 0.1;
  expect_refused(j, ErrorCode::Unsupported, {"model.dropout"});
  j = minimal();
  j["added_tokens"] = nlohmann::json::array();
  expect_refused(j, ErrorCode::InvalidArgument, {"<|endoftext|>", "data.eos_id"});
  j = minimal();
  j["added_tokens"][0].erase("id");
  expect_refused(j, ErrorCode::Corrupt, {"added_tokens[0].id"});
}

TEST_F(TokenizerFiles, FilesThatAreNoTokenizerAreRefused) {
  auto missing = load_tokenizer(dir_.path() + "/nope.json");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
  EXPECT_NE(missing.error().message.find("nope.json"), std::string::npos);
  auto other = load_tokenizer(write("vocab.txt", "hello\n"));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::Unsupported);
  auto spm = load_tokenizer(write("bad.model", "not a protobuf \x01\x02"));
  ASSERT_FALSE(spm);
  EXPECT_NE(spm.error().message.find("bad.model"), std::string::npos) << spm.error().message;
  // The config checks the file when the experiment is loaded.
  auto cfg = parse_experiment("[data]\ntokenizer = \"" + dir_.path() + "/nope.json\"\n", "exp.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("data.tokenizer"), std::string::npos) << cfg.error().message;
  EXPECT_NE(cfg.error().message.find("nope.json"), std::string::npos) << cfg.error().message;
}

TEST_F(TokenizerFiles, TheProjectsBpeThroughTheSameInterface) {
  std::vector<std::string> docs = {"the quick brown fox jumps over the lazy dog", "the dog sleeps; the fox runs",
                                   "über straße 東京 😀 the the the"};
  std::vector<std::string_view> views(docs.begin(), docs.end());
  const BpeTokenizer bpe = BpeTokenizer::train(views, 300);
  const std::string path = dir_.path() + "/bpe.bin";
  ASSERT_TRUE(bpe.save(path));
  auto t = load_tokenizer(path);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->kind(), TokenizerKind::FomoeBpe);
  ASSERT_NE(t->bpe(), nullptr);
  EXPECT_TRUE(*t->bpe() == bpe);
  EXPECT_EQ(t->vocab_size(), 300);
  EXPECT_EQ(t->eod_id(), 299);
  const Tokenizer wrapped(bpe);
  for (const std::string& d : docs) {
    EXPECT_EQ(t->encode(d), bpe.encode(d));
    EXPECT_EQ(wrapped.encode(d), bpe.encode(d));
    EXPECT_EQ(t->decode(t->encode(d)), d);
  }
  EXPECT_EQ(t->decode({t->eod_id()}), "");
  TokenizerOptions o;
  o.eod_id = 5;
  EXPECT_FALSE(load_tokenizer(path, o));  // the project's BPE ends documents with its last id
}

// --- SentencePiece -------------------------------------------------------------------------------

class SentencePieceModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("command -v spm_train > /dev/null 2>&1 && command -v spm_encode > /dev/null 2>&1") != 0) return;
    dir_ = (fs::temp_directory_path() / ("fomoe_spm_" + std::to_string(::getpid()))).string();
    fs::create_directories(dir_);
    std::ofstream corpus(dir_ + "/corpus.txt");
    const std::string fortunes = test::read_bytes("/usr/share/games/fortunes/fortunes");
    corpus << fortunes.substr(0, 200000);
    for (int i = 0; i < 200; ++i) corpus << "Über straße naïve 東京の天気 données 😀 don't " << i << "\n";
    corpus.close();
    // A lossless model (identity normalisation, spaces kept, byte fallback) and a default one.
    const std::string common = " --input=" + dir_ + "/corpus.txt --vocab_size=600 --character_coverage=1.0"
                               " --minloglevel=2 > " + dir_ + "/train.log 2>&1";
    ok_ = std::system(("spm_train --model_prefix=" + dir_ + "/bpe --model_type=bpe --byte_fallback=true"
                       " --normalization_rule_name=identity --remove_extra_whitespaces=false" + common).c_str()) == 0 &&
          std::system(("spm_train --model_prefix=" + dir_ + "/unigram --model_type=unigram" + common).c_str()) == 0;
  }
  static void TearDownTestSuite() {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  void SetUp() override {
    if (!ok_) GTEST_SKIP() << "spm_train / spm_encode not installed (Debian package sentencepiece; scripts/install-deps)";
  }
  static std::string dir_;
  static bool ok_;
};
std::string SentencePieceModel::dir_;
bool SentencePieceModel::ok_ = false;

const std::vector<std::string> kLines = {
    "Hello world", "  two  spaces   here ", "don't stop believing, it's 3.14159 o'clock",
    "ünïcode — “quotes” 東京 😀!", "日本語のテキストとカタカナ、漢字。", "emoji 👩‍👩‍👧‍👦 🇩🇪 🤖", "tabs\tand\tmore",
    "numbers 1234567890 ٣٤٥ ①②", "Straße Größe façade", "unseen characters: ǅ Ꙭ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"};

TEST_F(SentencePieceModel, EncodesAsSpmEncodeAndRoundTrips) {
  for (const char* name : {"bpe", "unigram"}) {
    SCOPED_TRACE(name);
    const std::string model = dir_ + "/" + name + ".model";
    auto tok = load_tokenizer(model);
    ASSERT_TRUE(tok) << tok.error().message;
    EXPECT_EQ(tok->kind(), TokenizerKind::SentencePiece);
    EXPECT_EQ(tok->vocab_size(), 600);
    EXPECT_EQ(tok->eod_id(), 2);  // spm_train's default </s>
    EXPECT_EQ(tok->bos_id(), 1);
    EXPECT_EQ(tok->token_text(tok->eod_id()), "</s>");
    std::ofstream in(dir_ + "/lines.txt");
    for (const auto& l : kLines) in << l << "\n";
    in.close();
    std::istringstream ids(run_capture("spm_encode --model=" + model + " --output_format=id < " + dir_ + "/lines.txt"));
    for (const std::string& line : kLines) {
      std::string want_line;
      std::getline(ids, want_line);
      std::istringstream w(want_line);
      std::vector<int32_t> want;
      for (int32_t v; w >> v;) want.push_back(v);
      EXPECT_EQ(tok->encode(line), want) << line;
      if (std::string(name) == "bpe") {
        EXPECT_EQ(tok->decode(tok->encode(line)), line);  // lossless model
      }
    }
    EXPECT_EQ(tok->decode({tok->eod_id()}), "");
  }
  // Byte fallback: a character the model never saw comes back byte for byte, newlines too.
  auto tok = load_tokenizer(dir_ + "/bpe.model");
  ASSERT_TRUE(tok);
  const std::string text = "line one\nline two\n\n  ǅ𝔘 end";
  EXPECT_EQ(tok->decode(tok->encode(text)), text);
}

TEST_F(SentencePieceModel, CorpusPipelineAndEndOfDocumentOverride) {
  test::TempDir cache;
  const std::string text_dir = cache.path() + "/text";
  fs::create_directories(text_dir);
  for (size_t i = 0; i < kLines.size(); ++i) test::write_bytes(text_dir + "/doc" + std::to_string(i) + ".txt", kLines[i]);
  CorpusSpec spec;
  spec.own.format = "text";
  spec.own.path = text_dir;
  spec.tokenizer = dir_ + "/unigram.model";
  spec.vocab_size = 600;
  spec.heldout_fraction = 0.0;
  spec.cache_dir = cache.path() + "/cache";
  auto pc = prepare_corpus(spec);
  ASSERT_TRUE(pc) << pc.error().message;
  auto tok = load_tokenizer(spec.tokenizer);
  ASSERT_TRUE(tok);
  ASSERT_EQ(pc->train.n_docs(), kLines.size());
  for (size_t i = 0; i < kLines.size(); ++i) EXPECT_EQ(pc->train.doc_tokens(i), tok->encode(kLines[i])) << i;
  spec.eos_id = 3;
  auto other = corpus_tokenizer(spec);
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(other->eod_id(), 3);
  spec.eos_id = 600;
  EXPECT_FALSE(corpus_tokenizer(spec));
  spec.eos_id = -1;
  spec.vocab_size = 599;
  auto small = corpus_tokenizer(spec);
  ASSERT_FALSE(small);
  EXPECT_NE(small.error().message.find("599"), std::string::npos) << small.error().message;
  EXPECT_NE(small.error().message.find("600"), std::string::npos) << small.error().message;
}

}  // namespace
}  // namespace fomoe::data
