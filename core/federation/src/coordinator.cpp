#include "fomoe/federation/coordinator.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <cmath>
#include <optional>
#include <set>
#include <utility>

#include "fomoe/base/log.h"
#include "fomoe/base/median.h"
#include "fomoe/federation/compression.h"
#include "fomoe/federation/global_model.h"
#include "fomoe/interop/hf_import.h"
#include "fomoe/federation/placement.h"
#include "fomoe/federation/round_report.h"
#include "fomoe/federation/tensor_wire.h"
#include "fomoe/net/endpoint.h"
#include "fomoe/net/entropy_coding.h"
#include "fomoe/train/data_feed.h"
#include "fomoe/train/prompt_samples.h"
#include "fomoe/train/trainer.h"

namespace fomoe {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
}  // namespace

struct SiteState {
  bool welcomed = false;
  bool alive = false;
  std::string name;
  std::string public_key;
  SiteTotals totals;
};

struct Coordinator::Impl {
  CoordinatorSettings s;
  ExperimentConfig& cfg = s.cfg;
  // Site slots: the first federation.sites, then those that may join a running federation
  // (federation.max_sites). A slot nobody joined is never alive and holds nothing.
  int K = 1;
  int n_first = 1;
  net::ByteCounter counter;
  std::unique_ptr<net::CoordinatorEndpoint> ep;
  std::unique_ptr<GlobalModel> global;
  std::unique_ptr<Trainer> ddp_master;  // DDP: the coordinator applies the averaged gradient too
  PlacementPlan plan;
  std::vector<SiteState> sites;
  std::vector<torch::Tensor> eval_batches;
  std::unique_ptr<PromptSampler> sampler;  // the fixed prompts' continuations after each global eval
  // Data that stays at its site: sites that said they train on data of their own, the eval point
  // the next StartRound asks them to evaluate for (-1 none), and their held-out losses per step.
  std::set<int> own_data_sites;
  long site_eval_step = -1;
  std::map<long, std::map<int, double>> site_heldout;
  // Expert load the sites reported (full router's picks, before skip), summed over rounds:
  // [site][moe layer][expert]. Load-aware and affinity placement re-plan from it.
  std::vector<std::vector<std::vector<int64_t>>> site_load;
  std::vector<bool> residency_changed;  // per site: its next StartRound carries the new residency
  // federation.down_compression: what the sites hold (the master minus what was not sent yet),
  // the names each site holds as of its last StartRound, and the changes sent to them after the
  // last outer step (computed once for every site); down_stale: not computed yet.
  std::map<std::string, torch::Tensor> down_shadow;
  std::vector<std::set<std::string>> down_synced;
  std::map<std::string, net::TensorBlob> down_changes;
  bool down_stale = true;
  // Relative |master - shadow| of the dense parameters and the experts (-1: none) after the last
  // prepared change; recorded with the round that started from it.
  std::optional<std::pair<double, double>> down_drift;
  ErrorFeedback ddp_feedback{true};  // DDP compressed: the averaged gradient's residual
  std::atomic<bool> stop{false};
  bool round_abandoned = false;
  bool round_in_flight = false;  // this round's StartRounds are out (a re-plan now is for the next)  // the round in flight was given up for a stop request
  int current_round = 0;
  bool round_lost = false;  // the last round got no report because every site died: it is redone
  int next_round_steps = 0;  // federation.overlap: the round after current_round's length (0 = none)
  std::vector<double> round_seconds;  // completed rounds: the derived round timeout's basis
  // Local sites that died: restarts so far (bounded by federation.restart_sites), deaths since the
  // site last completed a round (the backoff's exponent: a site that trains again restarts at
  // once the next time) and when the next restart is due (Clock::time_point::max() = none).
  std::vector<int> restarts;
  std::vector<int> deaths_in_a_row;
  std::vector<Clock::time_point> restart_due;
  // Sites whose agent reported it cannot set up (bad device, batch split, missing data): the
  // same config fails the same way again, so a local one is never waited for.
  std::vector<bool> setup_failed;
  Clock::time_point t0 = Clock::now();
  FederationResult result;
  double sum_compute = 0, sum_comm = 0, sum_wait = 0;
  int n_time_samples = 0;

  explicit Impl(CoordinatorSettings settings) : s(std::move(settings)) {}

  double wall() const { return s.wall_offset_s + seconds_since(t0); }
  bool stopping() const { return stop || (s.stop_now != nullptr && s.stop_now->load()); }

  // federation.round_timeout_s, or (0) derived from the rounds seen: a first round includes
  // building the model and reading data, later ones are steady.
  double round_timeout() const {
    if (cfg.federation.round_timeout_s > 0) return cfg.federation.round_timeout_s;
    if (round_seconds.empty()) return 600.0;
    return std::max(30.0, 5.0 * median(round_seconds));
  }

  // Liveness, checked on every poll: exits of local agent processes (at once), connections the
  // endpoint saw close or go silent (TCP keepalive / user timeout), and restarts of local sites
  // that are due. A death is acted on a moment later (or at once with settle_now, after the
  // caller has read what is queued), so a goodbye the site sent just before it went is read first.
  struct PendingDeath {
    Clock::time_point due;
    std::string why;
    bool process_exited = false;
  };
  std::map<int, PendingDeath> pending_deaths;

  void check_liveness(bool settle_now = false) {
    const auto grace = std::chrono::milliseconds(300);
    if (s.supervisor) {
      for (auto& [site, why] : s.supervisor->exited()) {
        if (site < 0 || site >= K) continue;
        auto& p = pending_deaths[site];
        if (!p.process_exited) p.due = Clock::now() + grace;
        p.why = "its agent process " + why;  // the real cause, over a closed connection
        p.process_exited = true;
      }
    }
    for (int site : ep->take_lost_sites()) {
      if (site < 0 || site >= K || pending_deaths.count(site)) continue;
      pending_deaths[site] = {Clock::now() + grace,
                              cfg.federation.heartbeat_s > 0 ? "its connection closed, or its link carried nothing for federation.heartbeat_s = " +
                                                                   std::to_string(cfg.federation.heartbeat_s).substr(0, 4) + " s"
                                                             : "its connection closed",
                              false};
    }
    for (auto it = pending_deaths.begin(); it != pending_deaths.end();) {
      if (!settle_now && Clock::now() < it->second.due) {
        ++it;
        continue;
      }
      const int site = it->first;
      const PendingDeath death = it->second;
      it = pending_deaths.erase(it);
      mark_dead(site, death.why);
      if (!death.process_exited || !s.supervisor || left_on_purpose.count(site) || setup_failed[site]) continue;
      if (restarts[site] < cfg.federation.restart_sites) {
        const double backoff = static_cast<double>(1 << std::min(deaths_in_a_row[site]++, 6));
        restart_due[site] = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(backoff));
      } else if (cfg.federation.restart_sites > 0) {
        event(site, "fault", "site " + std::to_string(site) + " is not restarted again: it died " + std::to_string(restarts[site] + 1) +
                                 " times (federation.restart_sites = " + std::to_string(cfg.federation.restart_sites) + ")");
      }
    }
    if (!s.supervisor) return;
    for (int k = 0; k < K; ++k) {
      if (restart_due[k] == Clock::time_point::max() || Clock::now() < restart_due[k]) continue;
      restart_due[k] = Clock::time_point::max();
      ++restarts[k];
      std::string why;
      if (s.supervisor->restart(k, &why))
        event(k, "site_restarted", "site " + std::to_string(k) + " (" + sites[k].name + ") started again (restart " +
                                       std::to_string(restarts[k]) + " of at most " + std::to_string(cfg.federation.restart_sites) + ")");
      else
        event(k, "fault", "site " + std::to_string(k) + " could not be started again: " + why);
    }
  }

  // No orphaned expert: an expert whose every holder is dead gets a live holder (the one holding
  // the fewest experts of that layer). The master copy has its weights, so the new holder gets
  // them with its next StartRound; the dead holders stay in the plan for when they rejoin.
  void heal_orphans() {
    if (cfg.run.method != Method::FoMoE || ddp_master) return;
    const auto moves = plan.rehome_orphans(alive_mask());
    if (moves.empty()) return;
    for (const auto& m : moves) residency_changed[m.site] = true;
    event(-1, "placement", std::to_string(moves.size()) + " experts had no live holder and now have one: " + describe_moves(moves));
    // Healed before this round's StartRounds went out, they carry it; else the next round's do.
    if (s.sink) s.sink->on_placement(plan.entries(round_in_flight ? current_round + 1 : current_round));
  }

  std::vector<bool> alive_mask() const {
    std::vector<bool> alive(sites.size());
    for (size_t k = 0; k < sites.size(); ++k) alive[k] = sites[k].alive;
    return alive;
  }

  static std::string describe_moves(const std::vector<PlacementPlan::Move>& moves) {
    std::string text;
    for (size_t i = 0; i < moves.size() && i < 16; ++i)
      text += (i ? ", " : "") + ("layer " + std::to_string(moves[i].layer) + " expert " + std::to_string(moves[i].expert) +
                                 " -> site " + std::to_string(moves[i].site));
    if (moves.size() > 16) text += ", ... (" + std::to_string(moves.size()) + " in all)";
    return text;
  }

  void event(int site, const std::string& kind, const std::string& text) {
    FOMOE_LOG_INFO("coord", "%s%s: %s", site >= 0 ? ("site " + std::to_string(site) + " ").c_str() : "", kind.c_str(), text.c_str());
    if (kind == "site_dead" || kind == "fault") result.faults.push_back(text);
    if (s.sink) s.sink->on_event(RunEvent{wall(), site, kind, text});
  }

  int site_of_key(const std::string& key) const {
    for (size_t i = 0; i < s.agent_public_keys.size(); ++i)
      if (s.agent_public_keys[i] == key) return static_cast<int>(i);
    return -1;
  }

  std::vector<int> alive_sites() const {
    std::vector<int> out;
    for (int k = 0; k < K; ++k)
      if (sites[k].alive) out.push_back(k);
    return out;
  }

  // The slots that are part of the run: the first sites, those that joined, those the plan names.
  int sites_in_use() const {
    int n = n_first;
    for (int k = n_first; k < K; ++k)
      if (sites[k].welcomed || plan.n_held_by_site(k) > 0) n = k + 1;
    return n;
  }

  // A site beyond the first ones joins the running federation (PlacementPlan::add_joining_site):
  // FoMoE gives it a live site's mean share of each layer, least replicated and most loaded
  // first; the other methods' sites hold every expert.
  void give_joiner_its_share(int site) {
    const auto moves = plan.add_joining_site(site, alive_mask(), total_load(), cfg.run.method != Method::FoMoE);
    std::string held;
    const auto layers = plan.experts_of_site(site);
    for (size_t l = 0; l < layers.size() && l < 4; ++l) {
      held += (l ? "; layer " : "layer ") + std::to_string(l) + " experts";
      for (size_t i = 0; i < layers[l].size(); ++i) held += (i ? ", " : " ") + std::to_string(layers[l][i]);
    }
    if (layers.size() > 4) held += "; ... (" + std::to_string(moves.size()) + " expert copies in all)";
    event(-1, "placement", "site " + std::to_string(site) + " joined the running federation and holds " +
                               (moves.empty() ? std::string("the dense parameters") : held));
    if (s.sink) s.sink->on_placement(plan.entries(round_in_flight ? current_round + 1 : current_round));
  }

  // Tokens routed to each [layer][expert] so far, summed over the sites.
  std::vector<std::vector<int64_t>> total_load() const {
    std::vector<std::vector<int64_t>> total;
    for (auto& per_site : site_load) {
      if (total.empty()) total = per_site;
      else
        for (size_t l = 0; l < per_site.size(); ++l)
          for (size_t e = 0; e < per_site[l].size(); ++e) total[l][e] += per_site[l][e];
    }
    return total;
  }

  Residency residency_of(int site) const {
    Residency r;
    r.experts_per_layer = plan.experts_of_site(site);
    return r;
  }
  nlohmann::json residency_json(int site) const {
    nlohmann::json residency = nlohmann::json::array();
    for (auto& l : plan.experts_of_site(site)) residency.push_back(l);
    return residency;
  }

  bool replans() const {
    return cfg.run.method == Method::FoMoE &&
           (cfg.federation.placement == PlacementPolicy::LoadAware || cfg.federation.placement == PlacementPolicy::Affinity);
  }

  // Load-aware / affinity placement from the load reported so far; the sites whose experts change
  // get their new residency (and those experts' parameters) with the next StartRound.
  void replan(int after_round) {
    if (site_load.empty()) return;
    const int r = cfg.federation.replication;
    const int n = sites_in_use();  // slots nobody joined get nothing
    PlacementPlan next;
    if (cfg.federation.placement == PlacementPolicy::Affinity) {
      next = PlacementPlan::affinity({site_load.begin(), site_load.begin() + n}, r);
    } else {
      next = PlacementPlan::load_aware(n, total_load(), r);
    }
    next.widen(K);
    if (auto st = next.validate(); !st) {
      event(-1, "fault", "re-planning produced an invalid plan, keeping the current one: " + st.error().message);
      return;
    }
    int moved = 0, sites_changed = 0;
    for (int k = 0; k < K; ++k) {
      const auto before = plan.experts_of_site(k), after = next.experts_of_site(k);
      if (before == after) continue;
      ++sites_changed;
      residency_changed[k] = true;
      for (size_t l = 0; l < after.size(); ++l)
        for (int e : after[l]) moved += std::binary_search(before[l].begin(), before[l].end(), e) ? 0 : 1;
    }
    const char* policy = placement_policy_name(cfg.federation.placement);
    if (sites_changed == 0) {
      event(-1, "placement", std::string(policy) + " re-plan after round " + std::to_string(after_round) + ": unchanged");
      return;
    }
    plan = next;
    event(-1, "placement", std::string(policy) + " re-plan after round " + std::to_string(after_round) + ": " + std::to_string(moved) +
                               " expert copies moved to new sites, " + std::to_string(sites_changed) + " sites changed");
    if (s.sink) s.sink->on_placement(plan.entries(after_round + 1));
    heal_orphans();  // a joined site that is gone now may have been given experts
  }

  std::string plan_json() const { return nlohmann::json(plan.holders()).dump(); }

  void handle_hello(const net::Incoming& in) {
    int site = s.curve ? site_of_key(in.public_key) : -1;
    if (site < 0) {  // without CURVE (tests): first free slot
      for (int k = 0; k < K && site < 0; ++k)
        if (!sites[k].alive) site = k;
    }
    if (site < 0) {
      event(-1, "fault", "a Hello from an agent with no free site slot was refused");
      return;
    }
    const bool rejoin = sites[site].welcomed;
    // New to the run (not one of the first sites, not in the plan, e.g. after a resume): its share.
    const bool joins = site >= n_first && !rejoin && plan.n_held_by_site(site) == 0;
    if (joins) give_joiner_its_share(site);
    nlohmann::json residency = nlohmann::json::array();
    for (auto& l : residency_of(site).experts_per_layer) residency.push_back(l);
    auto welcome = net::make_message(net::MsgType::Welcome,
                                     {{net::field::kSiteId, site},
                                      {net::field::kExperimentToml, to_toml(cfg)},
                                      {net::field::kResidency, residency}},
                                     s.run_id);
    auto sent = ep->send_to_peer(in.peer, std::move(welcome));
    if (!sent) {
      event(site, "fault", "cannot welcome site: " + sent.error().message);
      return;
    }
    sites[site].welcomed = sites[site].alive = true;
    setup_failed[site] = false;  // a new agent: it may set up this time
    left_on_purpose.erase(site);
    pending_deaths.erase(site);  // what ended its previous connection is over: it is back
    residency_changed[site] = false;  // the Welcome carried the current plan
    down_synced[site].clear();        // a new process: it holds nothing a change could apply to
    sites[site].name = in.message.meta.value(net::field::kAgentName, "agent");
    sites[site].public_key = in.public_key;
    event(site, rejoin ? "site_rejoined" : "site_joined",
          sites[site].name + (joins ? " joined the running federation as site " : " joined as site ") + std::to_string(site));
  }

  // A site that says goodbye (Shutdown from an agent: SIGTERM, Ctrl-C) is out at once and is not
  // started again; it may still rejoin on its own later.
  std::set<int> left_on_purpose;
  std::deque<net::Incoming> arrived_early;  // read while starting a round, handled by its loop
  void handle_goodbye(const net::Incoming& in) {
    if (in.site < 0 || in.site >= K || !sites[in.site].alive) return;
    left_on_purpose.insert(in.site);
    mark_dead(in.site, "it left: " + in.message.meta.value(net::field::kReason, std::string("goodbye")));
  }

  // Before a round: deaths and goodbyes that happened since the last one are known first (so a
  // site is marked dead with its real cause, not as a failed send), and Hellos are answered.
  // Anything else waiting now is left over from an earlier round and dropped.
  void drain_between_rounds() {
    check_liveness();
    auto handle = [this](const net::Incoming& in) {
      if (in.message.header.type == net::MsgType::Hello) handle_hello(in);
      else if (in.message.header.type == net::MsgType::Shutdown) handle_goodbye(in);
    };
    for (auto& in : arrived_early) handle(in);
    arrived_early.clear();
    while (auto in = ep->poll(std::chrono::milliseconds(0))) handle(*in);
    check_liveness(/*settle_now=*/true);
  }

  std::string last_death_reason;
  void mark_dead(int site, const std::string& why) {
    if (!sites[site].alive) return;
    sites[site].alive = false;
    down_synced[site].clear();  // a site that comes back starts from whole tensors
    last_death_reason = why;
    ep->unbind_site(site);
    event(site, "site_dead", "site " + std::to_string(site) + " (" + sites[site].name + ") is dead: " + why);
    heal_orphans();
  }

  // Every site is dead: a local agent whose restart is due, a restarted one still starting, or a
  // remote site reconnecting may still come back, so wait for one (up to a minute past the last
  // restart due) instead of ending a run that would heal by itself. False: none came back.
  bool wait_for_a_live_site() {
    if (!alive_sites().empty()) return true;
    if (no_site_can_come_back()) return false;
    auto deadline = Clock::now() + std::chrono::seconds(60);
    for (const auto& due : restart_due)
      if (due != Clock::time_point::max()) deadline = std::max(deadline, due + std::chrono::seconds(60));
    event(-1, "fault", "every site is dead; waiting up to " + std::to_string(static_cast<int>(std::chrono::duration<double>(deadline - Clock::now()).count())) +
                           " s for one to be restarted or to rejoin");
    while (alive_sites().empty()) {
      if (stopping() || Clock::now() > deadline) return false;
      check_liveness();
      auto in = ep->poll(std::chrono::milliseconds(200));
      if (in && in->message.header.type == net::MsgType::Hello) handle_hello(*in);
      if (in && in->message.header.type == net::MsgType::Shutdown) handle_goodbye(*in);
    }
    return true;
  }

  // A local federation whose every site failed to set up: its agents run this same config, so
  // none will set up on a restart or a rejoin; waiting would only delay the reason by a minute.
  // Remote sites may be mended by their operators, so they are waited for.
  bool no_site_can_come_back() const {
    if (!s.supervisor) return false;
    for (int k = 0; k < sites_in_use(); ++k)
      if (!setup_failed[k] || restart_due[k] != Clock::time_point::max()) return false;
    return true;
  }

  Status wait_for_sites() {
    const auto start = Clock::now();
    while (true) {
      int n = 0;  // the first sites; those that may join later are not waited for
      for (int k = 0; k < n_first; ++k) n += sites[k].alive ? 1 : 0;
      if (n == n_first) return Status::ok();
      if (stopping()) return make_error(ErrorCode::Internal, "stopped while waiting for sites");
      check_liveness();
      if (seconds_since(start) > s.join_timeout_s) {
        std::string missing;
        for (int k = 0; k < n_first; ++k)
          if (!sites[k].alive) missing += (missing.empty() ? "" : ", ") + std::to_string(k);
        return make_error(ErrorCode::Timeout, "only " + std::to_string(n) + " of " + std::to_string(n_first) +
                                                  " sites said Hello within " + std::to_string(static_cast<int>(s.join_timeout_s)) +
                                                  " s (missing sites: " + missing + "); check the agents' addresses and keys");
      }
      auto in = ep->poll(std::chrono::milliseconds(200));
      if (in && in->message.header.type == net::MsgType::Hello) handle_hello(*in);
      if (in && in->message.header.type == net::MsgType::Shutdown) handle_goodbye(*in);
    }
  }

  net::Message start_round_message(int site, int round, int steps) {
    auto msg = net::make_message(net::MsgType::StartRound, {{net::field::kSteps, steps}}, s.run_id, static_cast<uint32_t>(round));
    if (cfg.federation.overlap && steps > 0) msg.meta[report::kNextSteps] = next_round_steps;
    if (residency_changed[site]) msg.meta[net::field::kResidency] = residency_json(site);
    // With no coordinator data every site's data is its own: ask even those not heard from yet
    // (after a resume); an agent without data of its own ignores the question.
    if (site_eval_step >= 0 && (own_data_sites.count(site) || !cfg.federation.coordinator_data)) {
      msg.meta[report::kEvalHeldout] = true;
      msg.meta[report::kEvalStep] = site_eval_step;
    }
    // Parameters travel down in fp32 (sites keep full-precision weights), or with
    // federation.down_compression as the quantized change since what the site holds.
    if (ddp_master) {
      for (auto& p : ddp_master->model()->named_parameters()) msg.tensors.push_back(tensor_to_blob(p.key(), p.value(), WirePrecision::F32));
    } else {
      // What the site holds in step (down_synced) gets only what changed: with streaming fragments
      // the fragment the last round reported (fragments = 1: everything); the rest comes whole.
      if (down_compressed() && down_stale) prepare_down_changes(round);
      const auto names = global->names_for_site(plan, site);
      auto& synced = down_synced[site];
      std::set<std::string> held(names.begin(), names.end());
      for (auto it = synced.begin(); it != synced.end();) it = held.count(*it) ? std::next(it) : synced.erase(it);
      for (auto& name : names) {
        if (synced.count(name)) {
          if (!due_down(name, round)) continue;
          msg.tensors.push_back(down_compressed() ? down_changes.at(name)
                                                  : tensor_to_blob(name, global->parameter(name), WirePrecision::F32));
        } else if (!down_compressed()) {
          msg.tensors.push_back(tensor_to_blob(name, global->parameter(name), WirePrecision::F32));
          synced.insert(name);
        } else {  // first time (or again after a death or a re-plan): whole, and in step from now on
          msg.tensors.push_back(tensor_to_blob(name, down_shadow.at(name), WirePrecision::F32));
          synced.insert(name);
        }
      }
    }
    if (cfg.federation.entropy_coding) down_coding += net::entropy_code(msg);
    return msg;
  }

  // Streaming fragments: the StartRound of `round` brings back the fragment round - 1 reported
  // (the one the master just stepped); with fragments = 1 every parameter, every round.
  int n_fragments() const { return std::max(1, cfg.federation.fragments); }
  bool due_down(const std::string& name, int round) const {
    const int P = n_fragments();
    return P == 1 || parameter_fragment(name, cfg.model.n_layers, P) == (round + P - 1) % P;
  }

  // After an outer step: each tensor some live site holds in step gets the quantized change of the
  // master since the shadow, which then moves by exactly what was sent (so the residual, master -
  // shadow, is carried into the next round). A tensor no site holds in step restarts from the master.
  void prepare_down_changes(int round) {
    torch::NoGradGuard no_grad;
    down_changes.clear();
    const auto dtype = compressed_dtype(cfg.federation.down_compression);
    // How far what the sites hold is from the master after this change: |master - shadow|.
    std::pair<double, double> dense_drift{0, 0}, experts_drift{0, 0};  // (drift^2, |master|^2)
    for (auto& p : global->model()->named_parameters()) {
      const std::string& name = p.key();
      const auto master = p.value().detach();
      bool in_step = false;
      for (int k = 0; k < K && !in_step; ++k) in_step = sites[k].alive && down_synced[k].count(name);
      auto it = down_shadow.find(name);
      if (!in_step || it == down_shadow.end()) {
        if (it == down_shadow.end()) down_shadow[name] = master.clone();
        else it->second.copy_(master);
        continue;
      }
      if (!due_down(name, round)) continue;  // not stepped this round: its residual waits for its turn
      const double topk = cfg.federation.down_topk;
      auto blob = topk > 0 ? sparsify_to_blob(name, master - it->second, topk, dtype) : quantize_to_blob(name, master - it->second, dtype);
      it->second.add_(dequantize_blob(blob));
      const bool expert = classify_parameter(name, global->model()->options()).is_expert;
      auto& [drift2, norm2] = expert ? experts_drift : dense_drift;
      drift2 += (master - it->second).square().sum().item<double>();
      norm2 += master.square().sum().item<double>();
      down_changes.emplace(name, std::move(blob));
    }
    down_stale = false;
    if (dense_drift.second > 0 || experts_drift.second > 0)
      down_drift = {dense_drift.second > 0 ? std::sqrt(dense_drift.first / dense_drift.second) : 0.0,
                    experts_drift.second > 0 ? std::sqrt(experts_drift.first / experts_drift.second) : -1.0};
  }

  // What a site started this round from: the shadow with down compression, else the master.
  torch::Tensor round_base(const std::string& name) const {
    return down_compressed() && !ddp_master ? down_shadow.at(name) : global->parameter(name);
  }

  // federation.down_compression or down_topk: the change since the shadow travels down.
  bool down_compressed() const { return cfg.federation.down_compression != Compression::None || cfg.federation.down_topk > 0; }

  // Routing of the global model on a fixed probe batch: entropies, dead experts, and the overlap
  // of each token's top-k set with the previous round's (routing stability).
  void probe_routing(int round, long step) {
    if (eval_batches.empty() || ddp_master) return;
    Transformer& m = global->model();
    torch::NoGradGuard no_grad;
    m->eval();
    auto moe = m->moe_layers();
    for (auto& l : moe) l->keep_topk = true;
    const auto& b = eval_batches.front();
    m->forward(b.narrow(1, 0, b.size(1) - 1));
    std::vector<LayerRouting> routing;
    std::vector<MetricPoint> points;
    double overlap_sum = 0;
    for (size_t l = 0; l < moe.size(); ++l) {
      const auto& st = moe[l]->last_stats();
      moe[l]->keep_topk = false;
      LayerRouting r;
      r.load.assign(st.load_E.data_ptr<int64_t>(), st.load_E.data_ptr<int64_t>() + st.load_E.numel());
      r.processed = r.load;
      r.n_picks = st.n_picks;
      r.router_entropy_sum = st.router_entropy;
      r.n_steps = 1;
      routing.push_back(r);
      auto idx = st.topk_idx_NK;
      if (previous_topk_.size() == moe.size() && previous_topk_[l].defined()) {
        // |S_now ∩ S_before| / K per token: compare every pick with every previous pick.
        auto same = idx.unsqueeze(2).eq(previous_topk_[l].unsqueeze(1)).any(2).to(torch::kFloat).mean();
        const double ov = same.item<double>();
        overlap_sum += ov;
        points.push_back({metric::layer_metric(metric::kTopkOverlap, static_cast<int>(l)), ov, step, round, -1, wall()});
      }
      if (previous_topk_.size() < moe.size()) previous_topk_.resize(moe.size());
      previous_topk_[l] = idx;
    }
    if (!points.empty()) points.push_back({metric::kTopkOverlap, overlap_sum / static_cast<double>(moe.size()), step, round, -1, wall()});
    for (auto& p : routing_metrics(routing, step, round, -1, wall())) points.push_back(p);
    if (s.sink) s.sink->on_metrics(points);
  }
  std::vector<torch::Tensor> previous_topk_;

  double evaluate() { return mean_heldout_loss(ddp_master ? ddp_master->model() : global->model(), eval_batches); }

  // What a report says about data that stays at its site: whether the site has its own, what it
  // reads (recorded once as a "site_data" event: files, sizes, hashes, never the data), and its
  // held-out loss on its own split for an eval point.
  void read_site_data_fields(int site, int round, const nlohmann::json& meta) {
    if (meta.value(report::kOwnData, false)) own_data_sites.insert(site);
    if (auto it = meta.find(report::kDataManifest); it != meta.end() && it->is_string()) {
      if (s.sink) s.sink->on_event(RunEvent{wall(), site, "site_data", it->get<std::string>()});
    }
    auto loss = meta.find(report::kSiteHeldoutLoss);
    if (loss == meta.end() || !loss->is_number()) return;
    const long at = meta.value(report::kSiteHeldoutStep, -1L);
    if (at < 0) return;
    site_heldout[at][site] = loss->get<double>();
    if (s.sink) s.sink->on_metrics({{metric::kSiteEvalLoss, loss->get<double>(), at, round, site, wall()}});
  }

  // With no data of its own, the coordinator's held-out loss at an eval point is the mean of the
  // sites' (recorded as the run's eval loss, site -1); NaN until a site reported for that step.
  double mean_site_heldout(long at) {
    auto it = site_heldout.find(at);
    if (it == site_heldout.end() || it->second.empty()) return std::nan("");
    double sum = 0;
    for (auto& [site, v] : it->second) sum += v;
    return sum / static_cast<double>(it->second.size());
  }

  // The run's last eval point: sites with their own data receive the final global model (the
  // parameters they hold, counted on the wire like any round) and report their held-out loss.
  void collect_final_site_evals(int round, long step) {
    std::set<int> expected;
    for (int k : alive_sites()) {
      if (!own_data_sites.count(k)) continue;
      site_eval_step = step;
      auto msg = start_round_message(k, round, 0);
      msg.meta[report::kEvalOnly] = true;
      site_eval_step = -1;
      if (ep->send(k, std::move(msg))) expected.insert(k);
    }
    const auto t0 = Clock::now();
    while (!expected.empty() && seconds_since(t0) < round_timeout() && !stopping()) {
      check_liveness();
      for (auto it = expected.begin(); it != expected.end();) it = sites[*it].alive ? std::next(it) : expected.erase(it);
      auto in = ep->poll(std::chrono::milliseconds(100));
      if (!in) continue;
      if (in->message.header.type == net::MsgType::Shutdown) handle_goodbye(*in);
      if (in->message.header.type == net::MsgType::RoundReport && expected.count(in->site) &&
          in->message.meta.value(report::kEvalOnly, false)) {
        read_site_data_fields(in->site, round, in->message.meta);
        expected.erase(in->site);
      } else if (in->message.header.type == net::MsgType::ErrorReply && expected.count(in->site)) {
        event(in->site, "fault", "site " + std::to_string(in->site) + " could not evaluate: " +
                                      in->message.meta.value(net::field::kMessage, ""));
        expected.erase(in->site);
      }
    }
    for (int k : expected) event(k, "fault", "site " + std::to_string(k) + " sent no held-out loss for the last eval point");
    auto rows = counter.take();
    for (auto& r : rows) {
      if (r.site < 0 || r.site >= K) continue;
      (r.direction == Direction::Sent ? sites[r.site].totals.bytes_sent : sites[r.site].totals.bytes_received) += r.bytes;
      result.bytes_total += r.bytes;
    }
    if (s.sink) s.sink->on_link_bytes(net::to_link_bytes(rows));
  }

  // Runs one round; returns the mean train loss over reporting sites.
  double run_round(int round, int steps, long step_before) {
    const auto round_t0 = Clock::now();
    if (s.sink) s.sink->on_event(RunEvent{wall(), -1, "round_started", "round " + std::to_string(round)});
    drain_between_rounds();
    round_in_flight = true;
    std::set<int> expected;
    for (int k : alive_sites()) {
      ddp_step_sent_[k] = false;
      auto sent = ep->send(k, start_round_message(k, round, steps));
      if (!sent) {
        // A goodbye that crossed this send (the agent said it, then closed) is the real cause:
        // read what has arrived (waiting up to 50 ms for it); the rest waits for the round's loop.
        const auto give_up = Clock::now() + std::chrono::milliseconds(50);
        while (sites[k].alive && Clock::now() < give_up)
          if (auto in = ep->poll(std::chrono::milliseconds(10))) {
            if (in->message.header.type == net::MsgType::Shutdown) handle_goodbye(*in);
            else arrived_early.push_back(std::move(*in));
          }
        mark_dead(k, "cannot send the round's parameters: " + sent.error().message);  // no-op after a goodbye
        continue;
      }
      residency_changed[k] = false;  // delivered: later rounds carry no residency
      expected.insert(k);
    }
    site_eval_step = -1;
    std::vector<SiteUpdate> updates;
    std::map<int, nlohmann::json> reports;
    UpdateErrorTally update_error;  // compressed reports: the averaged update's error
    std::map<int, std::vector<std::pair<long, double>>> loss_curves;  // site -> [(step, loss)] at log_every
    // DDP per-step gradient exchange state.
    std::map<int, std::map<std::string, torch::Tensor>> step_grads;
    auto last_progress = Clock::now();
    const double timeout = round_timeout();
    round_abandoned = false;
    while (!expected.empty()) {
      if (stopping()) {  // the saved state is still the last completed round's: this one is redone on resume
        round_abandoned = true;
        round_in_flight = false;
        return std::nan("");
      }
      check_liveness();
      for (auto it = expected.begin(); it != expected.end();) it = sites[*it].alive ? std::next(it) : expected.erase(it);
      if (expected.empty()) break;
      std::optional<net::Incoming> in;
      if (!arrived_early.empty()) {
        in = std::move(arrived_early.front());
        arrived_early.pop_front();
      } else {
        in = ep->poll(std::chrono::milliseconds(100));
      }
      if (!in) {
        if (seconds_since(last_progress) > timeout) {
          const std::string why = cfg.federation.round_timeout_s > 0
                                      ? "no report within federation.round_timeout_s = " + std::to_string(timeout) + " s"
                                      : "no report within the round timeout derived from the rounds so far (" +
                                            std::to_string(static_cast<int>(timeout)) + " s)";
          for (int k : std::vector<int>(expected.begin(), expected.end())) mark_dead(k, why);
          expected.clear();
          break;
        }
        continue;
      }
      const auto& msg = in->message;
      const int site = in->site;
      switch (msg.header.type) {
        case net::MsgType::Hello: handle_hello(*in); break;
        case net::MsgType::Shutdown: handle_goodbye(*in); break;
        case net::MsgType::StepGrad: {
          if (!expected.count(site)) break;
          last_progress = Clock::now();
          auto& g = step_grads[site];
          for (auto& blob : msg.tensors) g[blob.name] = blob_to_tensor(blob);
          // All expected sites delivered this step: average, apply to the master, send back.
          bool complete = true;
          for (int k : expected) complete &= step_grads.count(k) > 0;
          if (complete) finish_ddp_step(step_grads, expected, round, msg.meta.value(net::field::kStep, 0L));
          break;
        }
        case net::MsgType::RoundReport: {
          if (!expected.count(site)) break;
          last_progress = Clock::now();
          try {
            SiteUpdate u;
            u.site = site;
            for (auto& blob : msg.tensors) u.tensors[blob.name] = blob_to_tensor(blob, global->shape_of(blob.name));
            if (auto it = msg.meta.find(report::kUpError); it != msg.meta.end()) update_error.add(CompressionError::from_json(*it), u.tensors);
            // Photon, compressed: the change of its parameters; the parameters are the base minus it.
            if (msg.meta.value(net::field::kPayload, std::string()) == "params_delta")
              for (auto& [name, t] : u.tensors) t = round_base(name) - t;
            for (auto& l : msg.meta.at(net::field::kExpertTokens)) u.expert_tokens.push_back(l.get<std::vector<int64_t>>());
            u.samples = msg.meta.value(report::kSamples, int64_t{0});
            std::vector<std::pair<long, double>> curve;
            if (auto it = msg.meta.find(report::kTrainLossSteps); it != msg.meta.end()) {
              if (!it->is_array()) throw std::runtime_error(std::string(report::kTrainLossSteps) + " is not an array");
              for (auto& p : *it) {
                if (!p.is_array() || p.size() != 2 || !p[0].is_number_integer() || !p[1].is_number())
                  throw std::runtime_error(std::string(report::kTrainLossSteps) + " holds an entry that is not [step, loss]");
                const long i = p[0].get<long>();
                if (i < 1 || i > steps)
                  throw std::runtime_error(std::string(report::kTrainLossSteps) + ": inner step " + std::to_string(i) +
                                           " is outside this round's 1.." + std::to_string(steps));
                curve.emplace_back(step_before + i, p[1].get<double>());
              }
            }
            read_site_data_fields(site, round, msg.meta);
            updates.push_back(std::move(u));
            deaths_in_a_row[site] = 0;  // it trains: a later death restarts it without waiting
            loss_curves[site] = std::move(curve);
            reports[site] = msg.meta;
          } catch (const std::exception& e) {
            event(site, "fault", "round report of site " + std::to_string(site) + " rejected: " + e.what());
          }
          expected.erase(site);
          break;
        }
        case net::MsgType::ErrorReply: {
          const std::string why = msg.meta.value(net::field::kMessage, "");
          if (msg.meta.value(net::field::kCode, "") == "setup_failure") {
            // It cannot train at all (bad device, missing data...): out of the run, with the reason.
            setup_failed[site] = true;
            mark_dead(site, "could not set up: " + why);
            expected.erase(site);
            break;
          }
          if (!expected.count(site)) break;
          event(site, "fault", "site " + std::to_string(site) + " failed the round: " + why);
          expected.erase(site);
          break;
        }
        default: break;
      }
      // A site that died during a DDP step must not block the others.
      if (ddp_master && !step_grads.empty()) {
        bool complete = true;
        for (int k : expected) complete &= step_grads.count(k) > 0;
        if (complete) finish_ddp_step(step_grads, expected, round, -1);
      }
    }

    round_in_flight = false;
    OuterStepStats outer;
    if (!ddp_master) outer = global->apply_round(updates, plan);
    down_stale = true;
    const double round_s = seconds_since(round_t0);
    if (!reports.empty()) round_seconds.push_back(round_s);
    const long step = step_before + steps;

    // Record: per-site metrics, expert load, bytes per link, round time split.
    std::vector<MetricPoint> points;
    std::vector<ExpertLoadEntry> load;
    double loss_sum = 0;
    // Train loss per site at its log_every steps (from the report), and their mean over the sites
    // that logged each step; a report without a curve (older agent) gives its round mean.
    std::map<long, std::pair<double, int>> loss_by_step;
    for (auto& [site, meta] : reports) {
      const auto& curve = loss_curves[site];
      for (auto& [name, value] : meta.at(net::field::kMetrics).items())
        if (value.is_number() && !(name == metric::kTrainLoss && !curve.empty()))
          points.push_back({name, value.get<double>(), step, round, site, wall()});
      for (auto& [at, loss] : curve) {
        points.push_back({metric::kTrainLoss, loss, at, round, site, wall()});
        auto& acc = loss_by_step[at];
        acc.first += loss;
        ++acc.second;
      }
      if (curve.empty()) {
        auto& acc = loss_by_step[step];
        acc.first += meta.at(net::field::kMetrics).value(metric::kTrainLoss, 0.0);
        ++acc.second;
      }
      loss_sum += meta.at(net::field::kMetrics).value(metric::kTrainLoss, 0.0);
      const double compute = meta.value(net::field::kComputeSeconds, 0.0);
      const double link = meta.value(report::kLinkSeconds, 0.0);
      const double wait = std::max(0.0, round_s - compute - link);
      points.push_back({metric::kRoundCompute, compute, step, round, site, wall()});
      points.push_back({metric::kRoundComm, link, step, round, site, wall()});
      points.push_back({metric::kRoundWait, wait, step, round, site, wall()});
      if (cfg.federation.overlap)
        points.push_back({metric::kRoundOverlap, std::clamp(compute + link - round_s, 0.0, link), step, round, site, wall()});
      sum_compute += compute;
      sum_comm += link;
      sum_wait += wait;
      ++n_time_samples;
      if (meta.contains(report::kExpertLoad)) {
        int l = 0;
        for (auto& layer : meta.at(report::kExpertLoad)) {
          int e = 0;
          for (auto& v : layer) {
            const int64_t tokens = v.get<int64_t>();
            load.push_back({round, site, l, e, tokens});
            if (site < static_cast<int>(site_load.size()) && l < static_cast<int>(site_load[site].size()) &&
                e < static_cast<int>(site_load[site][l].size()))
              site_load[site][l][e] += tokens;
            ++e;
          }
          ++l;
        }
      }
      result.tokens += meta.value(report::kSamples, 0.0);
    }
    if (down_drift) {  // measured when this round's changes were prepared
      points.push_back({metric::kDownDrift, down_drift->first, step, round, -1, wall()});
      if (down_drift->second >= 0) points.push_back({metric::kDownDriftExperts, down_drift->second, step, round, -1, wall()});
      down_drift.reset();
    }
    if (down_coding.raw > 0) {  // the StartRounds sent since the last round's end
      points.push_back({metric::kDownCodedFraction, down_coding.fraction(), step, round, -1, wall()});
      down_coding = {};
    }
    if (!update_error.empty()) {
      const auto& options = global->model()->options();
      const auto e = update_error.relative([&](const std::string& name) {
        const auto ref = classify_parameter(name, options);
        return ref.is_expert ? std::make_pair(ref.moe_layer, ref.expert) : std::make_pair(-1, -1);
      });
      points.push_back({metric::kUpdateError, e.dense, step, round, -1, wall()});
      if (e.expert_max >= 0) {
        points.push_back({metric::kUpdateErrorExperts, e.experts, step, round, -1, wall()});
        points.push_back({metric::kUpdateErrorExpertMax, e.expert_max, step, round, -1, wall()});
      }
    }
    auto rows = counter.take();
    for (auto& r : rows) {
      if (r.site < 0 || r.site >= K) continue;
      (r.direction == Direction::Sent ? sites[r.site].totals.bytes_sent : sites[r.site].totals.bytes_received) += r.bytes;
      result.bytes_total += r.bytes;
    }
    if (s.sink) {
      s.sink->on_link_bytes(net::to_link_bytes(rows));
      if (!load.empty()) s.sink->on_expert_load(load);
    }
    const double mean_loss = reports.empty() ? std::nan("") : loss_sum / static_cast<double>(reports.size());
    for (auto& [at, acc] : loss_by_step) points.push_back({metric::kTrainLoss, acc.first / acc.second, at, round, -1, wall()});
    // No report at all: a gap in the curve, unless every site died (the round is then redone).
    round_lost = reports.empty() && !ddp_master && alive_sites().empty();
    if (reports.empty() && !round_lost) points.push_back({metric::kTrainLoss, mean_loss, step, round, -1, wall()});
    if (s.sink) s.sink->on_metrics(points);
    if (!ddp_master && outer.expert_tensors_skipped > 0 && cfg.run.method == Method::FoMoE)
      FOMOE_LOG_DEBUG("coord", "round %d: %d expert tensors got no outer step", round, outer.expert_tensors_skipped);
    if (!outer.dense_quorum_met)
      event(-1, "fault", "round " + std::to_string(round) + ": " + std::to_string(reports.size()) +
                             " sites reported, below federation.quorum = " + std::to_string(cfg.federation.quorum) +
                             ": dense parameters kept");
    if (s.sink) s.sink->on_event(RunEvent{wall(), -1, "round_finished", "round " + std::to_string(round)});
    return mean_loss;
  }

  void finish_ddp_step(std::map<int, std::map<std::string, torch::Tensor>>& step_grads, const std::set<int>& expected,
                       int round, long step) {
    std::map<std::string, torch::Tensor> avg;
    int n = 0;
    for (auto& [site, grads] : step_grads) {
      if (!expected.count(site)) continue;
      ++n;
      for (auto& [name, g] : grads) avg[name] = avg.count(name) ? avg[name] + g : g.clone();
    }
    for (auto& [name, g] : avg) g /= static_cast<double>(n);
    auto msg = net::make_message(net::MsgType::StepUpdate, {{net::field::kStep, step}}, s.run_id, static_cast<uint32_t>(round));
    const double topk = cfg.federation.topk;
    if (cfg.federation.compression == Compression::None && topk == 0) {
      for (auto& [name, g] : avg) msg.tensors.push_back(tensor_to_blob(name, g, cfg.federation.precision));
    } else {  // the master applies what the sites will decode, so every copy stays identical
      const auto dtype = travel_dtype(cfg.federation.compression, topk);
      for (auto& [name, g] : avg) {
        torch::Tensor sent;
        msg.tensors.push_back(ddp_feedback.encode(name, g, dtype, &sent, topk));
        g = sent;
      }
    }
    ddp_master->apply_gradients(avg);
    std::vector<int> targets(expected.begin(), expected.end());
    if (cfg.federation.entropy_coding) net::entropy_code(msg);
    auto sent = ep->broadcast(targets, std::move(msg));
    if (!sent) event(-1, "fault", "cannot send the averaged gradient: " + sent.error().message);
    step_grads.clear();
  }

  std::map<int, bool> ddp_step_sent_;
  net::CodingTally down_coding;  // entropy coding of the StartRounds not yet reported in a metric
};

Coordinator::Coordinator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Coordinator::~Coordinator() = default;

Expected<std::unique_ptr<Coordinator>> Coordinator::create(CoordinatorSettings settings) {
  auto impl = std::make_unique<Impl>(std::move(settings));
  auto& cfg = impl->cfg;
  impl->n_first = cfg.federation.sites;
  impl->K = std::max(cfg.federation.sites, cfg.federation.max_sites);
  impl->sites.resize(static_cast<size_t>(impl->K));
  try {
    const auto opts = model_options_from(cfg);
    const int n_moe = static_cast<int>(opts.n_moe_layers());
    const int r = cfg.run.method == Method::FoMoE ? cfg.federation.replication : impl->n_first;
    if (cfg.run.method == Method::FoMoE && cfg.federation.placement == PlacementPolicy::Explicit) {
      auto plan = PlacementPlan::from_holders(impl->n_first, cfg.federation.explicit_plan);
      if (!plan) return plan.error();
      impl->plan = *plan;
    } else {
      // Load-aware and affinity placement start round-robin and re-plan from the load sites report.
      impl->plan = PlacementPlan::round_robin(impl->n_first, n_moe, cfg.model.n_experts, r);
    }
    impl->plan.widen(impl->K);
    if (auto st = impl->plan.validate(); !st) return st.error();
    impl->site_load.assign(static_cast<size_t>(impl->K),
                           std::vector<std::vector<int64_t>>(static_cast<size_t>(n_moe), std::vector<int64_t>(static_cast<size_t>(cfg.model.n_experts), 0)));
    impl->residency_changed.assign(static_cast<size_t>(impl->K), false);
    impl->down_synced.assign(static_cast<size_t>(impl->K), {});
    impl->ddp_feedback = ErrorFeedback(cfg.federation.error_feedback, cfg.federation.error_feedback_decay);
    impl->restarts.assign(static_cast<size_t>(impl->K), 0);
    impl->deaths_in_a_row.assign(static_cast<size_t>(impl->K), 0);
    impl->restart_due.assign(static_cast<size_t>(impl->K), Clock::time_point::max());
    impl->setup_failed.assign(static_cast<size_t>(impl->K), false);
    for (size_t k = 0; k < cfg.federation.site_data_paths.size(); ++k)  // known before their first report
      if (!cfg.federation.site_data_paths[k].empty()) impl->own_data_sites.insert(static_cast<int>(k));
    impl->global = std::make_unique<GlobalModel>(cfg);
    if (cfg.run.method == Method::Ddp)
      impl->ddp_master = std::make_unique<Trainer>(cfg, Residency::full(n_moe, cfg.model.n_experts), torch::kCPU);
    // model.init_from: the master starts from a transformers checkpoint (sites receive it with
    // their first StartRound, so only the coordinator reads the folder). A resume loads its state.
    if (!cfg.model.init_from.empty() && !impl->s.resume) {
      if (auto st = interop::load_hf_weights(impl->global->model(), cfg.model.init_from); !st) return st.error();
      if (impl->ddp_master)
        if (auto st = interop::load_hf_weights(impl->ddp_master->model(), cfg.model.init_from); !st) return st.error();
    }
    if (cfg.federation.coordinator_data) {  // else every site's data is its own: the coordinator reads none
      auto feed = DataFeed::open(cfg, 1, 0);
      if (!feed) return feed.error();
      impl->eval_batches = (*feed)->eval_batches();
      auto sampler = PromptSampler::open(cfg, feed->get());
      if (!sampler) return sampler.error();
      impl->sampler = std::move(*sampler);
    } else if (!cfg.data.tokenizer.empty()) {  // the tokenizer file alone, no data: samples still
      auto sampler = PromptSampler::open(cfg, nullptr);
      if (!sampler) return sampler.error();
      impl->sampler = std::move(*sampler);
    }
  } catch (const c10::Error& e) {
    return make_error(ErrorCode::InvalidArgument, std::string("cannot build the global model: ") + e.what_without_backtrace());
  }
  net::CoordinatorOptions o;
  o.bind_address = impl->s.bind;
  o.connect_addresses = impl->s.connect_addresses;
  o.curve = impl->s.curve;
  o.server_keys = impl->s.server_keys;
  o.allowed_public_keys = impl->s.agent_public_keys;
  o.run_id = impl->s.run_id;
  o.counter = &impl->counter;
  o.heartbeat_s = cfg.federation.heartbeat_s;
  auto ep = net::CoordinatorEndpoint::create(o);
  if (!ep) return ep.error();
  impl->ep = std::move(*ep);
  return std::unique_ptr<Coordinator>(new Coordinator(std::move(impl)));
}

std::string Coordinator::endpoint() const { return impl_->ep->endpoint(); }
void Coordinator::request_stop() { impl_->stop = true; }

Expected<FederationResult> Coordinator::run(const std::function<bool(const RoundProgress&)>& progress) {
  auto& d = *impl_;
  auto& cfg = d.cfg;
  d.t0 = Clock::now();
  const int H = round_steps(cfg.federation);  // inner steps per round (H / P with streaming fragments)
  const int total_rounds = (cfg.train.steps + H - 1) / H;
  int first_round = 0;
  if (d.s.resume && !d.s.state_path.empty()) {
    std::string stored_plan;
    auto r = d.ddp_master ? Expected<int64_t>(make_error(ErrorCode::Unsupported, "DDP runs do not resume"))
                          : d.global->load(d.s.state_path, &stored_plan);
    if (!r) return r.error();
    first_round = static_cast<int>(*r);
    if (!stored_plan.empty()) {  // the plan in force when the state was saved (it may have been re-planned)
      try {
        auto plan = PlacementPlan::from_holders(d.K, nlohmann::json::parse(stored_plan).get<std::vector<std::vector<std::vector<int>>>>());
        if (!plan) return plan.error();
        if (plan->n_moe_layers() != d.plan.n_moe_layers() || plan->n_experts() != d.plan.n_experts())
          return make_error(ErrorCode::Corrupt, "the placement stored in " + d.s.state_path + " does not fit this model");
        d.plan = *plan;
      } catch (const nlohmann::json::exception& e) {
        return make_error(ErrorCode::Corrupt, "cannot read the placement stored in " + d.s.state_path + ": " + e.what());
      }
    }
    // Rows recorded for rounds the saved state does not include (the run died or was stopped
    // during them) go: those rounds are trained again now, and each is recorded once.
    if (d.s.sink) d.s.sink->on_resumed(first_round);
    d.event(-1, "resumed", "resumed after round " + std::to_string(first_round) + " from " + d.s.state_path);
    // The sites' own held-out losses for an eval point at the last completed round were to come
    // with the next round's reports, which never came: ask again with the first round now.
    const long at = static_cast<long>(first_round) * H;
    const bool eval_point = cfg.train.eval_every > 0 && first_round > 0 && at / cfg.train.eval_every != (at - H) / cfg.train.eval_every;
    if (eval_point && first_round < total_rounds && d.n_fragments() == 1 && (!d.own_data_sites.empty() || !cfg.federation.coordinator_data))
      d.site_eval_step = at;
  }
  d.result.first_round = first_round;
  d.result.rounds = first_round;
  try {
    if (d.s.sink) d.s.sink->on_placement(d.plan.entries(first_round));
    if (auto st = d.wait_for_sites(); !st) return st.error();
    d.heal_orphans();  // resumed: experts of a site that had joined and is not back yet
    RoundProgress prog;
    prog.total_rounds = total_rounds;
    for (int round = first_round; round < total_rounds && !d.stopping(); ++round) {
      d.current_round = round;
      if (!d.wait_for_a_live_site()) {
        if (d.stopping()) break;
        return make_error(ErrorCode::Internal, "every site is dead and none came back; the run cannot go on (last: " + d.last_death_reason + ")");
      }
      const long step_before = static_cast<long>(round) * H;
      const int steps = std::min(H, cfg.train.steps - round * H);
      d.next_round_steps = round + 1 < total_rounds ? std::min(H, cfg.train.steps - (round + 1) * H) : 0;
      prog.train_loss = d.run_round(round, steps, step_before);
      if (d.round_abandoned) {
        d.event(-1, "stopped", "stopped during round " + std::to_string(round + 1) + " of " + std::to_string(total_rounds) +
                                   "; the state saved after round " + std::to_string(round) + " is where a resume goes on");
        break;
      }
      // e.g. no site could set up (nothing restarts those): stop now rather than report a run
      if (!d.wait_for_a_live_site()) {
        if (d.stopping()) break;
        return make_error(ErrorCode::Internal, "every site is dead and none came back; the run cannot go on (last: " + d.last_death_reason + ")");
      }
      if (d.round_lost) {  // nothing of it reached the master (no outer step happened): train it again
        d.event(-1, "fault", "round " + std::to_string(round + 1) + " is trained again: every site died during it");
        --round;
        continue;
      }
      // Between rounds every site waits: time what happens here, and say where it went when it is long.
      const auto between_t0 = Clock::now();
      double eval_s = 0, samples_s = 0, sync_s = 0, save_s = 0;
      d.probe_routing(round, step_before + steps);
      prog.round = round + 1;
      prog.step = step_before + steps;
      const bool last = round + 1 == total_rounds;
      const bool eval_now = cfg.train.eval_every > 0 && (prog.step / cfg.train.eval_every != step_before / cfg.train.eval_every);
      // Sites' own held-out losses for the previous eval point came with this round's reports.
      if (!cfg.federation.coordinator_data) {
        for (auto it = d.site_heldout.begin(); it != d.site_heldout.end();) {
          const double mean = d.mean_site_heldout(it->first);
          if (d.s.sink && std::isfinite(mean)) d.s.sink->on_metrics({{metric::kEvalLoss, mean, it->first, round, -1, d.wall()}});
          if (std::isfinite(mean)) prog.eval_loss = mean;
          it = d.site_heldout.erase(it);
        }
      } else {
        d.site_heldout.clear();
      }
      if (eval_now || last) {
        if (cfg.federation.coordinator_data) {
          const auto t = Clock::now();
          prog.eval_loss = d.evaluate();
          eval_s = seconds_since(t);
          if (d.s.sink) d.s.sink->on_metrics({{metric::kEvalLoss, prog.eval_loss, prog.step, round, -1, d.wall()}});
        }
        if (d.sampler && d.s.sink) {
          const auto t = Clock::now();
          d.s.sink->on_samples(d.sampler->sample(d.ddp_master ? d.ddp_master->model() : d.global->model(), round, prog.step));
          samples_s = seconds_since(t);
        }
        // With streaming fragments a site never holds the global model whole after its first
        // round, so a site's own held-out loss would be of a mix: not asked (validation refuses
        // site data with fragments; a remote site's --data is only known at run time).
        if (!d.own_data_sites.empty() && d.n_fragments() == 1) {
          if (last) {
            d.collect_final_site_evals(round + 1, prog.step);
            if (!cfg.federation.coordinator_data) {
              prog.eval_loss = d.mean_site_heldout(prog.step);
              if (d.s.sink && std::isfinite(prog.eval_loss))
                d.s.sink->on_metrics({{metric::kEvalLoss, prog.eval_loss, prog.step, round, -1, d.wall()}});
            }
            d.site_heldout.clear();
          } else {
            d.site_eval_step = prog.step;  // asked with the next StartRound, before it trains
          }
        }
      }
      const int every = cfg.federation.replan_every;
      if (d.replans() && round + 1 < total_rounds && (every == 0 ? round == first_round && first_round == 0 : (round + 1) % every == 0))
        d.replan(round);
      if (!d.s.state_path.empty() && !d.ddp_master) {
        auto t = Clock::now();
        if (d.s.sink) d.s.sink->sync();  // the round's rows are durable before the state says it is done
        sync_s = seconds_since(t);
        t = Clock::now();
        auto saved = d.global->save(d.s.state_path, round + 1, d.plan_json());
        save_s = seconds_since(t);
        if (!saved) d.event(-1, "fault", saved.error().message);
        else if (d.s.sink) d.s.sink->on_checkpoint({round, prog.step, d.s.state_path});
      }
      prog.alive_sites = static_cast<int>(d.alive_sites().size());
      prog.bytes_total = d.result.bytes_total;
      prog.elapsed_s = d.wall();
      d.result.rounds = round + 1;
      d.result.steps = prog.step;
      d.result.final_train_loss = prog.train_loss;
      d.result.final_eval_loss = prog.eval_loss;
      if (const double between_s = seconds_since(between_t0); between_s > 2.0)
        FOMOE_LOG_WARN("coord", "round %d: the sites waited %.1f s between rounds (held-out eval %.1f s, samples %.1f s, "
                       "recording %.1f s, state save %.1f s)", round + 1, between_s, eval_s, samples_s, sync_s, save_s);
      if (progress && !progress(prog)) d.stop = true;
    }
  } catch (const c10::Error& e) {
    return make_error(ErrorCode::Internal, std::string("federation failed: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return make_error(ErrorCode::Internal, std::string("federation failed: ") + e.what());
  }
  d.result.stopped = d.stopping() && d.result.rounds < total_rounds;
  if (d.result.stopped && !d.round_abandoned)
    d.event(-1, "stopped", "stopped after round " + std::to_string(d.result.rounds) + " of " + std::to_string(total_rounds));
  const char* reason = d.result.stopped ? "run stopped" : "run finished";
  for (int k : d.alive_sites()) (void)d.ep->send(k, net::make_message(net::MsgType::Shutdown, {{net::field::kReason, reason}}, d.s.run_id));
  d.result.wall_s = d.wall();
  for (int k = 0; k < d.sites_in_use(); ++k) {
    d.result.sites.push_back(d.sites[k].totals);
    d.result.params_per_site.push_back(d.global->numel_for_site(d.plan, k));
  }
  if (d.n_time_samples) {
    d.result.compute_s_mean = d.sum_compute / d.n_time_samples;
    d.result.comm_s_mean = d.sum_comm / d.n_time_samples;
    d.result.wait_s_mean = d.sum_wait / d.n_time_samples;
  }
  return d.result;
}

}  // namespace fomoe
