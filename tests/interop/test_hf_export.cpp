// Models out: the global model exported as a Hugging Face folder and loaded by transformers (in the
// project venv) exactly as a user would. Checked against the engine on the same tokens: no
// missing, unexpected or mismatched weights, logits within 1e-4 (fp32), the same 32-token greedy
// continuation, and AutoTokenizer encoding every text to the engine's BPE ids. Plus the
// safetensors reader's and the exporter's errors on damaged input.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "fomoe/federation/global_model.h"
#include "fomoe/data/mapped_tokens.h"
#include "fomoe/interop/hf_export.h"
#include "fomoe/interop/hf_import.h"
#include "fomoe/interop/hf_names.h"
#include "fomoe/interop/safetensors.h"
#include "fomoe/model/generate.h"
#include "fomoe/train/data_feed.h"
#include "fomoe/train/trainer.h"

namespace fomoe::interop {
namespace {

namespace fs = std::filesystem;

struct Variant {
  std::string name;
  GateMode gate;
  bool shared;
  int moe_every;
  int kv_heads = 0;  // 0: MHA
  bool tied = false;
};
const std::vector<Variant> kVariants = {
    {"keep", GateMode::Keep, false, 1},                  // gates as routed: norm_topk_prob = false
    {"renorm-shared-sparse2", GateMode::Renormalize, true, 2},  // renormalised, shared expert, dense layers
    {"reroute-shared", GateMode::Reroute, true, 1},
    {"gqa-tied", GateMode::Renormalize, false, 1, 1, true},  // 4 query heads on 1 kv head, tied head
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
  if (v.kv_heads) c.model.n_heads = 4;  // head dim 8, 4 query heads sharing kv_heads
  c.model.n_kv_heads = v.kv_heads;
  c.model.tie_embeddings = v.tied;
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
    // Per process: ctest runs every test of this suite as its own process, in parallel.
    root_ = fs::path(FOMOE_BINARY_DIR) / ("test-hf-export-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    jobs_ = nlohmann::json::array();
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
      jobs_.push_back({{"dir", dir}, {"out", dir + "/parity.json"}, {"ids", fixed_ids()}, {"prompt", kPrompt},
                      {"new_tokens", 32}, {"texts", kTexts}});
    }
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  // transformers on every exported folder, once per process (importing it takes seconds): false
  // when the venv lacks it.
  static bool run_transformers() {
    if (ran_) return python_ok_;
    ran_ = true;
    const std::string python = std::string(FOMOE_SOURCE_DIR) + "/.venv/bin/python";
    if (!fs::exists(python)) return false;
    if (std::system((python + " -c 'import transformers' 2>/dev/null").c_str()) != 0) return false;
    const std::string jobs_path = (root_ / "jobs.json").string();
    std::ofstream(jobs_path) << jobs_.dump();
    const std::string cmd = python + " " + FOMOE_SOURCE_DIR + "/tests/interop/hf_parity.py " + jobs_path + " > " +
                            (root_ / "python.log").string() + " 2>&1";
    python_ok_ = std::system(cmd.c_str()) == 0;
    EXPECT_TRUE(python_ok_) << "hf_parity.py failed; see " << (root_ / "python.log");
    return python_ok_;
  }
  static nlohmann::json parity(const Variant& v) {
    std::ifstream in(root_ / v.name / "parity.json");
    return nlohmann::json::parse(in);
  }
  static fs::path root_;
  static nlohmann::json jobs_;
  static bool ran_, python_ok_;
  static std::map<std::string, HfExportResult> results_;
};
fs::path HfExport::root_;
nlohmann::json HfExport::jobs_;
bool HfExport::ran_ = false;
bool HfExport::python_ok_ = false;
std::map<std::string, HfExportResult> HfExport::results_;

// One test, so transformers is imported once: the loading report, the logits, a greedy
// continuation and the tokenizer, each against the engine.
TEST_F(HfExport, TransformersLoadsTheExportAndComputesWhatTheEngineDoes) {
  if (!run_transformers()) GTEST_SKIP() << "transformers is not in the project venv; run scripts/install-deps";
  {
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
  {
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
  {
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

// Every tensor of a safetensors file, to write a variant of it (another layout, a damaged value).
struct LoadedTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<char> bytes;
};
std::map<std::string, LoadedTensor> read_all(const std::string& path) {
  std::map<std::string, LoadedTensor> out;
  auto f = SafetensorsFile::open(path);
  EXPECT_TRUE(f) << f.error().message;
  if (!f) return out;
  for (const auto& [name, e] : f->entries()) out[name] = {e.dtype, e.shape, *f->read(name)};
  return out;
}
void write_all(const std::string& path, const std::map<std::string, LoadedTensor>& tensors) {
  std::vector<TensorBytes> views;
  for (const auto& [name, t] : tensors) views.push_back({name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  ASSERT_TRUE(write_safetensors(path, views));
}
// A copy of an exported folder with its weights rewritten by edit.
std::string variant_folder(const fs::path& from, const std::string& name,
                           const std::function<void(std::map<std::string, LoadedTensor>&)>& edit) {
  const auto to = from.parent_path() / name;
  fs::remove_all(to);
  fs::create_directories(to);
  fs::copy_file(from / "config.json", to / "config.json");
  auto tensors = read_all((from / "model.safetensors").string());
  edit(tensors);
  write_all((to / "model.safetensors").string(), tensors);
  return to.string();
}

Transformer imported(const std::string& dir, ExperimentConfig* cfg_out = nullptr) {
  ExperimentConfig cfg;
  auto section = hf_model_section(dir);
  EXPECT_TRUE(section) << section.error().message;
  cfg.model = *section;
  const auto opts = model_options_from(cfg);
  Transformer m(opts, Residency::full(static_cast<int>(opts.n_moe_layers()), cfg.model.n_experts));
  if (cfg_out) *cfg_out = cfg;
  return m;
}

void expect_identical(Transformer& a, GlobalModel& b) {
  for (const auto& p : a->named_parameters())
    EXPECT_TRUE(at::equal(p.value(), b.parameter(p.key()))) << p.key();
}

TEST_F(HfExport, ImportGivesBackTheIdenticalParameters) {
  for (const auto& v : kVariants) {
    SCOPED_TRACE(v.name);
    const std::string dir = (root_ / v.name).string();
    ExperimentConfig icfg;
    auto m = imported(dir, &icfg);
    auto cfg = variant_config(v);
    EXPECT_EQ(icfg.model.n_layers, cfg.model.n_layers);
    EXPECT_EQ(icfg.model.d_expert, cfg.model.d_expert);
    EXPECT_EQ(icfg.model.shared_expert, cfg.model.shared_expert);
    EXPECT_EQ(icfg.model.moe_every, cfg.model.moe_every);
    EXPECT_EQ(icfg.model.n_heads, cfg.model.n_heads);
    EXPECT_EQ(icfg.model.n_kv_heads, cfg.model.n_kv_heads);
    EXPECT_EQ(icfg.model.tie_embeddings, cfg.model.tie_embeddings);
    // With every expert present, reroute and renormalize are the same model: renormalised gates.
    EXPECT_EQ(icfg.model.gate, v.gate == GateMode::Keep ? GateMode::Keep : GateMode::Renormalize);
    ASSERT_TRUE(load_hf_weights(m, dir));
    GlobalModel g(cfg);
    ASSERT_TRUE(g.load((root_ / (v.name + ".pt")).string()));
    expect_identical(m, g);
  }
}

// transformers 5.x keeps experts fused ([E, 2F, D] gate_up, [E, D, F] down) and may save them so.
TEST_F(HfExport, ImportReadsTheFusedExpertLayout) {
  const auto& v = kVariants[0];
  const std::string fused = variant_folder(root_ / v.name, "fused", [](std::map<std::string, LoadedTensor>& t) {
    for (int l = 0; l < 3; ++l) {
      const std::string h = "model.layers." + std::to_string(l) + ".mlp.experts.";
      std::vector<at::Tensor> gate_up, down;
      for (int e = 0; e < 4; ++e) {
        const std::string x = h + std::to_string(e) + ".";
        auto as_tensor = [&](const std::string& n) {
          auto& lt = t.at(n);
          return at::from_blob(lt.bytes.data(), lt.shape, at::kFloat).clone();
        };
        gate_up.push_back(at::cat({as_tensor(x + "gate_proj.weight"), as_tensor(x + "up_proj.weight")}, 0));
        down.push_back(as_tensor(x + "down_proj.weight"));
        for (const char* n : {"gate_proj.weight", "up_proj.weight", "down_proj.weight"}) t.erase(x + n);
      }
      for (auto& [name, list] : {std::pair<std::string, std::vector<at::Tensor>&>{"gate_up_proj", gate_up}, {"down_proj", down}}) {
        auto s = at::stack(list).contiguous();
        LoadedTensor lt{"F32", s.sizes().vec(), std::vector<char>(static_cast<size_t>(s.nbytes()))};
        std::memcpy(lt.bytes.data(), s.data_ptr(), lt.bytes.size());
        t[h + name] = std::move(lt);
      }
    }
  });
  auto m = imported(fused);
  ASSERT_TRUE(load_hf_weights(m, fused));
  auto cfg = variant_config(v);
  GlobalModel g(cfg);
  ASSERT_TRUE(g.load((root_ / (v.name + ".pt")).string()));
  expect_identical(m, g);
}

TEST_F(HfExport, ImportRefusesWhatTheEngineCannotRepresent) {
  const auto& v = kVariants[1];
  const auto src = root_ / v.name;
  // A non-zero attention bias: the engine's attention has none.
  const std::string biased = variant_folder(src, "biased", [](std::map<std::string, LoadedTensor>& t) {
    auto& b = t.at("model.layers.1.self_attn.q_proj.bias");
    float one = 1.0f;
    std::memcpy(b.bytes.data(), &one, 4);
  });
  auto m = imported(biased);
  auto st = load_hf_weights(m, biased);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("model.layers.1.self_attn.q_proj.bias"), std::string::npos) << st.error().message;
  // A gated shared expert.
  const std::string gated = variant_folder(src, "gated", [](std::map<std::string, LoadedTensor>& t) {
    float one = 1.0f;
    std::memcpy(t.at("model.layers.1.mlp.shared_expert_gate.weight").bytes.data(), &one, 4);
  });
  auto st2 = load_hf_weights(m, gated);
  ASSERT_FALSE(st2);
  EXPECT_NE(st2.error().message.find("shared_expert_gate"), std::string::npos) << st2.error().message;
  // A missing tensor is named.
  const std::string partial = variant_folder(src, "partial", [](std::map<std::string, LoadedTensor>& t) {
    t.erase("model.layers.1.mlp.experts.2.up_proj.weight");
  });
  auto st3 = load_hf_weights(m, partial);
  ASSERT_FALSE(st3);
  EXPECT_NE(st3.error().message.find("model.layers.1.mlp.experts.2.up_proj.weight"), std::string::npos) << st3.error().message;
  // What config.json holds that the engine cannot represent is named by its key.
  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"num_key_value_heads", 3}, {"hidden_act", "gelu"}, {"model_type", "llama"}, {"rms_norm_eps", 1e-5}}) {
    const auto dir = root_ / ("config-" + key);
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ifstream in(src / "config.json");
    auto j = nlohmann::json::parse(in);
    j[key] = value;
    std::ofstream(dir / "config.json") << j.dump();
    auto r = hf_model_section(dir.string());
    ASSERT_FALSE(r) << key;
    EXPECT_NE(r.error().message.find(key), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("config.json"), std::string::npos) << r.error().message;
  }
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

namespace fomoe::interop {
namespace {

// Data in with someone else's tokenizer: a tokenizer.json trained by PyPI tokenizers in the test,
// scripts/prepare-tokens writes a Megatron dataset, and the engine reads back exactly the ids
// tokenizers itself gives, with the end-of-text id after each document; bad JSONL names file:line.
TEST(PrepareTokens, HfTokenizerJsonToMegatronReadsBackTokenForToken) {
  const std::string python = std::string(FOMOE_SOURCE_DIR) + "/.venv/bin/python";
  if (std::system((python + " -c 'import tokenizers' 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "PyPI tokenizers is not in the project venv; run scripts/install-deps";
  const auto dir = fs::path(FOMOE_BINARY_DIR) / ("test-prepare-tokens-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ASSERT_EQ(std::system((python + " " + FOMOE_SOURCE_DIR + "/tests/interop/train_hf_tokenizer.py " + dir.string()).c_str()), 0);
  const std::string script = std::string(FOMOE_SOURCE_DIR) + "/scripts/prepare-tokens";
  const std::string prefix = (dir / "corpus").string();
  ASSERT_EQ(std::system((script + " --tokenizer " + (dir / "tokenizer.json").string() + " --out " + prefix + " " +
                         (dir / "docs.jsonl").string() + " > " + (dir / "prep.json").string())
                            .c_str()),
            0);
  std::ifstream ein(dir / "expected.json");
  auto expected = nlohmann::json::parse(ein);
  std::vector<int64_t> want;
  for (const auto& doc : expected["ids"]) {
    for (const auto& t : doc) want.push_back(t.get<int64_t>());
    want.push_back(expected["eos"].get<int64_t>());
  }
  data::TokenSourceSpec spec;
  spec.format = data::TokenFormat::Megatron;
  spec.path = prefix;
  auto m = data::MappedTokens::open(spec);
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_EQ((*m)->n_tokens(), want.size());
  EXPECT_EQ((*m)->n_docs(), 200);
  std::vector<int64_t> got(want.size());
  ASSERT_TRUE((*m)->read(0, got.size(), got.data()));
  EXPECT_EQ(got, want);
  std::ifstream pin(dir / "prep.json");
  auto prep = nlohmann::json::parse(pin);
  EXPECT_EQ(prep["vocab_size"].get<int>(), expected["vocab"].get<int>());
  // A line that is not JSON: usage error naming file and line.
  const std::string err = (dir / "err.txt").string();
  const int rc = std::system((script + " --tokenizer " + (dir / "tokenizer.json").string() + " --out " + prefix + "-bad " +
                              (dir / "broken.jsonl").string() + " 2> " + err)
                                 .c_str());
  EXPECT_EQ(WEXITSTATUS(rc), 2);
  std::ifstream in(err);
  std::string msg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(msg.find("broken.jsonl:2"), std::string::npos) << msg;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fomoe::interop

namespace fomoe::interop {
namespace {

// AutoTokenizer on an exported folder: every text's ids (no special tokens added) as JSON.
nlohmann::json auto_tokenizer_ids(const std::string& python, const fs::path& dir, const std::vector<std::string>& texts) {
  std::ofstream(dir / "texts.json") << nlohmann::json(texts).dump();
  const std::string cmd = python + " -c \"import json, sys; from transformers import AutoTokenizer; "
                                   "t = AutoTokenizer.from_pretrained(sys.argv[1]); "
                                   "texts = json.load(open(sys.argv[1] + '/texts.json')); "
                                   "json.dump([t.encode(x, add_special_tokens=False) for x in texts], "
                                   "open(sys.argv[1] + '/ids.json', 'w'))\" " +
                          dir.string() + " > " + (dir / "python.log").string() + " 2>&1";
  if (std::system(cmd.c_str()) != 0) return nullptr;
  std::ifstream in(dir / "ids.json");
  return nlohmann::json::parse(in);
}

// A run whose data.tokenizer was a tokenizer.json (here with token files: the tokenizer serves
// prompts, decoding and export) ships that file; AutoTokenizer reads the folder and encodes every
// text to the ids the engine's runtime gives. A SentencePiece run ships tokenizer.model with a
// LlamaTokenizer config.
TEST(HfExportTokenizer, TheRunsOwnTokenizerFileIsShipped) {
  const std::string python = std::string(FOMOE_SOURCE_DIR) + "/.venv/bin/python";
  if (std::system((python + " -c 'import tokenizers, transformers' 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "PyPI tokenizers / transformers are not in the project venv; run scripts/install-deps";
  const auto dir = fs::path(FOMOE_BINARY_DIR) / ("test-export-tokenizer-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ASSERT_EQ(std::system((python + " " + FOMOE_SOURCE_DIR + "/tests/interop/train_hf_tokenizer.py " + dir.string()).c_str()), 0);
  auto cfg = variant_config(kVariants[0]);  // vocab 320 >= the tokenizer's 300
  cfg.data.format = DataFormat::Tokens;
  cfg.data.path = (dir / "unused.bin").string();
  cfg.data.tokenizer = (dir / "tokenizer.json").string();
  cfg.source_text = to_toml(cfg);
  GlobalModel g(cfg);
  const std::string ckpt = (dir / "model.pt").string();
  ASSERT_TRUE(g.save(ckpt, 1));
  const fs::path out = dir / "hf";
  auto r = export_hf(cfg, ckpt, out.string());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->tokenizer_written);
  EXPECT_NE(r->tokenizer_note.find("tokenizer.json"), std::string::npos) << r->tokenizer_note;
  auto read = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(read(out / "tokenizer.json"), read(dir / "tokenizer.json"));
  auto tok = data::load_tokenizer(cfg.data.tokenizer);
  ASSERT_TRUE(tok) << tok.error().message;
  const auto tcfg = nlohmann::json::parse(read(out / "tokenizer_config.json"));
  EXPECT_EQ(tcfg["eos_token"], "<|endoftext|>");
  EXPECT_EQ(tcfg["tokenizer_class"], "PreTrainedTokenizerFast");
  EXPECT_EQ(nlohmann::json::parse(read(out / "config.json"))["eos_token_id"].get<int>(), tok->eod_id());
  const auto ids = auto_tokenizer_ids(python, out, kTexts);
  ASSERT_FALSE(ids.is_null()) << read(out / "python.log");
  for (size_t i = 0; i < kTexts.size(); ++i) EXPECT_EQ(ids[i].get<std::vector<int32_t>>(), tok->encode(kTexts[i])) << kTexts[i];

  // SentencePiece (Debian's spm_train): tokenizer.model and a LlamaTokenizer config.
  if (std::system("command -v spm_train > /dev/null 2>&1") != 0) return;
  {
    std::ofstream corpus(dir / "spm.txt");
    for (int i = 0; i < 300; ++i) corpus << "the federation of experts trains at site " << i << " over slow links\n";
  }
  // Llama's kind of model: BPE with byte fallback, no normalisation.
  ASSERT_EQ(std::system(("spm_train --input=" + (dir / "spm.txt").string() + " --model_prefix=" + (dir / "spm").string() +
                         " --vocab_size=400 --model_type=bpe --byte_fallback=true --normalization_rule_name=identity"
                         " --remove_extra_whitespaces=false --hard_vocab_limit=false --minloglevel=2 > /dev/null 2>&1")
                            .c_str()),
            0);
  cfg.data.tokenizer = (dir / "spm.model").string();
  cfg.model.vocab_size = 512;
  cfg.source_text = to_toml(cfg);
  GlobalModel g_spm(cfg);
  const std::string ckpt_spm = (dir / "model-spm.pt").string();
  ASSERT_TRUE(g_spm.save(ckpt_spm, 1));
  const fs::path out_spm = dir / "hf-spm";
  auto rs = export_hf(cfg, ckpt_spm, out_spm.string());
  ASSERT_TRUE(rs) << rs.error().message;
  EXPECT_EQ(read(out_spm / "tokenizer.model"), read(dir / "spm.model"));
  EXPECT_FALSE(fs::exists(out_spm / "tokenizer.json"));
  const auto scfg = nlohmann::json::parse(read(out_spm / "tokenizer_config.json"));
  EXPECT_EQ(scfg["tokenizer_class"], "LlamaTokenizer");
  EXPECT_EQ(scfg["eos_token"], "</s>");
  EXPECT_EQ(scfg["bos_token"], "<s>");
  EXPECT_EQ(scfg["unk_token"], "<unk>");
  EXPECT_EQ(nlohmann::json::parse(read(out_spm / "config.json"))["eos_token_id"].get<int>(), 2);
  // transformers reads a tokenizer.model only with PyPI sentencepiece and protobuf (not installed
  // by scripts/install-deps): where they are, its LlamaTokenizer gives SentencePiece's ids, except
  // on text that starts with a space (LlamaTokenizer's own leading-space handling).
  if (std::system((python + " -c 'import sentencepiece, google.protobuf' 2>/dev/null").c_str()) == 0) {
    auto spm = data::load_tokenizer(cfg.data.tokenizer);
    ASSERT_TRUE(spm) << spm.error().message;
    std::vector<std::string> texts;
    for (const auto& t : kTexts)
      if (!t.empty() && t[0] != ' ' && t[0] != '\t') texts.push_back(t);
    const auto spm_ids = auto_tokenizer_ids(python, out_spm, texts);
    ASSERT_FALSE(spm_ids.is_null()) << read(out_spm / "python.log");
    for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(spm_ids[i].get<std::vector<int32_t>>(), spm->encode(texts[i])) << texts[i];
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace fomoe::interop
