// BpeTokenizer: pre-tokenizer, exact round trips, compression, determinism, file errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "data_test_util.h"
#include "fomoe/data/bpe_tokenizer.h"
#include "fomoe/data/corpus_source.h"

namespace fomoe::data {
namespace {

using test::TempDir;

const char* const kSamples[] = {
    "The quick brown fox jumps over the lazy dog.  It's 2024!\n\tIndented -- quote.",
    "Über Straßenbahnhöfe läuft Äpfelmus; Größe: 42 cm. „Anführungszeichen“",
    "¿Dónde está el niño? ¡Mañana! Corazón, pingüino y acción.",
    "Perché è così? Città, più, però — l'Italia è bella... «virgolette»",
    "emoji 😀 CJK 漢字 tabs\t\tand\r\nCRLF   trailing spaces   ",
};

// A tokenizer trained once on the real multilingual text (capped).
const BpeTokenizer& trained() {
  static BpeTokenizer tok = [] {
    std::vector<std::string> docs;
    for (const char* name : {"fortunes-en", "fortunes-de", "fortunes-es", "fortunes-it"}) {
      auto d = read_source_documents(*find_source(name), "/usr/share", 50000);
      EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().message);
      if (d) docs.insert(docs.end(), d->begin(), d->end());
    }
    std::vector<std::string_view> views(docs.begin(), docs.end());
    return BpeTokenizer::train(views, 1024);
  }();
  return tok;
}

TEST(PreTokenize, SplitsLikeGpt2AndConcatenatesBack) {
  std::string text = "Hello world, it's 123 apples!!\n\n  Über  x";
  auto parts = pre_tokenize(text);
  std::vector<std::string> got(parts.begin(), parts.end());
  std::vector<std::string> want = {"Hello", " world", ",", " it", "'", "s", " 123", " apples", "!!", "\n\n ",
                                   " Über", " ", " x"};
  EXPECT_EQ(got, want);
  std::string joined;
  for (auto p : parts) joined += p;
  EXPECT_EQ(joined, text);
}

TEST(PreTokenize, CoversInvalidUtf8ByteForByte) {
  std::string text = "ab\xff\xfe c\xc3 d\xe2\x82";
  std::string joined;
  for (auto p : pre_tokenize(text)) joined += p;
  EXPECT_EQ(joined, text);
}

TEST(BpeTokenizer, RoundTripsEnglishGermanSpanishItalian) {
  const BpeTokenizer& tok = trained();
  EXPECT_EQ(tok.vocab_size(), 1024);
  EXPECT_EQ(tok.n_merges(), 1024 - 257);
  for (const char* s : kSamples) {
    std::vector<int32_t> ids = tok.encode(s);
    EXPECT_EQ(tok.decode(ids), s);
    EXPECT_LT(ids.size(), std::string(s).size()) << "no merge applied to: " << s;
    for (int32_t id : ids) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, tok.eod_id());
    }
  }
}

TEST(BpeTokenizer, RoundTripsArbitraryBytes) {
  const BpeTokenizer& tok = trained();
  std::mt19937 rng(7);
  std::unordered_map<std::string, std::vector<int32_t>> cache;
  for (int i = 0; i < 300; ++i) {
    std::string s(rng() % 200, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 256);
    EXPECT_EQ(tok.decode(tok.encode(s)), s);
    std::vector<int32_t> cached;
    tok.encode_into(s, cached, cache);
    EXPECT_EQ(cached, tok.encode(s));
  }
  EXPECT_TRUE(tok.encode("").empty());
}

TEST(BpeTokenizer, EndOfDocumentIsLastIdAndDecodesToNothing) {
  const BpeTokenizer& tok = trained();
  EXPECT_EQ(tok.eod_id(), 1023);
  std::vector<int32_t> ids = tok.encode("ab");
  ids.push_back(tok.eod_id());
  EXPECT_EQ(tok.decode(ids), "ab");
}

TEST(BpeTokenizer, TrainingIsDeterministicAndOrderIndependent) {
  auto d = read_source_documents(*find_source("fortunes-en"), "/usr/share", 30000);
  ASSERT_TRUE(d.has_value());
  std::vector<std::string_view> views(d->begin(), d->end());
  BpeTokenizer a = BpeTokenizer::train(views, 600);
  BpeTokenizer b = BpeTokenizer::train(views, 600);
  std::reverse(views.begin(), views.end());
  BpeTokenizer c = BpeTokenizer::train(views, 600);
  EXPECT_EQ(a.merges(), b.merges());
  EXPECT_EQ(a.merges(), c.merges());
  TempDir dir;
  ASSERT_TRUE(a.save(dir.path() + "/a.bin"));
  ASSERT_TRUE(c.save(dir.path() + "/c.bin"));
  EXPECT_EQ(test::read_bytes(dir.path() + "/a.bin"), test::read_bytes(dir.path() + "/c.bin"));
}

TEST(BpeTokenizer, FirstMergesAreFrequentEnglishPairs) {
  std::vector<std::string_view> docs = {"the the the then", " the cat the hat"};
  BpeTokenizer tok = BpeTokenizer::train(docs, 260);
  ASSERT_EQ(tok.n_merges(), 3);
  // "th" and "he" both occur 6 times (" t" 5): the tie goes to the smaller pair, "he".
  EXPECT_EQ(tok.token_bytes(256), "he");
  EXPECT_EQ(tok.decode(tok.encode("the hat")), "the hat");
}

TEST(BpeTokenizer, StopsEarlyOnTinyTextAndStillRoundTrips) {
  std::vector<std::string_view> docs = {"abab"};
  BpeTokenizer tok = BpeTokenizer::train(docs, 1000);
  EXPECT_EQ(tok.vocab_size(), 1000);
  EXPECT_EQ(tok.n_merges(), 1);  // "ab" twice; then "ab ab" occurs once only
  EXPECT_EQ(tok.eod_id(), 999);
  EXPECT_EQ(tok.encode("abab"), (std::vector<int32_t>{256, 256}));
  EXPECT_EQ(tok.decode(tok.encode("xyz abab")), "xyz abab");
}

TEST(BpeTokenizer, SaveLoadKeepsEncoding) {
  const BpeTokenizer& tok = trained();
  TempDir dir;
  std::string path = dir.path() + "/tok.bin";
  ASSERT_TRUE(tok.save(path));
  auto loaded = BpeTokenizer::load(path);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  EXPECT_TRUE(*loaded == tok);
  for (const char* s : kSamples) EXPECT_EQ(loaded->encode(s), tok.encode(s));
}

TEST(BpeTokenizer, LoadRejectsCorruptTruncatedAndMissingFiles) {
  const BpeTokenizer& tok = trained();
  TempDir dir;
  std::string path = dir.path() + "/tok.bin";
  ASSERT_TRUE(tok.save(path));
  std::string good = test::read_bytes(path);

  std::string flipped = good;
  flipped[100] ^= 0x5a;
  test::write_bytes(path, flipped);
  auto r = BpeTokenizer::load(path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Corrupt);
  EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("checksum"), std::string::npos) << r.error().message;

  test::write_bytes(path, good.substr(0, good.size() / 2));
  r = BpeTokenizer::load(path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Corrupt);
  EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(path), std::string::npos);

  test::write_bytes(path, "hello");
  r = BpeTokenizer::load(path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Corrupt);

  std::string wrong_magic = good;
  wrong_magic[0] = 'X';
  test::write_bytes(path, wrong_magic);
  r = BpeTokenizer::load(path);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("magic"), std::string::npos) << r.error().message;

  r = BpeTokenizer::load(dir.path() + "/missing.bin");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::NotFound);
  EXPECT_NE(r.error().message.find("missing.bin"), std::string::npos);
}

}  // namespace
}  // namespace fomoe::data
