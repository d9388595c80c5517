// Shards (IID / non-IID coverage, disjointness, balance) and the batch sampler (determinism, resume).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "data_test_util.h"
#include "fomoe/data/batch_sampler.h"
#include "fomoe/data/shard.h"

namespace fomoe::data {
namespace {

std::vector<Shard> all_shards(int n_sites, ShardMode mode, uint64_t seed = 5) {
  std::vector<Shard> shards;
  for (int k = 0; k < n_sites; ++k) {
    auto s = make_shard(test::small_corpus(), n_sites, k, mode, seed);
    EXPECT_TRUE(s.has_value()) << s.error().message;
    if (s) shards.push_back(std::move(*s));
  }
  return shards;
}

void expect_partition(const std::vector<Shard>& shards) {
  const PreparedCorpus& pc = test::small_corpus();
  std::vector<int> owner(pc.train.n_docs(), -1);
  for (const Shard& s : shards) {
    for (uint32_t d : s.doc_ids) {
      ASSERT_LT(d, owner.size());
      EXPECT_EQ(owner[d], -1) << "document " << d << " in two shards";
      owner[d] = s.site;
    }
  }
  EXPECT_EQ(std::count(owner.begin(), owner.end(), -1), 0) << "some train documents in no shard";
}

std::set<uint32_t> sources_of(const Shard& s) {
  std::set<uint32_t> out;
  for (uint32_t d : s.doc_ids) out.insert(test::small_corpus().train.doc(d).source_id);
  return out;
}

TEST(Shard, IidShardsAreDisjointCoverAllAndBalanced) {
  for (int k : {1, 3, 4}) {
    auto shards = all_shards(k, ShardMode::Iid);
    ASSERT_EQ(shards.size(), static_cast<size_t>(k));
    expect_partition(shards);
    uint32_t longest = 0;
    for (uint64_t d = 0; d < test::small_corpus().train.n_docs(); ++d)
      longest = std::max(longest, test::small_corpus().train.doc(d).n_tokens);
    size_t lo = SIZE_MAX, hi = 0;
    for (const Shard& s : shards) {
      lo = std::min(lo, s.tokens->size());
      hi = std::max(hi, s.tokens->size());
      if (k > 1) {
        EXPECT_GE(sources_of(s).size(), 4u) << "IID shard should mix sources";
      }
    }
    EXPECT_LE(hi - lo, longest + 1u) << "greedy balance keeps shards within one document";
  }
}

TEST(Shard, IidAssignmentDependsOnSeedOnly) {
  auto a = make_shard(test::small_corpus(), 3, 1, ShardMode::Iid, 11);
  auto b = make_shard(test::small_corpus(), 3, 1, ShardMode::Iid, 11);
  auto c = make_shard(test::small_corpus(), 3, 1, ShardMode::Iid, 12);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->doc_ids, b->doc_ids);
  EXPECT_EQ(*a->tokens, *b->tokens);
  EXPECT_NE(a->doc_ids, c->doc_ids);
}

TEST(Shard, NonIidWithOneSitePerSourceGivesSiteKSourceK) {
  const int n_sources = static_cast<int>(test::small_corpus().spec.sources.size());
  auto shards = all_shards(n_sources, ShardMode::NonIid);
  ASSERT_EQ(shards.size(), static_cast<size_t>(n_sources));
  expect_partition(shards);
  for (const Shard& s : shards) {
    EXPECT_EQ(sources_of(s), (std::set<uint32_t>{static_cast<uint32_t>(s.site)}));
    for (size_t src = 0; src < s.tokens_per_source.size(); ++src)
      EXPECT_EQ(s.tokens_per_source[src] > 0, static_cast<int>(src) == s.site);
  }
}

TEST(Shard, NonIidWithMoreSitesThanSourcesSplitsSources) {
  auto shards = all_shards(7, ShardMode::NonIid);
  ASSERT_EQ(shards.size(), 7u);
  expect_partition(shards);
  for (const Shard& s : shards) EXPECT_EQ(sources_of(s), (std::set<uint32_t>{static_cast<uint32_t>(s.site % 5)}));
}

TEST(Shard, NonIidWithFewerSitesKeepsEachSourceWhole) {
  auto shards = all_shards(2, ShardMode::NonIid);
  ASSERT_EQ(shards.size(), 2u);
  expect_partition(shards);
  std::set<uint32_t> a = sources_of(shards[0]), b = sources_of(shards[1]);
  for (uint32_t s : a) EXPECT_EQ(b.count(s), 0u) << "source " << s << " on both sites";
  EXPECT_EQ(a.size() + b.size(), 5u);
  EXPECT_FALSE(a.empty());
  EXPECT_FALSE(b.empty());
}

TEST(Shard, StreamIsDocumentsEachFollowedByEod) {
  auto s = make_shard(test::small_corpus(), 2, 0, ShardMode::Iid, 1);
  ASSERT_TRUE(s.has_value());
  const int32_t eod = test::small_corpus().tokenizer.eod_id();
  EXPECT_EQ(static_cast<size_t>(std::count(s->tokens->begin(), s->tokens->end(), eod)), s->doc_ids.size());
  EXPECT_EQ(s->tokens->back(), eod);
  std::vector<int32_t> first = test::small_corpus().train.doc_tokens(s->doc_ids[0]);
  EXPECT_TRUE(std::equal(first.begin(), first.end(), s->tokens->begin()));
}

TEST(Shard, RejectsBadSiteArguments) {
  for (auto [n, k] : {std::pair{0, 0}, std::pair{3, 3}, std::pair{3, -1}}) {
    auto s = make_shard(test::small_corpus(), n, k, ShardMode::Iid, 1);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().code, ErrorCode::InvalidArgument);
  }
  auto empty = make_shard(test::small_corpus(), 100000, 99999, ShardMode::Iid, 1);
  ASSERT_FALSE(empty.has_value());
  EXPECT_NE(empty.error().message.find("no documents"), std::string::npos) << empty.error().message;
}

std::shared_ptr<const std::vector<int32_t>> counting_stream(int n) {
  auto v = std::make_shared<std::vector<int32_t>>(n);
  for (int i = 0; i < n; ++i) (*v)[static_cast<size_t>(i)] = i;
  return v;
}

TEST(BatchSampler, RowsAreContiguousCircularWindows) {
  BatchSampler sampler(counting_stream(50), 3);
  auto batch = sampler.next_batch(/*batch_size=*/6, /*seq_len=*/80);  // longer than the stream: wraps
  ASSERT_EQ(batch.size(), 6u * 81u);
  for (int b = 0; b < 6; ++b)
    for (int t = 1; t <= 80; ++t)
      EXPECT_EQ(batch[static_cast<size_t>(b * 81 + t)], (batch[static_cast<size_t>(b * 81 + t - 1)] + 1) % 50);
  EXPECT_EQ(sampler.state().n_batches, 1u);
}

TEST(BatchSampler, SameSeedSameBatchesDifferentSeedDifferent) {
  auto stream = test::small_corpus().heldout_stream();
  BatchSampler a(stream, 42), b(stream, 42), c(stream, 43);
  for (int i = 0; i < 3; ++i) {
    auto x = a.next_batch(4, 32);
    EXPECT_EQ(x, b.next_batch(4, 32));
    EXPECT_NE(x, c.next_batch(4, 32));
  }
}

TEST(BatchSampler, StateRestoreResumesTheSameSequence) {
  auto shard = make_shard(test::small_corpus(), 2, 1, ShardMode::NonIid, 9);
  ASSERT_TRUE(shard.has_value());
  BatchSampler sampler(shard->tokens, 7);
  for (int i = 0; i < 3; ++i) sampler.next_batch(8, 16);
  SamplerState saved = sampler.state();
  EXPECT_EQ(saved.n_batches, 3u);
  std::vector<std::vector<int32_t>> after;
  for (int i = 0; i < 2; ++i) after.push_back(sampler.next_batch(8, 16));
  // A fresh sampler (as after a restart) with the saved state continues identically.
  BatchSampler resumed(shard->tokens, /*seed=*/999);
  resumed.set_state(saved);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(resumed.next_batch(8, 16), after[static_cast<size_t>(i)]);
  EXPECT_EQ(resumed.state(), sampler.state());
}

TEST(EvalBatches, DeterministicHeldOutWindows) {
  const PreparedCorpus& pc = test::small_corpus();
  auto a = eval_batches(pc, 4, 2, 64, 1);
  auto b = eval_batches(pc, 4, 2, 64, 1);
  auto c = eval_batches(pc, 4, 2, 64, 2);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto held = pc.heldout_stream();
  for (const auto& batch : a) {
    ASSERT_EQ(batch.size(), 2u * 65u);
    // Each row occurs verbatim in the held-out stream.
    for (int r = 0; r < 2; ++r) {
      auto row_begin = batch.begin() + r * 65;
      EXPECT_NE(std::search(held->begin(), held->end(), row_begin, row_begin + 65), held->end());
    }
  }
}

}  // namespace
}  // namespace fomoe::data
