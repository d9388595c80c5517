#!/usr/bin/env bash
# Reproduces docs/RESULTS.md: every run recorded in one SQLite store, then tables and plots.
#   experiments/reproduce.sh [STEPS]      (default 128 inner steps per site; the paper-scale
#                                          comparisons want more, time permitting)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
B="${FOMOE_BIN:-$root/build/app/fomoe}"
DB="${DB:-$root/experiments/results.db}"
STEPS="${1:-128}"
EXP=experiments/comm.toml
run() { "$B" run "$EXP" --steps "$STEPS" --db "$DB" "$@"; }

# 1. Communication and loss per token: the four methods, same model, data and tokens.
for m in ddp diloco photon fomoe; do run --set run.method=$m --set run.name=exp1-$m; done
# 4. Ablation: load-aware placement from the expert load exp1-fomoe measured (round-robin is exp1-fomoe).
rr=$(sqlite3 "$DB" "SELECT id FROM runs WHERE name = 'exp1-fomoe' ORDER BY id DESC LIMIT 1")
run --set run.method=fomoe --set run.name=exp4-load-aware --placement-from-run "$rr"
# Ablation: replication r = 1 and r = K (r = 2 is exp1-fomoe).
for r in 1 4; do run --set run.method=fomoe --set federation.replication=$r --set run.name=exp4-r$r; done
# Ablations: gate renormalisation over resident picks; uniform instead of token-weighted averaging.
run --set run.method=fomoe --set model.gate=renormalize --set run.name=exp4-renorm
run --set run.method=fomoe --set federation.replication=3 --set model.gate=renormalize --set run.name=exp4-r3-renorm
run --set run.method=fomoe --set federation.expert_weighting=uniform --set run.name=exp4-uniform
# Ablation: outer-round length H (H = 32 is exp1-fomoe).
for h in 8 128; do run --set run.method=fomoe --set federation.inner_steps=$h --set run.name=exp4-h$h; done
# 3. Routing stability on non-IID data (one language / source per site).
for m in diloco fomoe; do run --set run.method=$m --set data.split=non_iid --set run.name=exp3-noniid-$m; done

# Longer: DiLoCo vs FoMoE for 3x the steps, evaluated every round, both with gates renormalised
# (for DiLoCo's full replicas: top-k gates summing to 1), so both train the same architecture.
run --set run.method=diloco --set model.gate=renormalize --set run.name=exp1-diloco-renorm
for m in diloco fomoe; do
  "$B" run "$EXP" --steps $((STEPS * 3)) --db "$DB" --set train.eval_every=32 --set run.method=$m \
    --set model.gate=renormalize --set run.name=curve-$m
done

# Fine-grained experts (experiments/comm_fine.toml: 32 experts of width 64, top-8; same parameters
# and active FLOPs as comm.toml), DiLoCo vs FoMoE for 3x the steps, evaluated every round.
for m in diloco fomoe; do
  "$B" run experiments/comm_fine.toml --steps $((STEPS * 3)) --db "$DB" --set train.eval_every=32 --set run.method=$m \
    --set run.name=fine-curve-$m
done

# Placement re-planned during the run on non-IID data (fine-grained experts): DiLoCo, FoMoE
# round-robin, FoMoE load-aware and FoMoE data affinity (both re-plan once, after round 1).
for p in diloco fomoe-round_robin fomoe-load_aware fomoe-affinity; do
  "$B" run experiments/comm_fine.toml --steps "$STEPS" --db "$DB" --set data.split=non_iid --set run.method=${p%%-*} \
    $([ "$p" = diloco ] || echo "--set federation.placement=${p#*-}") --set run.name=exp5-noniid-$p
done

# 2. Time to a target loss over emulated WAN links (50 Mbit/s, 50 ms per site).
for m in diloco fomoe; do
  "$B" run "$EXP" --steps $((STEPS * 2)) --db "$DB" --set train.eval_every=32 --set federation.bandwidth_mbps=50 \
    --set federation.latency_ms=50 --set run.method=$m --set model.gate=renormalize \
    --set run.name=wan-$m
done

"$root/.venv/bin/python" experiments/plot_results.py --db "$DB" --out docs/results
