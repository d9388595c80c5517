// Shards: which train documents each site trains on, as one token stream per site.
// Iid: documents in a seeded shuffle go one by one to the site with the fewest tokens so far.
// NonIid (by source): with K sites and S sources (those with train documents),
//   K >= S: site k gets source k % S; the sites sharing a source split its documents as in Iid;
//   K <  S: sources, largest first (ties: lower id), go to the site with the fewest tokens so far.
// So K == S gives site k exactly source k.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "fomoe/base/expected.h"
#include "fomoe/data/prepared_corpus.h"

namespace fomoe::data {

enum class ShardMode { Iid, NonIid };
const char* shard_mode_name(ShardMode mode);

struct Shard {
  int site = 0;
  int n_sites = 1;
  ShardMode mode = ShardMode::Iid;
  std::vector<uint32_t> doc_ids;                   // into corpus.train, ascending
  std::vector<uint64_t> tokens_per_source;         // document tokens (without EOD) per source id
  std::shared_ptr<const std::vector<int32_t>> tokens;  // docs in doc_ids order, each + EOD
};

/// Site index per train document. InvalidArgument if n_sites < 1 or the corpus has no documents.
Expected<std::vector<int>> assign_sites(const TokenFile& train, int n_sites, ShardMode mode, uint64_t seed);

/// InvalidArgument for bad site/n_sites or when the site would get no documents.
Expected<Shard> make_shard(const PreparedCorpus& corpus, int n_sites, int site, ShardMode mode, uint64_t seed);

}  // namespace fomoe::data
