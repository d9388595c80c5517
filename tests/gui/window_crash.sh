#!/usr/bin/env bash
# A crash of the window while it records (SIGKILL of a real fomoe-workbench process on the
# offscreen platform): every row it committed is still there, the run is marked interrupted on
# the next open, the file passes integrity_check, and no agent process outlives the window.
set -euo pipefail
workbench="$1"
cli="$2"
source_dir="$3"
tmp="$(mktemp -d)"
cleanup() { [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
db="$tmp/runs.db"
sed -e "s|^\[run\]|[run]\nout_dir = \"$tmp/runs\"|" -e "s|^steps = .*|steps = 4096|" \
  "$source_dir/experiments/quickstart.toml" > "$tmp/exp.toml"
sed -i -e "s|^inner_steps = .*|inner_steps = 4|" -e "s|^log_every = .*|log_every = 1|" -e "s|^sites = .*|sites = 2|" "$tmp/exp.toml"
FOMOE_CLI="$cli" QT_QPA_PLATFORM=offscreen "$workbench" "$tmp/exp.toml" --db "$db" --demo-run > "$tmp/log" 2>&1 &
pid=$!
rows() { sqlite3 "$db" "SELECT count(*) FROM metrics" 2>/dev/null || echo 0; }
for _ in $(seq 1 600); do
  [ "$(rows)" -ge 200 ] && break
  kill -0 "$pid" 2>/dev/null || { echo "FAIL: the workbench exited early:"; cat "$tmp/log"; exit 1; }
  sleep 0.1
done
seen="$(rows)"
[ "$seen" -ge 200 ] || { echo "FAIL: no rows recorded within 60 s"; cat "$tmp/log"; exit 1; }
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
pid=""
sleep 1
if pgrep -f "$tmp/runs/[q]uickstart" > /dev/null; then echo "FAIL: agents outlived the killed window"; pgrep -af "$tmp/runs"; exit 1; fi
status="$("$cli" runs list --db "$db" | sed -n '2p')"
grep -q "interrupted" <<<"$status" || { echo "FAIL: the run is not marked interrupted: $status"; exit 1; }
after="$(rows)"
[ "$after" -ge "$seen" ] || { echo "FAIL: $seen rows seen before the crash, $after after"; exit 1; }
[ "$(sqlite3 "$db" "PRAGMA integrity_check")" = "ok" ] || { echo "FAIL: integrity_check"; exit 1; }
echo "ok: $after rows kept after SIGKILL of the window (saw $seen before), run interrupted, file intact"
