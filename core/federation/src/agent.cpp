#include "fomoe/federation/agent.h"

#include <sys/prctl.h>
#include <torch/torch.h>
#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <csignal>

#include <chrono>
#include <optional>
#include <set>
#include <thread>

#include "fomoe/base/log.h"
#include "fomoe/base/metric_names.h"
#include "fomoe/federation/compression.h"
#include "fomoe/federation/global_model.h"
#include "fomoe/federation/round_report.h"
#include "fomoe/federation/tensor_wire.h"
#include "fomoe/net/endpoint.h"
#include "fomoe/net/entropy_coding.h"
#include "fomoe/train/data_feed.h"
#include "fomoe/train/site_trainer.h"
#include "fomoe/train/trainer.h"

namespace fomoe {
namespace {

using Clock = std::chrono::steady_clock;
// This site cannot train at all (its Welcome failed): every round gets the original reason.
struct SetupFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// SIGTERM / SIGINT: the site leaves on purpose. It stops at the next inner step, says goodbye
// (Shutdown, "leaving") so the coordinator does not wait for a timeout, and exits.
std::atomic<int> g_leave_signal{0};
extern "C" void on_leave_signal(int sig) { g_leave_signal.store(sig); }
struct Leaving : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Agent {
 public:
  Agent(const AgentSettings& s, std::unique_ptr<net::AgentEndpoint> ep, std::string public_key)
      : settings_(s), ep_(std::move(ep)), public_key_(std::move(public_key)) {}

  int run() {
    if (!say_hello()) return 1;
    auto last_heard = Clock::now();
    while (true) {
      if (g_leave_signal.load() != 0) return leave();
      // The link came back after a loss: the coordinator has marked this site dead, so rejoin.
      if (ep_->take_reconnected()) {
        FOMOE_LOG_INFO("agent", "%s: connection to the coordinator is back, saying Hello again", settings_.name.c_str());
        say_hello();
      }
      auto in = ep_->poll(std::chrono::milliseconds(500));
      if (!in) {
        if (ep_->auth_failed()) {
          FOMOE_LOG_ERROR("agent", "%s: the coordinator refused this agent's key %s: add %s.pub to its allow-list",
                          settings_.name.c_str(), public_key_.c_str(), settings_.name.c_str());
          return 1;
        }
        if (seconds_since(last_heard) > settings_.idle_timeout_s) {
          FOMOE_LOG_WARN("agent", "%s: no word from the coordinator for %.0f s, leaving", settings_.name.c_str(), settings_.idle_timeout_s);
          return 3;
        }
        continue;
      }
      last_heard = Clock::now();
      auto& msg = in->message;
      try {
        switch (msg.header.type) {
          case net::MsgType::Welcome: on_welcome(msg); break;
          case net::MsgType::StartRound: on_start_round(msg, in->link_seconds); break;
          case net::MsgType::Shutdown:
            FOMOE_LOG_INFO("agent", "%s: shutdown (%s)", settings_.name.c_str(), msg.meta.value(net::field::kReason, "").c_str());
            return 0;
          case net::MsgType::Heartbeat: send(net::make_message(net::MsgType::Heartbeat)); break;
          case net::MsgType::ErrorReply:
            FOMOE_LOG_WARN("agent", "%s: coordinator error: %s", settings_.name.c_str(), msg.meta.dump().c_str());
            break;
          default:
            FOMOE_LOG_WARN("agent", "%s: ignoring unexpected %s", settings_.name.c_str(), net::msg_type_name(msg.header.type));
        }
      } catch (const Leaving&) {
        return leave();
      } catch (const std::exception& e) {
        // The agent stays up: report the failure, the coordinator decides what to do. A failed
        // Welcome means this site cannot train at all; LibTorch's backtrace stays in our log.
        const auto* c10 = dynamic_cast<const c10::Error*>(&e);
        const std::string why = c10 ? c10->what_without_backtrace() : e.what();
        FOMOE_LOG_ERROR("agent", "%s: %s failed: %s", settings_.name.c_str(), net::msg_type_name(msg.header.type), e.what());
        const bool setup = msg.header.type == net::MsgType::Welcome || dynamic_cast<const SetupFailure*>(&e) != nullptr;
        if (msg.header.type == net::MsgType::Welcome) setup_error_ = why;
        const char* code = setup ? "setup_failure" : "agent_failure";
        send(net::make_message(net::MsgType::ErrorReply, {{net::field::kCode, code}, {net::field::kMessage, why}},
                               msg.header.run_id, msg.header.round));
      }
    }
  }

 private:
  bool say_hello() {
    nlohmann::json hello = {{net::field::kAgentName, settings_.name},
                            {net::field::kPublicKey, public_key_},
                            {net::field::kDevice, {{"cuda", torch::cuda::is_available()}, {"threads", torch::get_num_threads()}}}};
    return send(net::make_message(net::MsgType::Hello, hello));
  }

  int leave() {
    const int sig = g_leave_signal.load();
    const std::string why = std::string("leaving on ") + (sig == SIGINT ? "SIGINT" : "SIGTERM");
    FOMOE_LOG_INFO("agent", "%s: %s", settings_.name.c_str(), why.c_str());
    ep_->set_link_in_background(false);  // what is still crossing the emulated link goes first
    send(net::make_message(net::MsgType::Shutdown, {{net::field::kReason, why}}, run_id_));
    return 0;
  }

  bool send(net::Message msg) {
    if (cfg_.federation.entropy_coding) net::entropy_code(msg);
    auto r = ep_->send(std::move(msg));
    if (!r) {
      FOMOE_LOG_ERROR("agent", "%s: send failed: %s", settings_.name.c_str(), r.error().message.c_str());
      return false;
    }
    round_link_s_ += r->link_seconds;
    return true;
  }

  void on_welcome(const net::Message& msg) {
    auto cfg = parse_experiment(msg.meta.at(net::field::kExperimentToml).get<std::string>(), "welcome from coordinator");
    if (!cfg) throw std::runtime_error(cfg.error().message);
    cfg_ = *cfg;
    up_feedback_ = ErrorFeedback(cfg_.federation.error_feedback, cfg_.federation.error_feedback_decay);
    round_start_.clear();
    carry_ = Carry{};
    ep_->set_link_in_background(cfg_.federation.overlap);
    site_ = msg.meta.at(net::field::kSiteId).get<int>();
    run_id_ = msg.header.run_id;
    Residency residency;
    for (const auto& layer : msg.meta.at(net::field::kResidency)) residency.experts_per_layer.push_back(layer.get<std::vector<int>>());
    // Data that stays at this site: its own data (agent --data, or its federation.site_data_paths
    // entry) is read whole by this site alone; the shared data is sharded across the sites.
    if (!settings_.data.empty()) {
      std::vector<std::string> sets;
      for (const auto& kv : settings_.data) sets.push_back("data." + kv);
      if (auto st = apply_overrides(cfg_, sets); !st) throw std::runtime_error("--data: " + st.error().message);
      own_data_ = true;
    } else if (site_ < static_cast<int>(cfg_.federation.site_data_paths.size()) &&
               !cfg_.federation.site_data_paths[static_cast<size_t>(site_)].empty()) {
      cfg_.data.path = cfg_.federation.site_data_paths[static_cast<size_t>(site_)];
      own_data_ = true;
    }
    if (own_data_ && !reads_token_files(cfg_.data.format) && cfg_.data.tokenizer.empty())
      throw std::runtime_error(std::string("this site's own data (data.format = ") + data_format_name(cfg_.data.format) +
                               ") must be token files: " + kOwnTextAtSiteWhy);
    auto feed = own_data_ ? DataFeed::open(cfg_, 1, 0) : DataFeed::open(cfg_, cfg_.federation.sites, site_);
    if (!feed) throw std::runtime_error(feed.error().message);
    feed_ = std::move(*feed);
    // A larger model vocabulary is fine (checkpoints pad it); a smaller one cannot embed every id.
    if (const auto* corpus = feed_->corpus(); corpus && corpus->tokenizer.vocab_size() > cfg_.model.vocab_size)
      throw std::runtime_error("model.vocab_size (" + std::to_string(cfg_.model.vocab_size) + ") is smaller than the tokenizer's (" +
                               std::to_string(corpus->tokenizer.vocab_size()) + ") of " + feed_->description());
    auto manifest = feed_->manifest();
    if (!manifest) throw std::runtime_error(manifest.error().message);
    manifest_ = *manifest;
    devices_ = resolve_devices(settings_.devices.empty() ? cfg_.run.device : settings_.devices);
    residency_ = residency;
    site_trainer_ = std::make_unique<SiteTrainer>(cfg_, residency, devices_);
    trainer_ = &site_trainer_->primary();
    if (site_trainer_->world_size() > 1)
      FOMOE_LOG_INFO("agent", "%s: %d devices, data parallel through c10d (%s)", settings_.name.c_str(),
                     site_trainer_->world_size(), site_trainer_->backend().c_str());
    const std::string place = site_ < cfg_.federation.sites ? " of " + std::to_string(cfg_.federation.sites)
                                                            : ", joined beyond the first " + std::to_string(cfg_.federation.sites);
    FOMOE_LOG_INFO("agent", "%s: site %d%s, %s, holds %d experts, %ld parameters, trains on %s", settings_.name.c_str(), site_,
                   place.c_str(), method_name(cfg_.run.method), residency_.n_held(),
                   static_cast<long>(trainer_->model()->n_parameters()), feed_->description().c_str());
  }

  // The coordinator re-planned the placement: rebuild the site's model for the experts it holds
  // now, keeping the step count and the inner optimizer state of everything it kept.
  void change_residency(const nlohmann::json& layers, int round) {
    Residency next;
    for (const auto& layer : layers) next.experts_per_layer.push_back(layer.get<std::vector<int>>());
    if (next.experts_per_layer == residency_.experts_per_layer) return;
    if (auto st = validate_residency(next, model_options_from(cfg_)); !st) throw std::runtime_error(st.error().message);
    auto rebuilt = std::make_unique<SiteTrainer>(cfg_, next, devices_);
    rebuilt->adopt_state_from(*site_trainer_);
    site_trainer_ = std::move(rebuilt);
    trainer_ = &site_trainer_->primary();
    // What this site no longer holds has no residual to send and no base for a delta.
    std::set<std::string> held;
    for (auto& p : trainer_->model()->named_parameters()) held.insert(p.key());
    for (auto it = round_start_.begin(); it != round_start_.end();) it = held.count(it->first) ? std::next(it) : round_start_.erase(it);
    up_feedback_.forget_all_but(held);
    FOMOE_LOG_INFO("agent", "%s: round %d: placement changed, now holds %d experts (was %d)", settings_.name.c_str(), round,
                   next.n_held(), residency_.n_held());
    residency_ = std::move(next);
  }

  // Whole tensors (fp32) are copied in; block-quantized ones are the change of the global
  // parameters since what this site was sent last round (federation.down_compression), added to
  // that. Afterwards round_start_ holds what the coordinator believes the site holds.
  void load_parameters(const net::Message& msg) {
    torch::NoGradGuard no_grad;
    std::map<std::string, torch::Tensor> params;
    for (auto& p : trainer_->model()->named_parameters()) params[p.key()] = p.value();
    std::vector<net::TensorBlob> whole;
    for (const auto& blob : msg.tensors) {
      if (!net::quantized_layout(blob.dtype) && !net::sparse_value_dtype(blob.dtype)) {
        whole.push_back(blob);
        continue;
      }
      auto dst = params.find(blob.name);
      auto base = round_start_.find(blob.name);
      if (dst == params.end()) throw std::runtime_error("received a change of " + blob.name + ", which this site does not hold");
      if (base == round_start_.end())
        throw std::runtime_error("received a change of " + blob.name + " but holds no earlier copy of it to apply it to");
      dst->second.copy_(base->second + blob_to_tensor(blob, dst->second.sizes().vec()).to(base->second.device()));
    }
    copy_blobs_into(whole, params);
    site_trainer_->broadcast_parameters();
    // Only what came: with streaming fragments the rest keeps the base of its own last sync.
    for (const auto& blob : msg.tensors)
      if (auto it = params.find(blob.name); it != params.end()) round_start_[blob.name] = it->second.detach().clone();
  }

  // DDP: send this step's gradients, wait for the average, apply it.
  void ddp_exchange(int round, long step) {
    const auto precision = cfg_.federation.precision;
    auto msg = net::make_message(net::MsgType::StepGrad, {{net::field::kStep, step}}, run_id_, static_cast<uint32_t>(round));
    NamedTensors grads;
    for (auto& p : trainer_->model()->named_parameters())
      grads.emplace_back(p.key(), p.value().grad().defined() ? p.value().grad() : torch::zeros_like(p.value()));
    const double topk = cfg_.federation.topk;
    if (cfg_.federation.compression == Compression::None && topk == 0) {
      msg.tensors = tensors_to_blobs(grads, precision);
    } else {
      const auto dtype = travel_dtype(cfg_.federation.compression, topk);
      for (auto& [name, g] : grads) msg.tensors.push_back(up_feedback_.encode(name, g, dtype, nullptr, topk));
    }
    if (!send(std::move(msg))) throw std::runtime_error("cannot send gradients");
    const auto t0 = Clock::now();
    while (true) {
      auto in = ep_->poll(std::chrono::milliseconds(500));
      if (!in) {
        const double timeout = cfg_.federation.round_timeout_s > 0 ? cfg_.federation.round_timeout_s : 600.0;
        if (seconds_since(t0) > timeout) throw std::runtime_error("no averaged gradient from the coordinator");
        continue;
      }
      round_link_s_ += in->link_seconds;
      if (in->message.header.type == net::MsgType::Shutdown) throw std::runtime_error("shutdown during a DDP step");
      if (in->message.header.type != net::MsgType::StepUpdate) continue;
      std::map<std::string, torch::Tensor> grads;
      for (const auto& blob : in->message.tensors) grads[blob.name] = blob_to_tensor(blob);
      site_trainer_->apply_gradients(grads);
      wait_s_ += seconds_since(t0);
      return;
    }
  }

  void on_start_round(const net::Message& msg, double link_in_s) {
    if (trainer_ == nullptr) throw SetupFailure(setup_error_.empty() ? "StartRound before Welcome" : setup_error_);
    const int round = static_cast<int>(msg.header.round);
    const int steps = msg.meta.at(net::field::kSteps).get<int>();
    round_link_s_ = link_in_s;
    wait_s_ = 0.0;
    if (msg.meta.contains(net::field::kResidency)) change_residency(msg.meta.at(net::field::kResidency), round);
    // Overlap: this site's own parameters, to merge with the global ones (after evaluating those).
    std::map<std::string, torch::Tensor> own;
    const double alpha = cfg_.federation.overlap_mix;
    if (cfg_.federation.overlap && alpha > 0.0 && !round_start_.empty()) {
      std::set<std::string> coming;  // what this StartRound replaces (streaming fragments: one fragment)
      for (const auto& blob : msg.tensors) coming.insert(blob.name);
      for (auto& p : trainer_->model()->named_parameters())
        if (round_start_.count(p.key()) && coming.count(p.key())) own[p.key()] = p.value().detach().clone();
    }
    load_parameters(msg);
    // The global model as this site received it, on the site's own held-out split.
    std::optional<double> site_heldout;
    const long eval_step = msg.meta.value(report::kEvalStep, -1L);
    if (own_data_ && msg.meta.value(report::kEvalHeldout, false)) {
      std::vector<torch::Tensor> batches;
      for (const auto& b : feed_->eval_batches()) batches.push_back(b.to(devices_.front()));
      if (!batches.empty()) site_heldout = mean_heldout_loss(trainer_->model(), batches);
      trainer_->model()->train();
    }
    if (msg.meta.value(report::kEvalOnly, false)) {
      nlohmann::json meta = {{net::field::kSteps, 0},
                             {net::field::kPayload, "none"},
                             {net::field::kExpertTokens, nlohmann::json::array()},
                             {net::field::kMetrics, nlohmann::json::object()},
                             {net::field::kComputeSeconds, 0.0},
                             {report::kOwnData, own_data_},
                             {report::kLinkSeconds, round_link_s_},
                             {report::kEvalOnly, true}};
      if (site_heldout) {
        meta[report::kSiteHeldoutLoss] = *site_heldout;
        meta[report::kSiteHeldoutStep] = eval_step;
      }
      send(net::make_message(net::MsgType::RoundReport, meta, run_id_, static_cast<uint32_t>(round)));
      return;
    }
    if (!own.empty()) {  // Streaming DiLoCo's merge; the pseudo-gradient still starts from the global model
      torch::NoGradGuard no_grad;
      for (auto& p : trainer_->model()->named_parameters())
        if (auto it = own.find(p.key()); it != own.end()) p.value().mul_(1.0 - alpha).add_(it->second, alpha);
      site_trainer_->broadcast_parameters();
    }
    const Method method = cfg_.run.method;
    if (method == Method::Photon && cfg_.federation.stateless_clients) site_trainer_->reset_optimizer();
    const auto& start = round_start_;  // what this round started from (load_parameters)

    // Overlap: this round's first steps may already be trained (carry_, right after the last
    // report); the rest go on from the merged parameters.
    RoundTally tally;
    if (carry_.round == round) tally = std::move(carry_.tally);
    carry_ = Carry{};
    train_steps(round, steps, tally);
    const double compute_s = std::max(0.0, tally.seconds - wait_s_);
    auto& routing = tally.routing;
    const double loss_sum = tally.loss_sum, aux_sum = tally.aux_sum, z_sum = tally.z_sum;
    const int64_t samples = tally.samples;
    auto& loss_steps = tally.loss_steps;

    nlohmann::json metrics = {{metric::kTrainLoss, loss_sum / std::max(1, steps)},
                              {metric::kAuxLoss, aux_sum / std::max(1, steps)},
                              {metric::kZLoss, z_sum / std::max(1, steps)},
                              {metric::kLearningRate, trainer_->lr_at(trainer_->step())},
                              {metric::kTokensPerSecond, samples / std::max(1e-9, compute_s)}};
    for (auto& p : routing_metrics(routing, 0, round, site_, 0.0)) metrics[p.name] = p.value;
    nlohmann::json tokens = nlohmann::json::array(), load = nlohmann::json::array();
    for (auto& r : routing) {
      tokens.push_back(r.processed);
      load.push_back(r.load);
    }
    nlohmann::json meta = {{net::field::kSteps, steps},
                           {net::field::kPayload, method == Method::Photon ? "params" : "pseudo_grad"},
                           {net::field::kExpertTokens, tokens},
                           {net::field::kMetrics, metrics},
                           {net::field::kComputeSeconds, compute_s},
                           {report::kSamples, samples},
                           {report::kExpertLoad, load},
                           {report::kLinkSeconds, round_link_s_},
                           {report::kStepEnd, trainer_->step()},
                           {report::kTrainLossSteps, loss_steps},
                           {report::kOwnData, own_data_}};
    if (site_heldout) {
      meta[report::kSiteHeldoutLoss] = *site_heldout;
      meta[report::kSiteHeldoutStep] = eval_step;
    }
    if (!manifest_sent_ && !manifest_.empty()) {
      meta[report::kDataManifest] = manifest_;
      manifest_sent_ = true;
    }
    const double topk = cfg_.federation.topk;
    const bool compressed = cfg_.federation.compression != Compression::None || topk > 0;
    // Photon sends its parameters; compressed, their change (start - end) instead, which the
    // coordinator subtracts from what it sent: parameters themselves do not quantize well.
    if (method == Method::Photon) meta[net::field::kPayload] = compressed ? "params_delta" : "params";
    auto report = net::make_message(net::MsgType::RoundReport, meta, run_id_, static_cast<uint32_t>(round));
    if (method != Method::Ddp) {
      torch::NoGradGuard no_grad;
      NamedTensors payload;
      const int P = std::max(1, cfg_.federation.fragments);
      for (auto& p : trainer_->model()->named_parameters()) {
        // Streaming fragments: this round reports fragment round mod P only.
        if (P > 1 && parameter_fragment(p.key(), cfg_.model.n_layers, P) != round % P) continue;
        // Pseudo-gradient: start-of-round minus end-of-round (DiLoCo's sign), for what we hold.
        payload.emplace_back(p.key(), method == Method::Photon && !compressed ? p.value().detach() : start.at(p.key()) - p.value().detach());
      }
      if (!compressed) {
        report.tensors = tensors_to_blobs(payload, cfg_.federation.precision);
      } else {
        const auto dtype = travel_dtype(cfg_.federation.compression, topk);
        CompressionError error;
        const auto& options = trainer_->model()->options();
        for (auto& [name, t] : payload) {
          torch::Tensor sent;
          report.tensors.push_back(up_feedback_.encode(name, t, dtype, &sent, topk));
          const auto ref = classify_parameter(name, options);
          error.add(ref.is_expert, ref.moe_layer, ref.expert, t, sent);
        }
        auto& m = report.meta[net::field::kMetrics];
        m[metric::kUpError] = error.dense_relative();
        if (!error.experts.empty()) {
          m[metric::kUpErrorExperts] = error.experts_relative();
          m[metric::kUpErrorExpertMax] = error.expert_max_relative();
        }
        report.meta[report::kUpError] = error.to_json();
      }
    }
    // The report's own upload time is part of this round's communication: it is known before
    // sending (the emulated link is deterministic), so it travels inside the report.
    if (cfg_.federation.entropy_coding)  // before its size is taken
      report.meta[net::field::kMetrics][metric::kUpCodedFraction] = net::entropy_code(report).fraction();
    if (settings_.bandwidth_mbps > 0 || settings_.latency_ms > 0) {
      const net::LinkEmulator link{settings_.bandwidth_mbps * 1e6, settings_.latency_ms / 1e3};
      report.meta[report::kLinkSeconds] = round_link_s_ + link.delay_seconds(net::encoded_size(report));
    }
    send(std::move(report));
    // Overlap: while the report and the next StartRound cross the link, train the next round's
    // first steps from this site's own parameters.
    const int next_steps = msg.meta.value(report::kNextSteps, 0);
    if (cfg_.federation.overlap && next_steps > 0 && cfg_.federation.overlap_steps > 0) {
      carry_.round = round + 1;
      train_steps(round + 1, std::min(cfg_.federation.overlap_steps, next_steps), carry_.tally, next_steps);
    }
  }

  // What a round's inner steps add up to (a round's first steps may be trained early: carry_).
  struct RoundTally {
    std::vector<LayerRouting> routing;
    double loss_sum = 0, aux_sum = 0, z_sum = 0;
    int64_t samples = 0;
    nlohmann::json loss_steps = nlohmann::json::array();
    double interval_loss = 0;
    int interval_n = 0;
    int done = 0;          // inner steps trained
    double seconds = 0.0;  // their wall time
  };
  struct Carry {
    int round = -1;
    RoundTally tally;
  };

  // Trains this round's inner steps t.done .. until_step - 1; round_steps: the round's length
  // (for the last loss point). Moves the background link along after each step.
  void train_steps(int round, int until_step, RoundTally& t, int round_steps = -1) {
    if (round_steps < 0) round_steps = until_step;
    const Method method = cfg_.run.method;
    const int log_every = std::max(1, cfg_.train.log_every);
    const auto t0 = Clock::now();
    for (int i = t.done; i < until_step; ++i) {
      if (g_leave_signal.load() != 0) throw Leaving("leaving");
      StepStats s;
      if (method == Method::Ddp) {
        s = site_trainer_->forward_backward(feed_->next_batch());
        ddp_exchange(round, static_cast<long>(trainer_->step()));
      } else {
        s = site_trainer_->train_step(feed_->next_batch());
      }
      ep_->pump();
      t.loss_sum += s.loss;
      t.aux_sum += s.aux_loss;
      t.z_sum += s.z_loss;
      t.samples += s.tokens;
      t.interval_loss += s.loss;
      ++t.interval_n;
      // The federation's step numbering (round * H + i), whatever this site's own counter says
      // (a site that rejoined starts its counter again).
      const long global_step = static_cast<long>(round) * fomoe::round_steps(cfg_.federation) + i + 1;
      if (global_step % log_every == 0 || i == round_steps - 1) {
        t.loss_steps.push_back({i + 1, t.interval_loss / t.interval_n});
        t.interval_loss = 0;
        t.interval_n = 0;
      }
      if (t.routing.empty()) t.routing.resize(s.routing.size());
      for (size_t l = 0; l < s.routing.size(); ++l) t.routing[l].accumulate(s.routing[l]);
      t.done = i + 1;
    }
    t.seconds += seconds_since(t0);
  }

  AgentSettings settings_;
  std::unique_ptr<net::AgentEndpoint> ep_;
  std::string public_key_;
  ExperimentConfig cfg_;
  int site_ = -1;
  uint64_t run_id_ = 0;
  std::unique_ptr<DataFeed> feed_;
  bool own_data_ = false;       // this site reads data of its own (see on_welcome)
  std::string manifest_;        // what it reads, for the run record
  bool manifest_sent_ = false;
  std::string setup_error_;  // why Welcome failed; repeated to every StartRound
  std::vector<torch::Device> devices_;
  Residency residency_;
  // The parameters as the coordinator sent them this round: the pseudo-gradient's start and the
  // base that a compressed change of the global parameters is added to next round.
  std::map<std::string, torch::Tensor> round_start_;
  ErrorFeedback up_feedback_;  // what compressed reports did not carry yet
  Carry carry_;                // federation.overlap: the next round's steps trained early
  std::unique_ptr<SiteTrainer> site_trainer_;
  Trainer* trainer_ = nullptr;  // the site's model: rank 0 of site_trainer_
  double round_link_s_ = 0.0;
  double wait_s_ = 0.0;
};

}  // namespace

int run_agent(const AgentSettings& s) {
  if (s.exit_with_parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) return 1;  // the parent is already gone
  }
  if (s.threads > 0) torch::set_num_threads(s.threads);
  struct sigaction sa {};
  sa.sa_handler = on_leave_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  net::AgentOptions o;
  o.connect_address = s.connect;
  o.bind_address = s.listen;
  o.curve = s.curve;
  std::string public_key;
  if (s.curve) {
    auto keys = net::load_client_keys(s.key_dir, s.name);
    if (!keys) {
      FOMOE_LOG_ERROR("agent", "%s", keys.error().message.c_str());
      return 1;
    }
    o.client_keys = keys->keys;
    o.server_public_key = keys->server_public_key;
    public_key = keys->keys.public_key;
  }
  if (s.bandwidth_mbps > 0 || s.latency_ms > 0) o.link = net::LinkEmulator{s.bandwidth_mbps * 1e6, s.latency_ms / 1e3};
  auto ep = net::AgentEndpoint::create(o);
  if (!ep) {
    FOMOE_LOG_ERROR("agent", "%s", ep.error().message.c_str());
    return 1;
  }
  return Agent(s, std::move(*ep), public_key).run();
}

}  // namespace fomoe
