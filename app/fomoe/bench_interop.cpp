// fomoe bench tokenizer | export: the interop benchmarks (numbers in docs/BENCHMARKS.md).
//  tokenizer: the engine's BPE against Hugging Face's Rust `tokenizers` (PyPI, the project venv)
//             on the same text with the same vocabulary (the exported tokenizer.json), side by side
//             in one run, one thread each; the ids are compared too.
//  export:    writing a 100M+ parameter global model as a transformers folder (fp32 safetensors).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_options.h"
#include "commands.h"
#include "fomoe/data/corpus_source.h"
#include "fomoe/data/prepared_corpus.h"
#include "fomoe/federation/evaluate_checkpoint.h"
#include "fomoe/interop/hf_export.h"
#include "fomoe/interop/hf_tokenizer.h"
#include "fomoe/train/data_feed.h"

namespace fomoe::cli {

namespace fs = std::filesystem;

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
std::string venv_python(const std::string& self_exe) {
  // build/app/fomoe -> the checkout's .venv
  for (fs::path p = fs::path(self_exe).parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path())
    if (fs::exists(p / ".venv/bin/python")) return (p / ".venv/bin/python").string();
  return "python3";
}
}  // namespace

int bench_tokenizer_command(const std::vector<std::string>& args, const std::string& self_exe) {
  auto app = make_app("fomoe bench tokenizer", "Tokenisation throughput: the engine's BPE beside PyPI tokenizers on the same text and vocabulary.");
  std::string experiment = "experiments/quickstart.toml";
  int repeats = 3;
  bool json = false;
  app->add_option("--experiment", experiment, "whose corpus and BPE to use")->capture_default_str();
  app->add_option("--repeats", repeats, "best of N")->check(number_at_least(1, true))->capture_default_str();
  std::string format = "text";
  add_format(*app, format, {"text", "json"}, /*json_alias=*/true);
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  json = format == "json";
  auto cfg = load_experiment(experiment);
  if (!cfg) {
    std::cerr << "fomoe bench tokenizer: " << cfg.error().message << "\n";
    return 2;
  }
  auto spec = corpus_spec_from(*cfg);
  auto corpus = data::prepare_corpus(spec);
  if (!corpus) {
    std::cerr << "fomoe bench tokenizer: " << corpus.error().message << "\n";
    return 1;
  }
  std::string text;
  for (const auto& name : spec.sources) {
    auto docs = data::read_source_documents(*data::find_source(name), spec.source_root, 0);
    if (!docs) {
      std::cerr << "fomoe bench tokenizer: " << docs.error().message << "\n";
      return 1;
    }
    for (const auto& d : *docs) text += d + "\n";
  }
  const fs::path dir = fs::temp_directory_path() / ("fomoe-bench-tokenizer-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  if (auto st = interop::write_run_tokenizer(corpus->tokenizer, dir.string(), cfg->model.seq_len); !st) {
    std::cerr << "fomoe bench tokenizer: " << st.error().message << "\n";
    return 1;
  }
  std::ofstream(dir / "text.txt", std::ios::binary) << text;
  double engine_s = 1e30;
  std::vector<int32_t> ids;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    ids = corpus->tokenizer.encode(text);
    engine_s = std::min(engine_s, seconds_since(t0));
  }
  {
    std::ofstream out(dir / "engine.ids", std::ios::binary);
    out.write(reinterpret_cast<const char*>(ids.data()), static_cast<std::streamsize>(ids.size() * 4));
  }
  const std::string script =
      "import sys, time, numpy as np\n"
      "from tokenizers import Tokenizer\n"
      "d = sys.argv[1]; reps = int(sys.argv[2])\n"
      "tok = Tokenizer.from_file(d + '/tokenizer.json')\n"
      "text = open(d + '/text.txt', encoding='utf-8').read()\n"
      "best = 1e30\n"
      "for _ in range(reps):\n"
      "    t0 = time.perf_counter(); ids = tok.encode(text, add_special_tokens=False).ids; best = min(best, time.perf_counter() - t0)\n"
      "lines = text.splitlines(keepends=True)\n"
      "bbest = 1e30\n"
      "for _ in range(reps):\n"
      "    t0 = time.perf_counter(); tok.encode_batch(lines, add_special_tokens=False); bbest = min(bbest, time.perf_counter() - t0)\n"
      "import json\n"
      "j = json.load(open(d + '/tokenizer.json'))\n"
      "j['pre_tokenizer'] = {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': True}\n"
      "gpt2 = Tokenizer.from_str(json.dumps(j))\n"
      "gbest = 1e30\n"
      "for _ in range(reps):\n"
      "    t0 = time.perf_counter(); gpt2.encode(text, add_special_tokens=False); gbest = min(gbest, time.perf_counter() - t0)\n"
      "same = np.array_equal(np.array(ids, dtype=np.int32), np.fromfile(d + '/engine.ids', dtype=np.int32))\n"
      "print(best, bbest, gbest, int(same), len(ids))\n";
  std::ofstream(dir / "hf.py") << script;
  const std::string cmd = "TOKENIZERS_PARALLELISM=true " + venv_python(self_exe) + " " + (dir / "hf.py").string() + " " +
                          dir.string() + " " + std::to_string(repeats);
  FILE* p = popen(cmd.c_str(), "r");
  double hf_s = 0, hf_batch_s = 0, hf_gpt2_s = 0;
  int same = 0;
  long hf_n = 0;
  const bool ok = p && std::fscanf(p, "%lf %lf %lf %d %ld", &hf_s, &hf_batch_s, &hf_gpt2_s, &same, &hf_n) == 5;
  if (p) pclose(p);
  fs::remove_all(dir);
  const double mb = static_cast<double>(text.size()) / 1e6;
  if (!ok) {
    std::cerr << "fomoe bench tokenizer: the PyPI tokenizers side failed (scripts/install-deps installs it)\n";
    return 1;
  }
  if (json) {
    std::cout << nlohmann::json{{"megabytes", mb},          {"tokens", ids.size()},
                                {"engine_mb_s", mb / engine_s}, {"hf_mb_s", mb / hf_s},
                                {"hf_batch_mb_s", mb / hf_batch_s}, {"hf_gpt2_pretokenizer_mb_s", mb / hf_gpt2_s},
                                {"engine_over_hf", hf_s / engine_s},
                                {"same_ids", same == 1}}
                     .dump(2)
              << "\n";
    return 0;
  }
  std::printf("tokenising %.1f MB of %s's corpus (%zu tokens, vocabulary %d), best of %d, one run:\n", mb, experiment.c_str(),
              ids.size(), corpus->tokenizer.vocab_size(), repeats);
  std::printf("  engine BPE (1 thread)                      %8.1f MB/s\n", mb / engine_s);
  std::printf("  PyPI tokenizers, encode (1 thread)         %8.1f MB/s\n", mb / hf_s);
  std::printf("  PyPI tokenizers, encode_batch (all cores)  %8.1f MB/s\n", mb / hf_batch_s);
  std::printf("  PyPI tokenizers, GPT-2's own pre-tokenizer  %8.1f MB/s   (for scale: other ids)\n", mb / hf_gpt2_s);
  std::printf("  engine / tokenizers (1 thread each)        %8.2fx\n", hf_s / engine_s);
  std::printf("  ids identical: %s\n", same ? "yes" : "NO");
  return same ? 0 : 1;
}

int bench_export_command(const std::vector<std::string>& args) {
  auto app = make_app("fomoe bench export", "Export time of a 100M+ parameter global model as a transformers folder (fp32 safetensors).");
  int d_model = 768, layers = 8, experts = 8;
  bool json = false;
  app->add_option("--d-model", d_model, "model width")->capture_default_str();
  app->add_option("--layers", layers, "layers")->capture_default_str();
  app->add_option("--experts", experts, "experts per layer")->capture_default_str();
  std::string format = "text";
  add_format(*app, format, {"text", "json"}, /*json_alias=*/true);
  if (auto code = parse(*app, args, std::cout, std::cerr)) return *code;
  json = format == "json";
  ExperimentConfig cfg;
  cfg.run.method = Method::FoMoE;
  cfg.model.d_model = d_model;
  cfg.model.n_layers = layers;
  cfg.model.n_heads = d_model / 64;
  cfg.model.n_experts = experts;
  cfg.model.d_expert = d_model;
  cfg.model.vocab_size = 1024;
  cfg.data.format = DataFormat::Tokens;  // no tokenizer: the weights alone are timed
  cfg.source_text = to_toml(cfg);
  const fs::path dir = fs::temp_directory_path() / ("fomoe-bench-export-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string ckpt = (dir / "coordinator.pt").string();
  auto saved = save_initial_checkpoint(cfg, ckpt);
  if (!saved) {
    std::cerr << "fomoe bench export: " << saved.error().message << "\n";
    return 1;
  }
  auto r = interop::export_hf(cfg, ckpt, (dir / "hf").string());
  fs::remove_all(dir);
  if (!r) {
    std::cerr << "fomoe bench export: " << r.error().message << "\n";
    return 1;
  }
  const double mib = static_cast<double>(r->safetensors_bytes) / (1024.0 * 1024.0);
  if (json) {
    std::cout << nlohmann::json{{"parameters", r->parameters}, {"safetensors_mib", mib}, {"seconds", r->seconds},
                                {"mib_s", mib / r->seconds}}
                     .dump(2)
              << "\n";
    return 0;
  }
  std::printf("exported %lld parameters (%d layers, d_model %d, %d experts) as %.0f MiB of fp32 safetensors in %.2f s "
              "(%.0f MiB/s, checkpoint read included)\n",
              static_cast<long long>(r->parameters), layers, d_model, experts, mib, r->seconds, mib / r->seconds);
  return 0;
}

}  // namespace fomoe::cli
