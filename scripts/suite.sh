#!/usr/bin/env bash
# The labelled detection suite, scored: generates it (pcapgen detection
# --suite), learns the history, reads the detection period, and prints
# precision and recall over its cases and, per case, the rule and reasons
# that fired.
#
#   scripts/suite.sh [--scale S]      (default 0.1)
set -euo pipefail
cd "$(dirname "$0")/.."
scale=0.1
[ "${1:-}" = --scale ] && scale=$2
cargo build --release --quiet -p procflow -p pcapgen
out=target/suite
rm -rf "$out"
mkdir -p "$out"
target/release/pcapgen detection --suite --scale "$scale" --out "$out" >/dev/null
pf=target/release/procflow
"$pf" learn "$out/history.pcap" --feed "$out/history.feed.jsonl" \
  --baseline "$out/b.db" --config "$out/config.toml" --no-progress 2>"$out/learn.log"
"$pf" read "$out/detection.pcap" --feed "$out/detection.feed.jsonl" \
  --baseline "$out/b.db" --config "$out/config.toml" --alerts "$out/alerts.jsonl" \
  --no-progress 2>"$out/read.log"
python3 - "$out/expected.json" "$out/alerts.jsonl" <<'PY'
import json, sys
exp = json.load(open(sys.argv[1]))
alerts = [json.loads(l) for l in open(sys.argv[2])]
def key(rule, host, exe):
    return (rule, host, exe)
got = {key(a["rule"], a["host"]["name"], a["process"]["executable"]): a for a in alerts}
tp = fp = fn = 0
print("true cases:")
for e in exp["alerts"]:
    k = key(e["rule"], e["host"], e["executable"])
    a = got.get(k)
    if a:
        tp += 1
        print(f"  caught  {e['rule']} {e['host']:6} {a['severity']:8} {e['case']}")
        for r in a["reasons"]:
            print(f"          - {r}")
    else:
        fn += 1
        print(f"  MISSED  {e['rule']} {e['host']:6} {e['case']}")
wanted = {key(e["rule"], e["host"], e["executable"]) for e in exp["alerts"]}
print("benign cases:")
for c in exp["silent"]:
    hits = [a for a in alerts if a["process"]["executable"] == c["executable"] and a["host"]["name"] in c["hosts"]]
    print(f"  {'ALERTED' if hits else 'quiet  '} {c['case']} ({c['why']})")
fp = sum(1 for k in got if k not in wanted)
precision = tp / (tp + fp) if tp + fp else 1.0
recall = tp / (tp + fn) if tp + fn else 1.0
print(f"precision {precision:.3f} ({tp} of {tp + fp} alerts true), recall {recall:.3f} ({tp} of {tp + fn} true cases)")
PY
