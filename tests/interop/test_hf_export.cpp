// Models out: the global model exported as a Hugging Face folder and loaded by transformers (in the
// project venv) exactly as a user would. Checked against the engine on the same tokens: no
// missing, unexpected or mismatched weights, logits within 1e-4 (fp32), the same 32-token greedy
// continuation, and AutoTokenizer encoding every text to the engine's BPE ids. Plus the
// safetensors reader's and the exporter's errors on damaged input.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fomoe/federation/global_model.h"
#include "fomoe/interop/hf_export.h"
#include "fomoe/interop/hf_names.h"
#include "fomoe/interop/safetensors.h"
#include "fomoe/model/generate.h"
#include "fomoe/train/data_feed.h"

namespace fomoe::interop {
namespace {

namespace fs = std::filesystem;

struct Variant {
  std::string name;
  GateMode gate;
  bool shared;
  int moe_every;
};
const std::vector<Variant> kVariants = {
    {"keep", GateMode::Keep, false, 1},                  // gates as routed: norm_topk_prob = false
    {"renorm-shared-sparse2", GateMode::Renormalize, true, 2},  // renormalised, shared expert, dense layers
    {"reroute-shared", GateMode::Reroute, true, 1},
};

ExperimentConfig variant_config(const Variant& v) {
  ExperimentConfig c;
  c.run.name = "hf-" + v.name;
  c.run.method = Method::FoMoE;
  c.run.device = "cpu";
  c.model.vocab_size = 320;
  c.model.d_model = 32;
  c.model.n_layers = 3;
  c.model.n_heads = 2;
  c.model.seq_len = 48;
  c.model.n_experts = 4;
  c.model.top_k = 2;
  c.model.d_expert = 24;
  c.model.gate = v.gate;
  c.model.shared_expert = v.shared;
  c.model.moe_every = v.moe_every;
  c.data.max_bytes = 60000;
  c.data.cache_dir = std::string(FOMOE_BINARY_DIR) + "/test-data-cache";
  c.source_text = to_toml(c);
  return c;
}

const std::vector<std::string> kTexts = {
    "Hello  world!\n\n  foo 123abc",
    "  x",
    "\t\tx ",
    "ünïcode — “quotes” 東京 😀!",
    "a  \n b",
    "don't stop believing, it's 3.14159 o'clock",
    "x\r\ny\f\vz",
    "Q: What is a hacker?\nA: Someone who enjoys exploring the details of programmable systems.",
    "Wer nicht wagt, der nicht gewinnt. ¿Qué tal? Più o meno.",
    "   trailing spaces   ",
};

std::vector<std::vector<int64_t>> fixed_ids() {
  std::vector<std::vector<int64_t>> ids(2);
  for (int i = 0; i < 20; ++i) {
    ids[0].push_back((i * 37 + 11) % 320);
    ids[1].push_back((i * 101 + 5) % 320);
  }
  return ids;
}
const std::vector<int64_t> kPrompt = {3, 141, 59, 26, 53, 58, 97, 93};

class HfExport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::path(FOMOE_BINARY_DIR) / "test-hf-export";
    fs::remove_all(root_);
    fs::create_directories(root_);
    nlohmann::json jobs = nlohmann::json::array();
    for (const auto& v : kVariants) {
      auto cfg = variant_config(v);
      GlobalModel g(cfg);
      {
        // Move every parameter off its initial value (norms start at exactly 1), so a tensor
        // mapped to the wrong place or a dropped scale shows in the logits.
        torch::NoGradGuard ng;
        auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
        for (auto& p : g.model()->named_parameters()) p.value().add_(at::randn(p.value().sizes(), gen) * 0.05);
      }
      const std::string ckpt = (root_ / (v.name + ".pt")).string();
      ASSERT_TRUE(g.save(ckpt, 3));
      const std::string dir = (root_ / v.name).string();
      auto r = export_hf(cfg, ckpt, dir);
      ASSERT_TRUE(r) << r.error().message;
      results_[v.name] = *r;
      jobs.push_back({{"dir", dir}, {"out", dir + "/parity.json"}, {"ids", fixed_ids()}, {"prompt", kPrompt},
                      {"new_tokens", 32}, {"texts", kTexts}});
    }
    const std::string python = std::string(FOMOE_SOURCE_DIR) + "/.venv/bin/python";
    if (!fs::exists(python)) return;
    if (std::system((python + " -c 'import transformers' 2>/dev/null").c_str()) != 0) return;
    const std::string jobs_path = (root_ / "jobs.json").string();
    std::ofstream(jobs_path) << jobs.dump();
    const std::string cmd = python + " " + FOMOE_SOURCE_DIR + "/tests/interop/hf_parity.py " + jobs_path + " > " +
                            (root_ / "python.log").string() + " 2>&1";
    python_ok_ = std::system(cmd.c_str()) == 0;
    ASSERT_TRUE(python_ok_) << "hf_parity.py failed; see " << (root_ / "python.log");
  }
  void SetUp() override {
    if (!python_ok_) GTEST_SKIP() << "transformers is not in the project venv; run scripts/install-deps";
  }
  static nlohmann::json parity(const Variant& v) {
    std::ifstream in(root_ / v.name / "parity.json");
    return nlohmann::json::parse(in);
  }
  static fs::path root_;
  static bool python_ok_;
  static std::map<std::string, HfExportResult> results_;
};
fs::path HfExport::root_;
bool HfExport::python_ok_ = false;
std::map<std::string, HfExportResult> HfExport::results_;

TEST_F(HfExport, TransformersLoadsEveryWeightAndGivesTheEngineLogits) {
  for (const auto& v : kVariants) {
    SCOPED_TRACE(v.name);
    auto j = parity(v);
    EXPECT_EQ(j["class"], "Qwen2MoeForCausalLM");
    EXPECT_TRUE(j["missing"].empty()) << j["missing"].dump();
    EXPECT_TRUE(j["unexpected"].empty()) << j["unexpected"].dump();
    EXPECT_TRUE(j["mismatched"].empty()) << j["mismatched"].dump();
    auto cfg = variant_config(v);
    GlobalModel g(cfg);
    ASSERT_TRUE(g.load((root_ / (v.name + ".pt")).string()));
    g.model()->eval();
    torch::NoGradGuard ng;
    std::vector<int64_t> flat;
    for (const auto& row : fixed_ids()) flat.insert(flat.end(), row.begin(), row.end());
    auto ids = at::tensor(flat, at::kLong).view({2, 20});
    auto engine = g.model()->forward(ids).logits_BTV.reshape(-1);
    auto hf = at::tensor(j["logits"].get<std::vector<float>>());
    ASSERT_EQ(hf.numel(), engine.numel());
    const double max_diff = (engine - hf).abs().max().item<double>();
    EXPECT_LT(max_diff, 1e-4) << "transformers " << j["transformers"];
    EXPECT_GT(engine.abs().max().item<double>(), 0.1);  // not a trivially zero model
  }
}

TEST_F(HfExport, GreedyContinuationIsTheEngines) {
  for (const auto& v : kVariants) {
    SCOPED_TRACE(v.name);
    auto cfg = variant_config(v);
    GlobalModel g(cfg);
    ASSERT_TRUE(g.load((root_ / (v.name + ".pt")).string()));
    SamplingOptions o;
    o.greedy = true;
    o.max_new_tokens = 32;
    const auto engine = generate(g.model(), kPrompt, o);
    EXPECT_EQ(engine, parity(v)["greedy"].get<std::vector<int64_t>>());
  }
}

TEST_F(HfExport, AutoTokenizerEncodesTextToTheEnginesIds) {
  const auto& v = kVariants[0];
  auto corpus = data::prepare_corpus(corpus_spec_from(variant_config(v)));
  ASSERT_TRUE(corpus) << corpus.error().message;
  auto j = parity(v);
  EXPECT_EQ(j["eos_token_id"].get<int>(), corpus->tokenizer.eod_id());
  ASSERT_EQ(j["encoded"].size(), kTexts.size());
  for (size_t i = 0; i < kTexts.size(); ++i) {
    std::vector<int64_t> engine;
    for (int32_t t : corpus->tokenizer.encode(kTexts[i])) engine.push_back(t);
    EXPECT_EQ(j["encoded"][i].get<std::vector<int64_t>>(), engine) << "text " << i << ": " << kTexts[i];
    EXPECT_EQ(j["decoded"][i].get<std::string>(), kTexts[i]);
  }
  EXPECT_TRUE(results_[v.name].tokenizer_written);
}

TEST_F(HfExport, SafetensorsFileIsValidAndHoldsTheMappedTensors) {
  const auto& v = kVariants[1];
  auto f = SafetensorsFile::open((root_ / v.name / "model.safetensors").string());
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->metadata().at("format"), "pt");
  // moe_every = 2: layer 0 and 2 dense, layer 1 MoE with its shared expert (down doubled).
  EXPECT_TRUE(f->entries().count("model.layers.0.mlp.gate_proj.weight"));
  EXPECT_TRUE(f->entries().count("model.layers.1.mlp.experts.3.down_proj.weight"));
  EXPECT_EQ(f->entries().at("model.layers.1.mlp.shared_expert_gate.weight").shape, (std::vector<int64_t>{1, 32}));
  auto cfg = variant_config(v);
  GlobalModel g(cfg);
  ASSERT_TRUE(g.load((root_ / (v.name + ".pt")).string()));
  auto bytes = f->read("model.layers.1.mlp.shared_expert.down_proj.weight");
  ASSERT_TRUE(bytes);
  auto hf = at::from_blob(bytes->data(), {32, 24}, at::kFloat);
  auto engine = g.parameter("layers.1.moe.shared.w_out");
  EXPECT_TRUE(at::equal(hf, engine * 2));
  EXPECT_EQ(results_[v.name].parameters, g.model()->n_parameters() + 3 * (3 * 32) + 32);  // + zero q/k/v biases, gate
}

// Damaged files are refused with the file and the place.
TEST(Safetensors, DamagedFilesAreRefusedWithFileAndPlace) {
  const auto dir = fs::path(FOMOE_BINARY_DIR) / "test-safetensors";
  fs::create_directories(dir);
  const std::string good = (dir / "good.safetensors").string();
  std::vector<float> a(6, 1.5f), b(4, -2.f);
  ASSERT_TRUE(write_safetensors(good, {{"a", "F32", {2, 3}, a.data(), 24}, {"b", "F32", {4}, b.data(), 16}}));
  auto f = SafetensorsFile::open(good);
  ASSERT_TRUE(f) << f.error().message;
  auto ra = f->read("a");
  ASSERT_TRUE(ra);
  EXPECT_EQ(std::memcmp(ra->data(), a.data(), 24), 0);
  std::string bytes;
  {
    std::ifstream in(good, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_EQ(bytes.size() % 8, 0u);  // header padded so the data is aligned
  auto expect_corrupt = [&](const std::string& name, const std::string& content, const std::string& needle) {
    const std::string p = (dir / name).string();
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
    auto r = SafetensorsFile::open(p);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code, ErrorCode::Corrupt) << name;
    EXPECT_NE(r.error().message.find(p), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  expect_corrupt("truncated.safetensors", bytes.substr(0, bytes.size() - 4), "bytes");
  expect_corrupt("tiny.safetensors", bytes.substr(0, 5), "shorter than");
  std::string huge = bytes;
  huge[6] = 0x7f;  // header length far beyond the file
  expect_corrupt("huge-header.safetensors", huge, "header length");
  std::string bad_json = bytes;
  bad_json[8] = '[';
  expect_corrupt("bad-json.safetensors", bad_json, "");
  std::string padded = bytes + std::string(8, '\0');
  expect_corrupt("padded.safetensors", padded, "after the last tensor");
  // Overlapping ranges: b claims a's bytes.
  std::string overlap = bytes;
  const auto pos = overlap.find("[24,40]");
  ASSERT_NE(pos, std::string::npos) << overlap.substr(8, 200);
  overlap.replace(pos, 7, "[ 8,24]");
  expect_corrupt("overlap.safetensors", overlap, "overlaps");
}

TEST(HfExportErrors, DamagedCheckpointAndUnwritableFolderAreNamed) {
  const auto dir = fs::path(FOMOE_BINARY_DIR) / "test-hf-export-errors";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto cfg = variant_config(kVariants[0]);
  const std::string ckpt = (dir / "bad.pt").string();
  std::ofstream(ckpt) << "not a checkpoint";
  auto r = export_hf(cfg, ckpt, (dir / "out").string());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(ckpt), std::string::npos) << r.error().message;
  auto missing = export_hf(cfg, (dir / "nope.pt").string(), (dir / "out").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
  GlobalModel g(cfg);
  const std::string good = (dir / "good.pt").string();
  ASSERT_TRUE(g.save(good, 1));
  std::ofstream(dir / "file") << "x";
  auto unwritable = export_hf(cfg, good, (dir / "file" / "sub").string());
  ASSERT_FALSE(unwritable);
  EXPECT_EQ(unwritable.error().code, ErrorCode::Io);
  // Token files carry no tokenizer: the folder is written without one, and says so.
  auto tokens_cfg = cfg;
  tokens_cfg.data.format = DataFormat::Tokens;
  auto no_tok = export_hf(tokens_cfg, good, (dir / "no-tokenizer").string());
  ASSERT_TRUE(no_tok) << no_tok.error().message;
  EXPECT_FALSE(no_tok->tokenizer_written);
  EXPECT_FALSE(fs::exists(dir / "no-tokenizer" / "tokenizer.json"));
  EXPECT_TRUE(fs::exists(dir / "no-tokenizer" / "model.safetensors"));
}

}  // namespace
}  // namespace fomoe::interop
