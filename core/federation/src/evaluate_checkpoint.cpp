#include "fomoe/federation/evaluate_checkpoint.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "fomoe/federation/global_model.h"
#include "fomoe/train/data_feed.h"

namespace fomoe {

Expected<CheckpointEval> evaluate_checkpoint(const ExperimentConfig& cfg, const std::string& checkpoint_path) {
  if (!std::filesystem::exists(checkpoint_path))
    return make_error(ErrorCode::NotFound, "checkpoint " + checkpoint_path + " does not exist");
  try {
    GlobalModel global(cfg);
    auto round = global.load(checkpoint_path);
    if (!round) return round.error();
    auto feed = DataFeed::open(cfg, /*n_sites=*/1, /*site=*/0);
    if (!feed) return feed.error();
    const auto batches = (*feed)->eval_batches();
    if (batches.empty())
      return make_error(ErrorCode::InvalidArgument, (*feed)->description() + " has no held-out split to evaluate on "
                                                    "(raise data.heldout_fraction)");
    CheckpointEval r;
    r.round = *round;
    r.batches = static_cast<int>(batches.size());
    for (const auto& b : batches) r.tokens += b.size(0) * (b.size(1) - 1);
    r.loss = mean_heldout_loss(global.model(), batches);
    r.perplexity = std::exp(r.loss);
    r.data = (*feed)->description();
    return r;
  } catch (const c10::Error& e) {
    return make_error(ErrorCode::Corrupt, "cannot evaluate " + checkpoint_path + ": " + e.what_without_backtrace());
  }
}

}  // namespace fomoe
