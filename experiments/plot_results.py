"""Tables and plots for docs/RESULTS.md, read straight from the run store (SQLite)."""
import argparse
import os
import sqlite3

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def series(db, run_id, name, site):
    return db.execute(
        "SELECT m.step, m.value FROM metrics m JOIN metric_names n ON n.id = m.name_id "
        "WHERE m.run_id = ? AND n.name = ? AND m.site = ? ORDER BY m.step", (run_id, name, site)).fetchall()


def round_bytes(db, run_id):
    row = db.execute("SELECT SUM(bytes), COUNT(DISTINCT round), COUNT(DISTINCT site) FROM links WHERE run_id = ? AND "
                     "msg_type IN ('start_round','round_report','step_grad','step_update') AND site >= 0",
                     (run_id,)).fetchone()
    total, rounds, sites = row
    return (total or 0) / max(1, rounds or 1) / max(1, sites or 1), total or 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    db = sqlite3.connect(a.db)
    runs = {name: rid for rid, name in db.execute("SELECT id, name FROM runs WHERE status = 'finished' ORDER BY id")}

    # Experiment 1: bytes vs held-out loss.
    lines = ["| run | bytes/site/round | FoMoE saves | final held-out loss | tokens per site |", "|---|---|---|---|---|"]
    exp1 = [n for n in ["exp1-ddp", "exp1-diloco", "exp1-photon", "exp1-fomoe"] if n in runs]
    fomoe_bytes = round_bytes(db, runs["exp1-fomoe"])[0] if "exp1-fomoe" in runs else None
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for n in exp1 + [n for n in runs if n.startswith("exp4-")]:
        rid = runs[n]
        per_round, total = round_bytes(db, rid)
        ev = series(db, rid, "eval/loss", -1)
        tok = series(db, rid, "train/tokens", 0)
        saves = f"{per_round / fomoe_bytes:.2f}x" if fomoe_bytes else "-"
        final = f"{ev[-1][1]:.4f}" if ev else "-"
        lines.append(f"| {n} | {per_round:,.0f} | {saves} | {final} | {ev[-1][0] * 8 * 128 if ev else 0:,} |")
        if ev:
            cum = []
            link_rows = db.execute("SELECT round, SUM(bytes) FROM links WHERE run_id = ? AND site >= 0 GROUP BY round ORDER BY round",
                                   (rid,)).fetchall()
            acc = 0
            by_round = {}
            for r, b in link_rows:
                acc += b
                by_round[r] = acc
            evr = db.execute("SELECT m.round, m.value FROM metrics m JOIN metric_names n ON n.id = m.name_id WHERE m.run_id = ? "
                             "AND n.name = 'eval/loss' AND m.site = -1 ORDER BY m.step", (rid,)).fetchall()
            xs = [by_round.get(r, acc) / 2**20 for r, _ in evr]
            ax[0].plot(xs, [v for _, v in evr], marker="o", label=n)
            ax[1].plot([s for s, _ in ev], [v for _, v in ev], marker="o", label=n)
    ax[0].set_xscale("log")
    ax[0].set_xlabel("cumulative bytes on the wire, all sites (MiB, log)")
    ax[0].set_ylabel("held-out loss (nats/token)")
    ax[1].set_xlabel("inner steps per site")
    ax[1].set_ylabel("held-out loss (nats/token)")
    for x in ax:
        x.grid(alpha=0.3)
        x.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "exp1_loss_vs_bytes.png"), dpi=110)
    with open(os.path.join(a.out, "exp1_table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")

    # Experiment 3: routing stability (top-k overlap between rounds, load entropy, dead experts).
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.8))
    stab = ["| run | top-k overlap (mean over rounds) | load entropy (last) | router entropy (last) | dead experts (last) |",
            "|---|---|---|---|---|"]
    for n in [n for n in runs if n.startswith("exp3-") or n in ("exp1-diloco", "exp1-fomoe")]:
        rid = runs[n]
        ov = series(db, rid, "route/topk_overlap", -1)
        le = series(db, rid, "route/load_entropy", -1)
        re = series(db, rid, "route/router_entropy", -1)
        de = series(db, rid, "route/dead_experts", -1)
        if ov:
            ax[0].plot([s for s, _ in ov], [v for _, v in ov], marker="o", label=n)
        if le:
            ax[1].plot([s for s, _ in le], [v for _, v in le], marker="o", label=n)
        if re:
            ax[2].plot([s for s, _ in re], [v for _, v in re], marker="o", label=n)
        mean_ov = sum(v for _, v in ov) / len(ov) if ov else float("nan")
        stab.append(f"| {n} | {mean_ov:.3f} | {le[-1][1] if le else float('nan'):.3f} | {re[-1][1] if re else float('nan'):.3f} | "
                    f"{de[-1][1] if de else float('nan'):.0f} |")
    for x, t in zip(ax, ["top-k overlap with previous round", "load entropy / log E", "router entropy / log E"]):
        x.set_title(t)
        x.set_xlabel("inner steps per site")
        x.grid(alpha=0.3)
        x.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "exp3_routing_stability.png"), dpi=110)
    with open(os.path.join(a.out, "exp3_table.md"), "w") as f:
        f.write("\n".join(stab) + "\n")
    # Longer runs with a held-out evaluation every round: loss per byte, per token, per second.
    for prefix, fname in [("curve-", "exp1_long_loss_per_byte_token_time.png"), ("fine-curve-", "exp1_fine_loss_per_byte_token_time.png"),
                          ("wan-", "exp2_wan_time_to_loss.png")]:
        curves = [n for n in runs if n.startswith(prefix)]
        if not curves:
            continue
        fig, ax = plt.subplots(1, 3, figsize=(14, 3.8))
        for n in curves:
            rid = runs[n]
            ev = db.execute("SELECT m.round, m.step, m.value, m.wall_time FROM metrics m JOIN metric_names k ON k.id = m.name_id "
                            "WHERE m.run_id = ? AND k.name = 'eval/loss' AND m.site = -1 ORDER BY m.step", (rid,)).fetchall()
            sites = db.execute("SELECT n_sites FROM runs WHERE id = ?", (rid,)).fetchone()[0]
            acc, by_round = 0, {}
            for r, b in db.execute("SELECT round, SUM(bytes) FROM links WHERE run_id = ? AND site >= 0 GROUP BY round ORDER BY round",
                                   (rid,)):
                acc += b
                by_round[r] = acc
            ax[0].plot([by_round.get(r, acc) / sites / 2**20 for r, _, _, _ in ev], [v for _, _, v, _ in ev], marker="o", label=n)
            ax[1].plot([st for _, st, _, _ in ev], [v for _, _, v, _ in ev], marker="o", label=n)
            ax[2].plot([w for _, _, _, w in ev], [v for _, _, v, _ in ev], marker="o", label=n)
        for x, lab in zip(ax, ["bytes per site (MiB)", "inner steps per site", "wall time (s)"]):
            x.set_xlabel(lab)
            x.set_ylabel("held-out loss")
            x.grid(alpha=0.3)
            x.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(a.out, fname), dpi=110)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
