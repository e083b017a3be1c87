#!/usr/bin/env bash
# The main job on the project's own sample: generate the detection scenario
# (sixteen hosts, an hour of history, then eight days later the traffic to
# judge), learn the history into a baseline, judge the new traffic, and
# print the alerts. Usage: scripts/demo.sh [SCALE] (bulk volumes; default
# 0.5, about 1 GB written under target/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
scale="${1:-0.5}"
cargo build --release --quiet -p procflow -p pcapgen
out=target/demo
rm -rf "$out"
mkdir -p "$out"
target/release/pcapgen detection --out "$out" --scale "$scale"
pf=target/release/procflow
"$pf" learn "$out/history.pcap" --feed "$out/history.feed.jsonl" \
  --baseline "$out/baseline.db" --config "$out/config.toml" --no-progress 2>"$out/learn.log"
echo "learned: $(grep 'procflow: baseline:' "$out/learn.log")"
"$pf" read "$out/detection.pcap" --feed "$out/detection.feed.jsonl" \
  --baseline "$out/baseline.db" --config "$out/config.toml" \
  --alerts "$out/alerts.jsonl" --processes "$out/processes.jsonl" --no-progress 2>"$out/read.log"
grep -E 'procflow: (attribution|detection|baseline):' "$out/read.log"
echo
python3 - "$out/alerts.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    a = json.loads(line)
    d = a["destination"]
    print(f'{a["rule"]} {a["severity"]:8} {a["host"]["name"]:6} {a["process"]["executable"]} -> {d["domain"] or d["ip"]}:{d["port"]}')
    for r in a["reasons"]:
        print(f"    {r}")
PY
echo
echo "alerts: $out/alerts.jsonl; process windows: $out/processes.jsonl; baseline: $out/baseline.db (sqlite3 $out/baseline.db 'select * from image_prevalence')"
