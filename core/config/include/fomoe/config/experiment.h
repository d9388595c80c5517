// Experiment configuration: the TOML schema, its defaults (the only place they live) and
// validation with errors that name the key and its line. Plain data; no torch, no Qt.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fomoe/base/expected.h"

namespace fomoe {

enum class Method { Single, Ddp, DiLoCo, Photon, FoMoE };
// How a site treats picks of experts it does not hold. Keep / Renormalize: skip-token, keeping the
// router's gates or renormalising them over the resident picks. Reroute: no skip; each token goes to
// its top-k among the resident experts (gates sum to 1); with full residency equal to Renormalize.
enum class GateMode { Keep, Renormalize, Reroute };
const char* gate_mode_name(GateMode m);
enum class ShardSplit { Iid, NonIid };
// Builtin: the Debian texts of data.sources, tokenised by the project's BPE (or data.tokenizer).
// Megatron, Tokens and Llmc: token files other stacks write (data.path), memory-mapped
// (core/data/mapped_tokens.h). Text and Jsonl: the researcher's own text (data.path), tokenised
// like the built-in texts (core/data/own_text.h).
enum class DataFormat { Builtin, Megatron, Tokens, Llmc, Text, Jsonl };
const char* data_format_name(DataFormat f);
/// Megatron, Tokens or Llmc: token ids another stack wrote, read as they are.
inline bool reads_token_files(DataFormat f) { return f == DataFormat::Megatron || f == DataFormat::Tokens || f == DataFormat::Llmc; }
/// Why a site's own data must be token files unless data.tokenizer is set: text at a site would be
/// tokenised by a BPE trained on that site's text alone, so one id would mean different text at
/// different sites.
inline constexpr const char* kOwnTextAtSiteWhy =
    "text at a site would be tokenised by a BPE trained on that site's text alone (ids would mean different text at "
    "different sites); give every site one tokenizer (data.tokenizer = a tokenizer.json or SentencePiece .model) or "
    "tokenise every site's text first (e.g. PyPI tokenizers -> Megatron .bin/.idx)";  // the TOML value: "builtin", "megatron", "tokens", "llmc", "text", "jsonl"
// RoundRobin and Explicit are fixed for the run. LoadAware (balance global expert load) and Affinity
// (each site holds the experts its own tokens use most) start round-robin and re-plan from the
// expert load the sites report (federation.replan_every).
enum class PlacementPolicy { RoundRobin, LoadAware, Explicit, Affinity };
const char* placement_policy_name(PlacementPolicy p);  // the TOML value: "round_robin", ...
enum class ExpertWeighting { Tokens, Uniform };
enum class WirePrecision { F32, BF16, F16 };
// What travels, block-quantized (fomoe/base/quantized_layout.h): None = federation.precision.
enum class Compression { None, Int8, Fp8, Int4, Int2 };

const char* method_name(Method m);
const char* wire_precision_name(WirePrecision p);
const char* compression_name(Compression c);  // the TOML value: "none", "int8", "fp8", "int4", "int2"


struct RunSection {
  std::string name = "run";
  Method method = Method::Single;
  uint64_t seed = 1234;
  std::string device = "auto";  // auto | cpu | cuda
  std::string db;               // "" = default run store path
  std::string out_dir = "runs"; // checkpoints and logs
};

struct ModelSection {
  int vocab_size = 1024;        // the project's BPE: its size; data.tokenizer: >= the tokenizer's
  int d_model = 128;
  int n_layers = 4;
  int n_heads = 4;
  int n_kv_heads = 0;           // grouped-query attention: key/value heads (0 = n_heads, plain MHA)
  bool tie_embeddings = false;  // the output head is the token embedding (transposed)
  int seq_len = 128;
  int n_experts = 8;
  int top_k = 2;
  int d_expert = 256;           // SwiGLU hidden width per expert
  bool shared_expert = false;
  int moe_every = 1;            // 1 = every layer is MoE, 2 = every other layer
  double aux_loss_coef = 0.01;
  double z_loss_coef = 0.001;
  GateMode gate = GateMode::Keep;
  double residency = 1.0;       // single-site: share of experts held per layer (first ones kept)
  std::string init_from;        // a Hugging Face folder (Qwen2-MoE, Mixtral) to start from ("" = seeded init)
};

struct DataSection {
  std::vector<std::string> sources = {"fortunes-en", "fortunes-de", "fortunes-es", "fortunes-it", "jargon"};
  double heldout_fraction = 0.05;
  int64_t max_bytes = 0;        // per source, 0 = all
  ShardSplit split = ShardSplit::Iid;
  std::string cache_dir = "data-cache";
  DataFormat format = DataFormat::Builtin;
  std::string path;                     // megatron: PREFIX of PREFIX.bin/.idx; tokens, llmc: the file
  std::string token_dtype = "uint16";   // tokens: "uint16" or "uint32"
  int64_t eos_id = -1;                  // tokens: id ending a document; llmc: EOT starting one; -1 = none;
                                        // with data.tokenizer: its end of document (-1 = the tokenizer's)
  std::string separator;                // text: a line equal to this ends a document ("" = a file is one)
  std::string text_field = "text";      // jsonl: the field holding the text
  std::string domain_field;             // jsonl: the field naming a document's source ("" = its file)
  // "" = the project's BPE, trained on the corpus. Else a Hugging Face tokenizer.json (byte-level
  // BPE), a SentencePiece .model or a FoMoE BPE file (core/data/tokenizer.h) that tokenises the
  // text of builtin / text / jsonl; with token files it only encodes prompts and decodes.
  std::string tokenizer;
};

struct TrainSection {
  int steps = 200;              // inner steps per site for the whole run
  int batch_size = 8;
  double lr = 3e-3;
  double min_lr_ratio = 0.1;
  int warmup_steps = 20;
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double grad_clip = 1.0;       // 0 = off
  int eval_every = 50;          // steps; 0 = only at the end
  int eval_batches = 8;
  int log_every = 10;
  int checkpoint_every = 0;     // steps; 0 = off
  std::string inner_optimizer = "adamw";  // adamw | sgd (identity tests)
  // After each evaluation the global model continues these prompts greedily by sample_tokens
  // tokens, recorded with the run (the workbench's Samples tab). 0 tokens or no prompts: off; a run
  // on token files without data.tokenizer has no text to sample from and records none.
  int sample_tokens = 32;
  std::vector<std::string> sample_prompts = {"The ", "A computer is", "Das ", "Q: What is"};
};

struct RemoteAgent {
  std::string address;          // tcp://host:port
  std::string public_key;       // Z85
};

struct FederationSection {
  int sites = 4;                // K
  // A running federation may grow: up to max_sites sites in all (0 = sites: it does not). The
  // run starts with the first `sites`; a site with one of the further keys (site-K, ...) that
  // says Hello later joins: it receives the current model and a share of the experts (FoMoE: the
  // mean a live site holds per layer, the least replicated first; other methods: all of them).
  int max_sites = 0;
  int inner_steps = 32;         // H
  int replication = 2;          // r: holders per expert (FoMoE)
  PlacementPolicy placement = PlacementPolicy::RoundRobin;
  std::vector<std::vector<std::vector<int>>> explicit_plan;  // [layer][expert] -> holder sites
  int replan_every = 0;  // load_aware / affinity: re-plan after every N rounds; 0 = once, after round 1
  ExpertWeighting expert_weighting = ExpertWeighting::Tokens;
  double outer_lr = 0.7;
  double expert_outer_lr = 0.0;  // outer lr of expert parameters; 0 = outer_lr
  double outer_momentum = 0.9;
  bool nesterov = true;
  double photon_server_lr = 1.0;
  double photon_server_momentum = 0.0;
  bool stateless_clients = false;
  WirePrecision precision = WirePrecision::F32;
  // Up (pseudo-gradients; Photon: its change of the parameters; DDP: gradients, both ways):
  // block-quantized with bf16 scales. error_feedback keeps what was not sent at the site and adds
  // it to the next round, so the error does not accumulate.
  Compression compression = Compression::None;
  bool error_feedback = true;
  // SparseLoCo's decay of the error-feedback buffer: each round sends value + decay * residual
  // (1 = plain error feedback: nothing is forgotten; < 1: old residuals fade, so what the sites
  // have re-learned meanwhile is not delivered in full again).
  double error_feedback_decay = 1.0;
  // Down (DiLoCo / Photon / FoMoE): the change of the global parameters since what the sites hold,
  // quantized, with the coordinator's residual carried into the next round; a site that holds a
  // tensor for the first time (or rejoins) receives it whole in fp32. None = whole fp32 parameters.
  Compression down_compression = Compression::None;
  // Top-k sparsification (as SparseLoCo; fomoe/base/sparse_layout.h): the fraction of values kept
  // per chunk of 4096 (largest magnitude, with uint16 indices), 0 = off, else 0 < f <= 1; the kept
  // values are coded with compression (up; DDP: both ways) / down_compression (down). Without
  // error_feedback the dropped values are lost every round (allowed, for study; trains badly).
  double topk = 0.0;
  double down_topk = 0.0;
  // Lossless zstd coding of every tensor frame both ways (fomoe/net/entropy_coding.h), after any
  // compression: 4-bit codes of pseudo-gradients carry ~3.7 bits of information, so this is
  // what takes a 4-bit round below 4 bits per value. Bytes then depend on the values: the system
  // model's figure becomes an upper bound (a frame is coded only when that makes it smaller).
  bool entropy_coding = false;
  // Overlap (DiLoCo / Photon / FoMoE, as Streaming DiLoCo): after sending its report a site trains
  // the next round's first overlap_steps (tau) inner steps at once, while the report and the next
  // StartRound cross the link; it then merges: params = overlap_mix (alpha) * its own + (1 - alpha)
  // * the global ones. tau = 0 and alpha = 0 are today's rounds exactly.
  bool overlap = false;
  int overlap_steps = 2;
  double overlap_mix = 0.5;
  // Streaming fragments (Streaming DiLoCo; DiLoCo / Photon / FoMoE): the parameters in P
  // fragments strided by layer (layer i in fragment i mod P; the embedding with layer 0, the
  // final norm and head with the last layer). A round is then H / P inner steps and exchanges one
  // fragment (round r reports fragment r mod P, the next StartRound brings it back), so each
  // fragment syncs every H steps on a staggered schedule and a round carries about 1/P of the
  // bytes. 1 = every parameter every round.
  int fragments = 1;
  int quorum = 1;               // minimum sites reporting for dense parameters
  // A connected site that sends no report for this long is dead. 0 = derived from the rounds
  // seen: 600 s until one completes, then 5x the median completed round (at least 30 s).
  double round_timeout_s = 0.0;
  // Liveness independent of the round timeout: ZeroMQ heartbeats, so a site whose process or
  // link is gone is dead within this many seconds (0 = off; a local agent's exit is seen at once).
  double heartbeat_s = 3.0;
  // Local sites that die are started again, at most this many times each (0 = never), after
  // 1, 2, 4... s; they rejoin with the current global model.
  int restart_sites = 3;
  double bandwidth_mbps = 0.0;  // link emulation, 0 = off
  double latency_ms = 0.0;
  std::vector<double> site_bandwidth_mbps;  // per site (length = sites), overrides bandwidth_mbps
  std::vector<double> site_latency_ms;      // per site (length = sites), overrides latency_ms
  std::string key_dir;          // CURVE keys; "" = generated per run
  std::vector<RemoteAgent> agents;  // empty = start local agent processes
  // Data that stays at its site: per site (length = sites), a data.path that only that site reads
  // with the [data] section's format ("" = the shared data, sharded as usual). A remote agent can
  // also name its own data itself (`fomoe agent --data key=value`).
  std::vector<std::string> site_data_paths;
  // The coordinator evaluates the global model on [data]'s held-out split. false: it reads no data
  // (every site's data is its own) and the run's held-out loss is the mean of the sites' own.
  bool coordinator_data = true;
};

/// Inner steps per round: H, or H / P with streaming fragments.
int round_steps(const FederationSection& f);
/// The streaming fragment (0..fragments-1) a parameter of the engine's model belongs to, from its
/// name ("layers.3.attn.qkv.weight" -> 3 mod P; "tok_emb.*" -> 0; "norm_f.*", "head.*" -> the last layer's).
int parameter_fragment(const std::string& name, int n_layers, int fragments);

/// The emulated link of one site: its own entry when the per-site lists are given, else the default.
double site_bandwidth_mbps(const FederationSection& f, int site);
double site_latency_ms(const FederationSection& f, int site);

struct ExperimentConfig {
  RunSection run;
  ModelSection model;
  DataSection data;
  TrainSection train;
  FederationSection federation;
  std::string source_path;      // file it came from ("" for strings)
  std::string source_text;      // the TOML as read: recorded with the run
};

/// Parses and validates. Errors name the file, the key and its line.
Expected<ExperimentConfig> parse_experiment(const std::string& toml_text, const std::string& source_name);
Expected<ExperimentConfig> load_experiment(const std::string& path);
/// Cross-field validation (also run by parse); returns the first problem found.
Status validate_experiment(const ExperimentConfig& cfg);
/// Applies `section.key=value` assignments (value in TOML syntax; a bare word is taken as a
/// string), validated like the file. The config's source_text becomes the canonical TOML.
Status apply_overrides(ExperimentConfig& cfg, const std::vector<std::string>& assignments);
/// Canonical TOML for a config (every key, defaults included): what the GUI saves.
std::string to_toml(const ExperimentConfig& cfg);
/// The TOML a person reads: only the keys whose value differs from ExperimentConfig's defaults,
/// numbers in their shortest round-trip form (0.05). Parses back to the same config.
std::string to_toml_minimal(const ExperimentConfig& cfg);

}  // namespace fomoe
