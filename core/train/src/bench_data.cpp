#include "fomoe/train/bench_data.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fomoe/train/data_feed.h"
#include "fomoe/train/trainer.h"

namespace fomoe {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct LoaderTime {
  std::string source;
  double batch_s = 0.0;  // one next_batch(), mean
  int batches = 0;
};

// Draws batches for at least a second (and at least 200) and returns the mean time of one.
LoaderTime time_loader(DataFeed& feed, const std::string& source) {
  for (int i = 0; i < 10; ++i) (void)feed.next_batch();  // warm: page cache, allocator
  LoaderTime t{source};
  const auto t0 = Clock::now();
  while (t.batches < 200 || seconds_since(t0) < 1.0) {
    auto b = feed.next_batch();
    (void)b.data_ptr<int64_t>();
    ++t.batches;
  }
  t.batch_s = seconds_since(t0) / t.batches;
  return t;
}

// The built-in corpus's training tokens as a flat uint16 / uint32 file (nanoGPT's layout), each
// document followed by the end-of-document id.
Expected<std::string> write_flat_tokens(const data::PreparedCorpus& corpus, const std::string& path, int width) {
  std::ofstream out(path, std::ios::binary);
  if (!out) return make_error(ErrorCode::Io, "cannot write " + path);
  const int32_t eod = corpus.tokenizer.eod_id();
  for (uint64_t d = 0; d < corpus.train.n_docs(); ++d) {
    auto toks = corpus.train.doc_tokens(d);
    toks.push_back(eod);
    for (int32_t t : toks) {
      const uint32_t v = static_cast<uint32_t>(t);
      out.write(reinterpret_cast<const char*>(&v), width);
    }
  }
  if (!out) return make_error(ErrorCode::Io, "cannot write " + path + " (disk full?)");
  return path;
}

}  // namespace

int bench_data(const ExperimentConfig& cfg_in, const BenchDataOptions& options, std::ostream& out, std::ostream& err) {
  ExperimentConfig cfg = cfg_in;
  cfg.run.device = "cpu";
  auto builtin = DataFeed::open(cfg, 1, 0);
  if (!builtin) {
    err << "fomoe bench data: " << builtin.error().message << "\n";
    return 1;
  }
  std::vector<LoaderTime> loaders;
  loaders.push_back(time_loader(**builtin, std::string(data_format_name(cfg.data.format)) + " (in memory)"));

  // The same tokens as a flat file through mmap (what megatron / tokens / llmc runs read).
  std::string flat_path;
  if (const auto* corpus = (*builtin)->corpus()) {
    const std::string dir = (std::filesystem::temp_directory_path() / ("fomoe-bench-data-" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(dir);
    const int width = cfg.model.vocab_size <= 65536 ? 2 : 4;
    auto path = write_flat_tokens(*corpus, dir + "/train.bin", width);
    if (!path) {
      err << "fomoe bench data: " << path.error().message << "\n";
      return 1;
    }
    flat_path = *path;
    ExperimentConfig flat = cfg;
    flat.data.format = DataFormat::Tokens;
    flat.data.path = flat_path;
    flat.data.token_dtype = width == 2 ? "uint16" : "uint32";
    flat.data.eos_id = corpus->tokenizer.eod_id();
    auto mapped = DataFeed::open(flat, 1, 0);
    if (!mapped) {
      err << "fomoe bench data: " << mapped.error().message << "\n";
      return 1;
    }
    loaders.push_back(time_loader(**mapped, "tokens (mmap, " + std::string(width == 2 ? "uint16" : "uint32") + ")"));
  }

  // A training step on the experiment's model and batch, the batches drawn beforehand.
  Trainer trainer(cfg, residency_from(cfg), torch::kCPU);
  std::vector<torch::Tensor> batches;
  for (int i = 0; i < options.steps + 2; ++i) batches.push_back((*builtin)->next_batch());
  for (int i = 0; i < 2; ++i) (void)trainer.train_step(batches[i]);  // warm-up
  const auto t0 = Clock::now();
  for (int i = 0; i < options.steps; ++i) (void)trainer.train_step(batches[2 + i]);
  const double step_s = seconds_since(t0) / options.steps;
  if (!flat_path.empty()) std::filesystem::remove_all(std::filesystem::path(flat_path).parent_path());

  if (options.json) {
    nlohmann::json j = {{"step_seconds", step_s}, {"batch_size", cfg.train.batch_size}, {"seq_len", cfg.model.seq_len},
                        {"threads", torch::get_num_threads()}};
    for (const auto& l : loaders)
      j["loaders"].push_back({{"source", l.source}, {"batch_seconds", l.batch_s}, {"batches", l.batches},
                              {"share_of_step", l.batch_s / step_s}});
    out << j.dump(2) << "\n";
    return 0;
  }
  char line[256];
  std::snprintf(line, sizeof line, "training step: %.2f ms (batch %d x %d tokens, %ld parameters, %d threads)\n\n",
                step_s * 1e3, cfg.train.batch_size, cfg.model.seq_len, static_cast<long>(trainer.model()->n_parameters()),
                torch::get_num_threads());
  out << line;
  std::snprintf(line, sizeof line, "%-26s %12s %9s %14s\n", "SOURCE", "BATCH (us)", "BATCHES", "SHARE OF STEP");
  out << line;
  for (const auto& l : loaders) {
    std::snprintf(line, sizeof line, "%-26s %12.1f %9d %13.3f%%\n", l.source.c_str(), l.batch_s * 1e6, l.batches,
                  100.0 * l.batch_s / step_s);
    out << line;
  }
  return 0;
}

}  // namespace fomoe
