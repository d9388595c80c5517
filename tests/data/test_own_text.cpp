// A researcher's own text as a corpus (data.format = "text" | "jsonl"): files written by a short
// Python script in the project venv (a folder of notes, a gzip'd JSONL with domains, broken
// JSONL), read back document for document, prepared like the built-in texts, and each bad input
// giving its error with file and line.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "fomoe/data/own_text.h"
#include "fomoe/data/prepared_corpus.h"
#include "fomoe/data/shard.h"

namespace fomoe::data {
namespace {

namespace fs = std::filesystem;

class OwnTextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("fomoe_own_text_" + std::to_string(::getpid()))).string();
    const std::string python = std::string(FOMOE_SOURCE_DIR) + "/.venv/bin/python";
    if (!fs::exists(python)) return;
    const std::string cmd = python + " " + FOMOE_SOURCE_DIR + "/tests/data/write_own_text.py " + dir_;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return;
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    if (pclose(p) == 0) manifest_ = nlohmann::json::parse(out);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override {
    if (manifest_.is_null()) GTEST_SKIP() << "the project venv could not write the text files; run scripts/install-deps";
  }
  static std::string dir_;
  static nlohmann::json manifest_;
};
std::string OwnTextTest::dir_;
nlohmann::json OwnTextTest::manifest_;

TEST_F(OwnTextTest, AFolderOfTextFilesReadsBackDocumentForDocument) {
  OwnTextSpec s;
  s.format = "text";
  s.path = manifest_["notes"];
  auto docs = read_own_documents(s, 0);
  ASSERT_TRUE(docs) << docs.error().message;
  // Sorted by path: many.txt first (one document without a separator), then note0..4.
  ASSERT_EQ(docs->texts.size(), 6u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(docs->texts[static_cast<size_t>(i + 1)], manifest_["note_docs"][i].get<std::string>());
  EXPECT_EQ(docs->source_names.size(), 6u);  // a source per file
  EXPECT_EQ(docs->source_names[1], "note0.txt");
  s.separator = "----";
  docs = read_own_documents(s, 0);
  ASSERT_TRUE(docs);
  ASSERT_EQ(docs->texts.size(), 4u + 5u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(docs->texts[static_cast<size_t>(i)], manifest_["many_parts"][i].get<std::string>() + "\n");
  s.path = std::string(manifest_["notes"]) + "/note*.txt";  // a glob
  docs = read_own_documents(s, 0);
  ASSERT_TRUE(docs);
  EXPECT_EQ(docs->texts.size(), 5u);
}

TEST_F(OwnTextTest, GzippedJsonlWithDomainsBecomesSourcesAndNonIidShards) {
  OwnTextSpec s;
  s.format = "jsonl";
  s.path = manifest_["jsonl"];
  s.domain_field = "source";
  auto docs = read_own_documents(s, 0);
  ASSERT_TRUE(docs) << docs.error().message;
  const auto& rows = manifest_["rows"];
  ASSERT_EQ(docs->texts.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(docs->texts[i], rows[i]["text"].get<std::string>()) << i;
    EXPECT_EQ(docs->source_names[docs->source[i]], rows[i]["source"].get<std::string>()) << i;
  }
  EXPECT_EQ(docs->source_names, (std::vector<std::string>{"wiki", "code", "news"}));

  // Prepared like the built-in texts: BPE, token files, cached; a non-IID split gives each of
  // three sites one domain.
  CorpusSpec spec;
  spec.own = s;
  spec.vocab_size = 300;
  spec.heldout_fraction = 0.1;
  spec.cache_dir = dir_ + "/cache";
  auto corpus = prepare_corpus(spec);
  ASSERT_TRUE(corpus) << corpus.error().message;
  EXPECT_TRUE(corpus->built);
  EXPECT_EQ(corpus->spec.sources, docs->source_names);
  EXPECT_EQ(corpus->train.n_docs() + corpus->heldout.n_docs(), rows.size());
  auto again = prepare_corpus(spec);  // from the cache, sources included
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->built);
  EXPECT_EQ(again->spec.sources, docs->source_names);
  for (int site = 0; site < 3; ++site) {
    auto shard = make_shard(*again, 3, site, ShardMode::NonIid, 1);
    ASSERT_TRUE(shard) << shard.error().message;
    int sources_used = 0;
    for (auto t : shard->tokens_per_source) sources_used += t > 0;
    EXPECT_EQ(sources_used, 1) << "site " << site;
  }
}

TEST_F(OwnTextTest, BadInputNamesTheFileAndLine) {
  OwnTextSpec s;
  s.format = "jsonl";
  s.path = dir_ + "/bad_json.jsonl";
  auto r = read_own_documents(s, 0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("bad_json.jsonl:3: not JSON"), std::string::npos) << r.error().message;
  s.path = dir_ + "/no_field.jsonl";
  r = read_own_documents(s, 0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no_field.jsonl:2: no string field \"text\""), std::string::npos) << r.error().message;
  s.path = manifest_["jsonl"];
  s.domain_field = "lang";
  r = read_own_documents(s, 0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("corpus.jsonl.gz:1: no string field \"lang\""), std::string::npos) << r.error().message;
  s.path = dir_ + "/nowhere";
  r = read_own_documents(s, 0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("data.path " + dir_ + "/nowhere: no such file or folder"), std::string::npos);
  s.path = dir_ + "/empty";
  r = read_own_documents(s, 0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("the folder holds no files"), std::string::npos) << r.error().message;
  s.path = dir_ + "/*.nothing";
  r = read_own_documents(s, 0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("the pattern matches no file"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace fomoe::data
