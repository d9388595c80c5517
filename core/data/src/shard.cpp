// Site assignment of train documents (IID by seeded shuffle, non-IID by source) and shard streams.
#include "fomoe/data/shard.h"

#include <algorithm>
#include <numeric>

#include "data_hash.h"

namespace fomoe::data {
namespace {

std::vector<uint32_t> shuffled(std::vector<uint32_t> v, uint64_t seed) {
  uint64_t rng = detail::mix64(seed ^ 0x5348415244ULL);  // "SHARD"
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[detail::uniform_below(rng, i)]);
  return v;
}

// Gives each document (in order) to the least-loaded site of `sites` (ties: lowest site).
void balance(const TokenFile& train, const std::vector<uint32_t>& docs, const std::vector<int>& sites,
             std::vector<uint64_t>& load, std::vector<int>& site_of) {
  for (uint32_t d : docs) {
    int best = sites[0];
    for (int s : sites)
      if (load[static_cast<size_t>(s)] < load[static_cast<size_t>(best)]) best = s;
    site_of[d] = best;
    load[static_cast<size_t>(best)] += train.doc(d).n_tokens + 1;
  }
}

}  // namespace

const char* shard_mode_name(ShardMode mode) { return mode == ShardMode::Iid ? "iid" : "non-iid"; }

Expected<std::vector<int>> assign_sites(const TokenFile& train, int n_sites, ShardMode mode, uint64_t seed) {
  if (n_sites < 1) return make_error(ErrorCode::InvalidArgument, "n_sites must be >= 1, got " + std::to_string(n_sites));
  if (train.n_docs() == 0)
    return make_error(ErrorCode::InvalidArgument, "train file " + train.path() + " has no documents to shard");
  const uint32_t n_docs = static_cast<uint32_t>(train.n_docs());
  std::vector<int> site_of(n_docs, -1);
  std::vector<uint64_t> load(static_cast<size_t>(n_sites), 0);
  std::vector<int> all_sites(static_cast<size_t>(n_sites));
  std::iota(all_sites.begin(), all_sites.end(), 0);

  if (mode == ShardMode::Iid) {
    std::vector<uint32_t> order(n_docs);
    std::iota(order.begin(), order.end(), 0u);
    balance(train, shuffled(std::move(order), seed), all_sites, load, site_of);
    return site_of;
  }

  // Non-IID: documents grouped by source (only sources that have train documents count).
  std::vector<std::vector<uint32_t>> by_source(train.n_sources());
  std::vector<uint64_t> source_tokens(train.n_sources(), 0);
  for (uint32_t d = 0; d < n_docs; ++d) {
    DocEntry e = train.doc(d);
    by_source[e.source_id].push_back(d);
    source_tokens[e.source_id] += e.n_tokens + 1;
  }
  std::vector<uint32_t> present;
  for (uint32_t s = 0; s < by_source.size(); ++s)
    if (!by_source[s].empty()) present.push_back(s);
  const int n_present = static_cast<int>(present.size());

  if (n_sites >= n_present) {
    // Site k takes source present[k % S]; the sites sharing a source split it like IID.
    for (int idx = 0; idx < n_present; ++idx) {
      std::vector<int> sites;
      for (int k = idx; k < n_sites; k += n_present) sites.push_back(k);
      uint32_t s = present[static_cast<size_t>(idx)];
      balance(train, shuffled(by_source[s], seed + s), sites, load, site_of);
    }
    return site_of;
  }
  // Fewer sites than sources: whole sources, largest first, to the least-loaded site.
  std::vector<uint32_t> order = present;
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return source_tokens[a] > source_tokens[b]; });
  for (uint32_t s : order) {
    int best = 0;
    for (int k = 1; k < n_sites; ++k)
      if (load[static_cast<size_t>(k)] < load[static_cast<size_t>(best)]) best = k;
    for (uint32_t d : by_source[s]) site_of[d] = best;
    load[static_cast<size_t>(best)] += source_tokens[s];
  }
  return site_of;
}

Expected<Shard> make_shard(const PreparedCorpus& corpus, int n_sites, int site, ShardMode mode, uint64_t seed) {
  if (site < 0 || site >= n_sites)
    return make_error(ErrorCode::InvalidArgument,
                      "site " + std::to_string(site) + " outside [0, " + std::to_string(n_sites) + ")");
  auto site_of = assign_sites(corpus.train, n_sites, mode, seed);
  if (!site_of) return site_of.error();
  Shard shard;
  shard.site = site;
  shard.n_sites = n_sites;
  shard.mode = mode;
  shard.tokens_per_source.assign(corpus.train.n_sources(), 0);
  for (uint32_t d = 0; d < site_of->size(); ++d) {
    if ((*site_of)[d] != site) continue;
    shard.doc_ids.push_back(d);
    DocEntry e = corpus.train.doc(d);
    shard.tokens_per_source[e.source_id] += e.n_tokens;
  }
  if (shard.doc_ids.empty()) {
    return make_error(ErrorCode::InvalidArgument,
                      "site " + std::to_string(site) + " of " + std::to_string(n_sites) + " gets no documents (" +
                          shard_mode_name(mode) + " split of " + std::to_string(corpus.train.n_docs()) +
                          " documents); use fewer sites or more data");
  }
  shard.tokens = std::make_shared<const std::vector<int32_t>>(
      concat_documents(corpus.train, shard.doc_ids, corpus.tokenizer.eod_id()));
  return shard;
}

}  // namespace fomoe::data
