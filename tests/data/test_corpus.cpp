// Sources, prepare_corpus (split, cache, determinism), token files and their error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "data_test_util.h"
#include "fomoe/data/corpus_source.h"
#include "fomoe/data/prepared_corpus.h"
#include "fomoe/data/token_file.h"

namespace fomoe::data {
namespace {

using test::TempDir;

std::string decode_doc(const PreparedCorpus& pc, const TokenFile& f, uint64_t i) {
  return pc.tokenizer.decode(f.doc_tokens(i));
}

TEST(CorpusSource, SplitsFortunesOnPercentLines) {
  auto docs = split_fortunes("first\nline two\n%\n\n%\nsecond\r\n%\r\nthird 100%\n");
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0], "first\nline two");
  EXPECT_EQ(docs[1], "second");
  EXPECT_EQ(docs[2], "third 100%");
}

TEST(CorpusSource, ReadsEveryRegisteredSourceWithACap) {
  for (const SourceInfo& s : source_registry()) {
    auto docs = read_source_documents(s, "/usr/share", 20000);
    ASSERT_TRUE(docs.has_value()) << docs.error().message;
    ASSERT_FALSE(docs->empty()) << s.name;
    size_t bytes = 0;
    for (const std::string& d : *docs) {
      EXPECT_FALSE(d.empty());
      EXPECT_EQ(d.find("\n%\n"), std::string::npos) << s.name;
      bytes += d.size();
    }
    EXPECT_GE(bytes, 20000u);
    EXPECT_LT(bytes - docs->back().size(), 20000u) << "read past the cap: " << s.name;
  }
}

TEST(CorpusSource, JargonEntriesStartWithTheirHeadword) {
  auto docs = read_source_documents(*find_source("jargon"), "/usr/share", 0);
  ASSERT_TRUE(docs.has_value()) << docs.error().message;
  EXPECT_GT(docs->size(), 2000u);
  bool found_kluge = false;
  for (const std::string& d : *docs) {
    EXPECT_EQ(d.find("00-database"), std::string::npos);
    if (d.rfind("kluge\n", 0) == 0) found_kluge = true;
  }
  EXPECT_TRUE(found_kluge);
}

TEST(CorpusSource, MissingSourceNamesPathAndPackage) {
  TempDir dir;
  CorpusSpec spec = test::small_spec(dir.path() + "/cache");
  spec.source_root = dir.path() + "/no-such-root";
  spec.sources = {"fortunes-de"};
  auto pc = prepare_corpus(spec);
  ASSERT_FALSE(pc.has_value());
  EXPECT_EQ(pc.error().code, ErrorCode::NotFound);
  const std::string& m = pc.error().message;
  EXPECT_NE(m.find(dir.path() + "/no-such-root/games/fortunes/de"), std::string::npos) << m;
  EXPECT_NE(m.find("apt-get install fortunes-de"), std::string::npos) << m;

  spec.sources = {"jargon"};
  pc = prepare_corpus(spec);
  ASSERT_FALSE(pc.has_value());
  EXPECT_NE(pc.error().message.find("jargon.dict.dz"), std::string::npos) << pc.error().message;
  EXPECT_NE(pc.error().message.find("dict-jargon"), std::string::npos) << pc.error().message;
}

TEST(CorpusSpec, RejectsUnknownOrDuplicateSourcesAndBadNumbers) {
  TempDir dir;
  CorpusSpec spec = test::small_spec(dir.path());
  spec.sources = {"fortunes-en", "klingon"};
  auto pc = prepare_corpus(spec);
  ASSERT_FALSE(pc.has_value());
  EXPECT_EQ(pc.error().code, ErrorCode::InvalidArgument);
  EXPECT_NE(pc.error().message.find("klingon"), std::string::npos);
  EXPECT_NE(pc.error().message.find("fortunes-it"), std::string::npos) << "should list known sources";
  spec.sources = {"jargon", "jargon"};
  EXPECT_FALSE(prepare_corpus(spec).has_value());
  spec = test::small_spec(dir.path());
  spec.vocab_size = 100;
  EXPECT_FALSE(prepare_corpus(spec).has_value());
  spec = test::small_spec(dir.path());
  spec.heldout_fraction = 0.9;
  EXPECT_FALSE(prepare_corpus(spec).has_value());
}

TEST(PreparedCorpus, HeldOutAndTrainShareNoDocument) {
  const PreparedCorpus& pc = test::small_corpus();
  ASSERT_GT(pc.heldout.n_docs(), 10u);
  ASSERT_GT(pc.train.n_docs(), pc.heldout.n_docs());
  std::set<std::string> train_texts;
  for (uint64_t i = 0; i < pc.train.n_docs(); ++i) train_texts.insert(decode_doc(pc, pc.train, i));
  for (uint64_t i = 0; i < pc.heldout.n_docs(); ++i) {
    std::string text = decode_doc(pc, pc.heldout, i);
    EXPECT_EQ(train_texts.count(text), 0u) << "held-out document also in train: " << text.substr(0, 80);
    EXPECT_TRUE(is_heldout(text, pc.spec.seed, pc.spec.heldout_fraction));
  }
  double frac = static_cast<double>(pc.heldout.n_docs()) / static_cast<double>(pc.train.n_docs() + pc.heldout.n_docs());
  EXPECT_NEAR(frac, pc.spec.heldout_fraction, 0.05);
}

TEST(PreparedCorpus, EverySourceIsPresentAndStatsAddUp) {
  const PreparedCorpus& pc = test::small_corpus();
  auto stats = pc.source_stats();
  ASSERT_EQ(stats.size(), pc.spec.sources.size());
  uint64_t tokens = 0, docs = 0;
  for (size_t i = 0; i < stats.size(); ++i) {
    EXPECT_EQ(stats[i].name, pc.spec.sources[i]);
    EXPECT_GT(stats[i].train_docs, 0u) << stats[i].name;
    EXPECT_GE(stats[i].bytes(), 60000u) << stats[i].name;
    EXPECT_LT(stats[i].bytes(), 80000u) << stats[i].name;
    EXPECT_GT(stats[i].bytes(), stats[i].tokens()) << "BPE should compress " << stats[i].name;
    tokens += stats[i].train_tokens;
    docs += stats[i].train_docs;
  }
  EXPECT_EQ(tokens, pc.train.n_tokens());
  EXPECT_EQ(docs, pc.train.n_docs());
  // Document text survives the file: decoded bytes match the recorded byte count.
  for (uint64_t i = 0; i < pc.train.n_docs(); i += 97)
    EXPECT_EQ(decode_doc(pc, pc.train, i).size(), pc.train.doc(i).n_bytes);
}

TEST(PreparedCorpus, MergesCompressHeldOutEnglish) {
  TempDir dir;
  CorpusSpec spec = test::small_spec(dir.path());
  spec.sources = {"fortunes-en"};
  spec.max_bytes = 400000;
  auto pc = prepare_corpus(spec);
  ASSERT_TRUE(pc.has_value()) << pc.error().message;
  auto stats = pc->source_stats();
  ASSERT_GT(stats[0].heldout_tokens, 1000u);
  double bytes_per_token = static_cast<double>(stats[0].heldout_bytes) / static_cast<double>(stats[0].heldout_tokens);
  EXPECT_GT(bytes_per_token, 2.0);
}

TEST(PreparedCorpus, SecondCallLoadsFromCache) {
  TempDir dir;
  CorpusSpec spec = test::small_spec(dir.path());
  spec.sources = {"fortunes-es", "jargon"};
  auto first = prepare_corpus(spec);
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_TRUE(first->built);
  auto second = prepare_corpus(spec);
  ASSERT_TRUE(second.has_value()) << second.error().message;
  EXPECT_FALSE(second->built);
  EXPECT_EQ(second->key, first->key);
  EXPECT_TRUE(second->tokenizer == first->tokenizer);
  EXPECT_EQ(second->train.n_tokens(), first->train.n_tokens());
  // A different spec gets different files.
  spec.vocab_size = 512;
  auto other = prepare_corpus(spec);
  ASSERT_TRUE(other.has_value());
  EXPECT_TRUE(other->built);
  EXPECT_NE(other->key, first->key);
  EXPECT_NE(other->train_path, first->train_path);
}

TEST(PreparedCorpus, SameSpecGivesIdenticalFiles) {
  TempDir a, b;
  auto pa = prepare_corpus(test::small_spec(a.path()));
  auto pb = prepare_corpus(test::small_spec(b.path()));
  ASSERT_TRUE(pa.has_value() && pb.has_value());
  EXPECT_EQ(pa->key, pb->key);
  for (auto member : {&PreparedCorpus::tokenizer_path, &PreparedCorpus::train_path, &PreparedCorpus::heldout_path}) {
    std::string x = test::read_bytes((*pa).*member), y = test::read_bytes((*pb).*member);
    EXPECT_FALSE(x.empty());
    EXPECT_EQ(x, y) << (*pa).*member;
  }
}

TEST(PreparedCorpus, TruncatedOrCorruptTokenFileIsReportedWithPath) {
  TempDir dir;
  CorpusSpec spec = test::small_spec(dir.path());
  spec.sources = {"fortunes-it"};
  auto built = prepare_corpus(spec);
  ASSERT_TRUE(built.has_value());
  const std::string train_path = built->train_path;
  const std::string good = test::read_bytes(train_path);
  built = Error{};  // unmap before rewriting

  test::write_bytes(train_path, good.substr(0, good.size() - 7));
  auto pc = prepare_corpus(spec);
  ASSERT_FALSE(pc.has_value());
  EXPECT_EQ(pc.error().code, ErrorCode::Corrupt);
  EXPECT_NE(pc.error().message.find(train_path), std::string::npos) << pc.error().message;
  EXPECT_NE(pc.error().message.find("truncated"), std::string::npos) << pc.error().message;
  EXPECT_NE(pc.error().message.find("delete it to rebuild"), std::string::npos) << pc.error().message;

  std::string flipped = good;
  flipped[flipped.size() - 3] ^= 0x01;
  test::write_bytes(train_path, flipped);
  pc = prepare_corpus(spec);
  ASSERT_FALSE(pc.has_value());
  EXPECT_EQ(pc.error().code, ErrorCode::Corrupt);
  EXPECT_NE(pc.error().message.find("checksum"), std::string::npos) << pc.error().message;

  test::write_bytes(train_path, good.substr(0, 10));
  pc = prepare_corpus(spec);
  ASSERT_FALSE(pc.has_value());
  EXPECT_NE(pc.error().message.find("truncated"), std::string::npos) << pc.error().message;

  // Deleting it, as the message says, rebuilds.
  std::filesystem::remove(train_path);
  pc = prepare_corpus(spec);
  ASSERT_TRUE(pc.has_value()) << pc.error().message;
  EXPECT_TRUE(pc->built);
  EXPECT_EQ(test::read_bytes(train_path), good);
}

TEST(PreparedCorpus, CorruptTokenizerInCacheIsReported) {
  TempDir dir;
  CorpusSpec spec = test::small_spec(dir.path());
  spec.sources = {"fortunes-es"};
  auto built = prepare_corpus(spec);
  ASSERT_TRUE(built.has_value());
  std::string path = built->tokenizer_path;
  std::string bytes = test::read_bytes(path);
  bytes[30] ^= 0x10;
  test::write_bytes(path, bytes);
  auto pc = prepare_corpus(spec);
  ASSERT_FALSE(pc.has_value());
  EXPECT_EQ(pc.error().code, ErrorCode::Corrupt);
  EXPECT_NE(pc.error().message.find(path), std::string::npos) << pc.error().message;
}

TEST(TokenFile, WritesWideTokensForLargeVocabularies) {
  TempDir dir;
  std::string path = dir.path() + "/wide.tok";
  std::vector<int32_t> tokens = {0, 70000, 99999, 5, 6};
  std::vector<DocEntry> docs = {{0, 3, 10, 0, 0}, {3, 2, 4, 1, 0}};
  ASSERT_TRUE(TokenFile::write(path, 100000, 2, docs, tokens));
  auto f = TokenFile::open(path);
  ASSERT_TRUE(f.has_value()) << f.error().message;
  EXPECT_EQ(f->token_width(), 4);
  EXPECT_EQ(f->n_docs(), 2u);
  EXPECT_EQ(f->doc_tokens(0), (std::vector<int32_t>{0, 70000, 99999}));
  EXPECT_EQ(f->doc(1).source_id, 1u);
  EXPECT_EQ(f->doc(1).n_bytes, 4u);
}

TEST(TokenFile, RejectsDocumentsOutsideTheTokenArea) {
  TempDir dir;
  std::string path = dir.path() + "/bad.tok";
  ASSERT_TRUE(TokenFile::write(path, 1024, 1, {{2, 5, 1, 0, 0}}, {1, 2, 3}));
  auto f = TokenFile::open(path);
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().code, ErrorCode::Corrupt);
  EXPECT_NE(f.error().message.find(path), std::string::npos);
  auto missing = TokenFile::open(dir.path() + "/none.tok");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
}

TEST(UnigramEntropy, MatchesClosedForms) {
  EXPECT_DOUBLE_EQ(unigram_entropy(std::vector<int32_t>{}), 0.0);
  EXPECT_DOUBLE_EQ(unigram_entropy(std::vector<int32_t>{3, 3, 3}), 0.0);
  EXPECT_NEAR(unigram_entropy(std::vector<int32_t>{0, 1, 2, 3, 0, 1, 2, 3}), std::log(4.0), 1e-12);
  EXPECT_NEAR(unigram_entropy(std::vector<int32_t>{0, 0, 0, 1}), -(0.75 * std::log(0.75) + 0.25 * std::log(0.25)),
              1e-12);
  const PreparedCorpus& pc = test::small_corpus();
  double h = unigram_entropy(pc.train);
  EXPECT_GT(h, 3.0);
  EXPECT_LT(h, std::log(static_cast<double>(pc.spec.vocab_size)));
}

}  // namespace
}  // namespace fomoe::data
