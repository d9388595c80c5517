// Token files other stacks write, read back token for token: the files come from
// tests/data/write_token_files.py (numpy in the project venv, written from the formats' own
// descriptions, not from our reader), with a manifest of what each holds. Then every kind of
// damage a user meets — truncation, a foreign file, a wrong dtype — gives an error that names the
// file and the byte.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fomoe/data/batch_sampler.h"
#include "fomoe/data/mapped_tokens.h"

namespace fomoe::data {
namespace {

namespace fs = std::filesystem;

class MappedTokensTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("fomoe_tokfiles_" + std::to_string(::getpid()))).string();
    const std::string python = std::string(FOMOE_SOURCE_DIR) + "/.venv/bin/python";
    if (!fs::exists(python)) return;
    const std::string cmd = python + " " + FOMOE_SOURCE_DIR + "/tests/data/write_token_files.py " + dir_;
    if (std::system(cmd.c_str()) != 0) return;
    std::ifstream in(dir_ + "/manifest.json");
    manifest_ = nlohmann::json::parse(in);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override {
    if (manifest_.is_null()) GTEST_SKIP() << "the project venv (numpy) could not write the token files; run scripts/install-deps";
  }

  static TokenSourceSpec spec_of(const nlohmann::json& m) {
    TokenSourceSpec s;
    const std::string f = m["format"];
    s.format = f == "megatron" ? TokenFormat::Megatron : f == "tokens" ? TokenFormat::Flat : TokenFormat::Llmc;
    s.path = m["path"];
    s.flat_width = m["width"];
    s.eos_id = m["eos"];
    return s;
  }
  static const nlohmann::json& entry(const std::string& name) {
    for (auto& m : manifest_)
      if (m["name"] == name) return m;
    throw std::runtime_error("no manifest entry " + name);
  }
  /// A damaged copy of `path`: bytes replaced at `offset`, or the file cut to `keep` bytes.
  static std::string damaged(const std::string& path, const std::string& name, long offset, const std::string& bytes,
                             long keep = -1) {
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (offset >= 0) data.replace(static_cast<size_t>(offset), bytes.size(), bytes);
    if (keep >= 0) data.resize(static_cast<size_t>(keep));
    const std::string out = dir_ + "/" + name;
    std::ofstream(out, std::ios::binary) << data;
    return out;
  }
  static std::string error_of(const TokenSourceSpec& s) {
    auto t = MappedTokens::open(s);
    return t ? std::string("(opened)") : t.error().message;
  }

  static std::string dir_;
  static nlohmann::json manifest_;
};
std::string MappedTokensTest::dir_;
nlohmann::json MappedTokensTest::manifest_;

TEST_F(MappedTokensTest, EveryFormatReadsBackTokenForToken) {
  ASSERT_EQ(manifest_.size(), 6u);
  for (const auto& m : manifest_) {
    SCOPED_TRACE(m["name"].get<std::string>());
    auto t = MappedTokens::open(spec_of(m));
    ASSERT_TRUE(t) << t.error().message;
    const auto& want = m["tokens"];
    ASSERT_EQ((*t)->n_tokens(), want.size());
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ((*t)->token(i), want[i].get<int64_t>()) << "token " << i;
    EXPECT_EQ((*t)->width(), m["width"].get<int>());
    const auto starts = (*t)->document_starts();
    EXPECT_EQ(starts, m["doc_starts"].get<std::vector<uint64_t>>());
    if (m["format"] == "megatron") EXPECT_EQ((*t)->n_docs(), 300);
    EXPECT_NE((*t)->describe().find(m["path"].get<std::string>()), std::string::npos) << (*t)->describe();
  }
}

TEST_F(MappedTokensTest, SplitsStartAtDocumentBoundaries) {
  for (const auto& m : manifest_) {
    SCOPED_TRACE(m["name"].get<std::string>());
    auto t = MappedTokens::open(spec_of(m));
    ASSERT_TRUE(t);
    const auto starts = m["doc_starts"].get<std::vector<uint64_t>>();
    auto is_start = [&](uint64_t at) { return at == (*t)->n_tokens() || std::find(starts.begin(), starts.end(), at) != starts.end(); };
    const auto split = split_heldout(*t, 0.1);
    EXPECT_TRUE(is_start(split.train.end)) << split.train.end;
    EXPECT_EQ(split.heldout.begin, split.train.end);
    EXPECT_EQ(split.heldout.end, (*t)->n_tokens());
    EXPECT_NEAR(double(split.heldout.size()) / double((*t)->n_tokens()), 0.1, 0.02);
    uint64_t covered = 0, prev_end = 0;
    for (int k = 0; k < 4; ++k) {
      const auto r = site_range(split.train, 4, k);
      EXPECT_EQ(r.begin, prev_end) << "site " << k;
      EXPECT_TRUE(is_start(r.begin)) << "site " << k << " starts inside a document at " << r.begin;
      EXPECT_GT(r.size(), 0u);
      covered += r.size();
      prev_end = r.end;
    }
    EXPECT_EQ(covered, split.train.size());
  }
}

TEST_F(MappedTokensTest, SamplerReadsWindowsInPlaceAndRefusesIdsOutsideTheVocabulary) {
  auto t = MappedTokens::open(spec_of(entry("megatron uint16")));
  ASSERT_TRUE(t);
  const TokenRange all{*t, 0, (*t)->n_tokens()};
  BatchSampler sampler(range_stream(all), 7);
  const auto batch = sampler.next_batch(4, 16, 320);
  ASSERT_EQ(batch.size(), 4u * 17u);
  for (int32_t id : batch) EXPECT_TRUE(id >= 0 && id < 320);
  BatchSampler small_vocab(range_stream(all), 7);
  try {
    small_vocab.next_batch(4, 16, 50);
    FAIL() << "ids >= 50 were accepted";
  } catch (const std::out_of_range& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("meg16.bin, token "), std::string::npos) << m;
    EXPECT_NE(m.find("outside model.vocab_size = 50"), std::string::npos) << m;
  }
}

TEST_F(MappedTokensTest, DamagedMegatronFilesNameTheFileAndTheByte) {
  const std::string prefix = entry("megatron uint16")["path"];
  const std::string idx = prefix + ".idx", bin = prefix + ".bin";
  auto megatron = [&](const std::string& idx_copy, const std::string& bin_copy) {
    // The reader takes a prefix: put both parts under one new prefix.
    const std::string p = dir_ + "/case";
    fs::copy_file(idx_copy, p + ".idx", fs::copy_options::overwrite_existing);
    fs::copy_file(bin_copy, p + ".bin", fs::copy_options::overwrite_existing);
    TokenSourceSpec s;
    s.format = TokenFormat::Megatron;
    s.path = p;
    return error_of(s);
  };
  auto idx_size = static_cast<long>(fs::file_size(idx));
  auto bin_size = static_cast<long>(fs::file_size(bin));
  std::string e = megatron(damaged(idx, "t.idx", -1, "", idx_size - 8), bin);
  EXPECT_NE(e.find("case.idx: truncated or corrupt Megatron index"), std::string::npos) << e;
  EXPECT_NE(e.find("the file has " + std::to_string(idx_size - 8)), std::string::npos) << e;
  e = megatron(damaged(idx, "t.idx", -1, "", 20), bin);
  EXPECT_NE(e.find("truncated Megatron index: 20 bytes"), std::string::npos) << e;
  e = megatron(damaged(idx, "t.idx", 0, "NOTIDX"), bin);
  EXPECT_NE(e.find("not a Megatron indexed dataset"), std::string::npos) << e;
  e = megatron(damaged(idx, "t.idx", 9, std::string("\x02", 1)), bin);
  EXPECT_NE(e.find("version 2 at byte 9"), std::string::npos) << e;
  e = megatron(damaged(idx, "t.idx", 17, std::string("\x06", 1)), bin);
  EXPECT_NE(e.find("dtype code 6 at byte 17 is a float type"), std::string::npos) << e;
  e = megatron(damaged(idx, "t.idx", 17, std::string("\x0b", 1)), bin);
  EXPECT_NE(e.find("unknown dtype code 11"), std::string::npos) << e;
  e = megatron(idx, damaged(bin, "t.bin", -1, "", bin_size - 2));
  EXPECT_NE(e.find("case.bin: truncated"), std::string::npos) << e;
  EXPECT_NE(e.find("offset " + std::to_string(bin_size - 2)), std::string::npos) << e;
  e = megatron(idx, damaged(bin, "t.bin", bin_size, "xx"));
  EXPECT_NE(e.find("bytes after the last sequence (offset " + std::to_string(bin_size) + ")"), std::string::npos) << e;
  // A pointer that does not follow its predecessor (sequence 1's pointer, after 300 lengths).
  e = megatron(damaged(idx, "t.idx", 34 + 4 * 300 + 8, std::string("\x01\0\0\0\0\0\0\0", 8)), bin);
  EXPECT_NE(e.find("sequence 1 starts at .bin byte 1"), std::string::npos) << e;
  TokenSourceSpec missing;
  missing.path = dir_ + "/nothing";
  e = error_of(missing);
  EXPECT_NE(e.find("nothing.idx: cannot open"), std::string::npos) << e;
}

TEST_F(MappedTokensTest, DamagedFlatAndLlmcFilesNameTheFileAndTheByte) {
  const std::string flat = entry("flat uint16 (nanoGPT)")["path"];
  TokenSourceSpec s;
  s.format = TokenFormat::Flat;
  s.path = damaged(flat, "odd.bin", -1, "", static_cast<long>(fs::file_size(flat)) - 1);
  std::string e = error_of(s);
  EXPECT_NE(e.find("odd.bin: " + std::to_string(fs::file_size(flat) - 1) + " bytes is not a whole number of uint16 tokens"),
            std::string::npos) << e;
  s.path = damaged(flat, "empty.bin", -1, "", 0);
  e = error_of(s);
  EXPECT_NE(e.find("empty.bin: holds no tokens"), std::string::npos) << e;

  const std::string llmc = entry("llm.c v1 uint16")["path"];
  s.format = TokenFormat::Llmc;
  s.path = damaged(llmc, "magic.bin", 0, std::string("\x01\x02\x03\x04", 4));
  e = error_of(s);
  EXPECT_NE(e.find("magic.bin: not an llm.c shard: magic 67305985 at byte 0"), std::string::npos) << e;
  s.path = damaged(llmc, "version.bin", 4, std::string("\x07\0\0\0", 4));
  e = error_of(s);
  EXPECT_NE(e.find("magic 20240520 with version 7 at byte 4"), std::string::npos) << e;
  s.path = damaged(llmc, "short.bin", -1, "", static_cast<long>(fs::file_size(llmc)) - 10);
  e = error_of(s);
  EXPECT_NE(e.find("short.bin: truncated llm.c shard: the header (byte 8) says"), std::string::npos) << e;
  s.path = damaged(llmc, "tiny.bin", -1, "", 100);
  e = error_of(s);
  EXPECT_NE(e.find("tiny.bin: truncated llm.c shard: 100 bytes"), std::string::npos) << e;
}

}  // namespace
}  // namespace fomoe::data
