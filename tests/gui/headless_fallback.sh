#!/usr/bin/env bash
# fomoe-workbench on a machine without a display: --help prints the options and starts nothing;
# a run falls back to `fomoe run` with the same experiment, --db and --steps.
set -euo pipefail
workbench="$1"
source_dir="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
unset DISPLAY WAYLAND_DISPLAY QT_QPA_PLATFORM
out="$("$workbench" --help 2>&1)"
grep -q -- "--db" <<<"$out" || { echo "FAIL: --help does not list --db:"; echo "$out"; exit 1; }
if grep -q "running \`fomoe" <<<"$out"; then echo "FAIL: --help started a run:"; echo "$out"; exit 1; fi
[ -z "$(ls -A "$tmp")" ] || { echo "FAIL: --help wrote files"; exit 1; }
sed -e "s|^\[run\]|[run]\nout_dir = \"$tmp/runs\"|" "$source_dir/experiments/quickstart.toml" > "$tmp/exp.toml"
"$workbench" "$tmp/exp.toml" --db "$tmp/chosen.db" --steps 2 > "$tmp/log" 2>&1 || { echo "FAIL: headless run failed:"; cat "$tmp/log"; exit 1; }
grep -q -- "--db $tmp/chosen.db" "$tmp/log" || { echo "FAIL: --db was not passed on:"; cat "$tmp/log"; exit 1; }
[ -f "$tmp/chosen.db" ] || { echo "FAIL: the run did not record into --db"; cat "$tmp/log"; exit 1; }
steps="$(sqlite3 "$tmp/chosen.db" "SELECT config_text FROM runs" | sed -n 's/^steps = //p')"
[ "$steps" = "2" ] || { echo "FAIL: recorded steps = '$steps', not 2"; exit 1; }
echo "ok: --help starts nothing; the headless run recorded into --db with --steps"
