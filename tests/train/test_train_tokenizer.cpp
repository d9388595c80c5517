// Training on a researcher's own text with their own tokenizer: data.format = "text" and
// data.tokenizer = a tokenizer.json trained by PyPI tokenizers in the test. The corpus is
// tokenised by the engine's runtime of that file (ids checked against tokenizers' own), a short
// single-site run's loss falls, and the run is refused when model.vocab_size is too small.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fomoe/train/data_feed.h"
#include "fomoe/train/single_site.h"

using namespace fomoe;
namespace fs = std::filesystem;

TEST(TrainWithTokenizer, TextTokenisedByATokenizerJsonTrainsAndLossFalls) {
  const std::string python = std::string(FOMOE_SOURCE_DIR) + "/.venv/bin/python";
  if (std::system((python + " -c 'import tokenizers' 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "PyPI tokenizers is not in the project venv; run scripts/install-deps";
  const fs::path dir = fs::path(FOMOE_BINARY_DIR) / ("test-train-tokenizer-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ASSERT_EQ(std::system((python + " " + FOMOE_SOURCE_DIR + "/tests/interop/train_hf_tokenizer.py " + dir.string()).c_str()), 0);
  // The JSONL documents as one text file, documents separated by "----" lines.
  std::ifstream docs(dir / "docs.jsonl");
  std::ofstream text(dir / "notes.txt");
  std::vector<std::string> texts;
  for (std::string line; std::getline(docs, line);) {
    texts.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
    text << texts.back() << (texts.back().back() == '\n' ? "" : "\n") << "----\n";
  }
  text.close();
  std::ifstream ein(dir / "expected.json");
  const auto expected = nlohmann::json::parse(ein);

  ExperimentConfig c;
  c.run.name = "own-tokenizer";
  c.model.vocab_size = 320;  // the tokenizer has 300 ids; the model's table is padded
  c.model.d_model = 32;
  c.model.n_layers = 2;
  c.model.n_heads = 2;
  c.model.seq_len = 32;
  c.model.n_experts = 4;
  c.model.top_k = 2;
  c.model.d_expert = 32;
  c.data.format = DataFormat::Text;
  c.data.path = (dir / "notes.txt").string();
  c.data.separator = "----";
  c.data.tokenizer = (dir / "tokenizer.json").string();
  c.data.heldout_fraction = 0.1;
  c.data.cache_dir = (dir / "cache").string();
  c.train.steps = 80;
  c.train.batch_size = 8;
  c.train.lr = 1e-2;
  c.train.warmup_steps = 5;
  c.train.eval_every = 0;
  c.train.eval_batches = 2;
  ASSERT_TRUE(validate_experiment(c));

  auto feed = DataFeed::open(c, 1, 0);
  ASSERT_TRUE(feed) << feed.error().message;
  const data::PreparedCorpus* corpus = (*feed)->corpus();
  ASSERT_NE(corpus, nullptr);
  EXPECT_EQ(corpus->tokenizer.kind(), data::TokenizerKind::HfJson);
  EXPECT_EQ(corpus->tokenizer.vocab_size(), expected["vocab"].get<int>());
  EXPECT_EQ(corpus->tokenizer.eod_id(), expected["eos"].get<int>());
  for (size_t i = 0; i < texts.size(); ++i)
    ASSERT_EQ(corpus->tokenizer.encode(texts[i]), expected["ids"][i].get<std::vector<int32_t>>()) << i;
  auto manifest = (*feed)->manifest();
  ASSERT_TRUE(manifest) << manifest.error().message;
  const auto m = nlohmann::json::parse(*manifest);
  EXPECT_EQ(m["tokenizer"]["kind"], "hf-tokenizer-json");
  EXPECT_EQ(m["tokenizer"]["hash"], corpus->tokenizer.content_hash());

  auto r = run_single_site(c, nullptr, {});
  ASSERT_TRUE(r) << r.error().message;
  std::printf("train loss %.3f (uniform over 320 ids: %.3f), held-out %.3f, unigram entropy %.3f\n",
              r->final_train_loss, std::log(320.0), r->final_eval_loss, r->unigram_entropy);
  EXPECT_LT(r->final_train_loss, std::log(320.0) - 2.0) << "train loss " << r->final_train_loss;
  EXPECT_LT(r->final_eval_loss, r->unigram_entropy - 0.3)
      << "held-out " << r->final_eval_loss << " vs unigram entropy " << r->unigram_entropy;

  // A model vocabulary smaller than the tokenizer's is refused before anything runs.
  c.model.vocab_size = 256;
  auto st = validate_experiment(c);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("300"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("256"), std::string::npos) << st.error().message;
  fs::remove_all(dir);
}
