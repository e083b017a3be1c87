#!/usr/bin/env bash
# Checks that procflow's outputs are byte for byte those of a reference
# commit (a refactoring must not change a result). Compared, sorted where
# thread order varies:
#   - `flows` and its statistics on every capture of pcaps/ and of the
#     shared corpus (PROCFLOW_CORPUS, default ../shared/corpus), with one
#     thread and with two;
#   - `read` of the attribution sample (flows, process windows, stats);
#   - the detection sample: `learn` of its history (the baseline's rows),
#     then `read` of the traffic to judge (alerts, process windows, flows);
#   - with --bench, `flows` on the 1 GB benchmark capture (bench/out).
#
#   scripts/same_results.sh [--bench] [REF]
#
# REF (default HEAD) is built in a worktree under target/same-results; set
# PROCFLOW_REF_BIN to a procflow binary built from it to skip that build.
# Exit 0 when every output is the same; otherwise the differing outputs are
# named and left under target/same-results/{ref,new}.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bench=0
ref=HEAD
for a in "$@"; do
  case "$a" in
    --bench) bench=1 ;;
    -*) echo "same_results: unknown option $a" >&2; exit 2 ;;
    *) ref=$a ;;
  esac
done
work=$root/target/same-results
corpus=${PROCFLOW_CORPUS:-$root/../shared/corpus}
mkdir -p "$work"

cargo build --release --quiet -p procflow -p pcapgen
new_bin=$root/target/release/procflow
gen=$root/target/release/pcapgen
ref_bin=${PROCFLOW_REF_BIN:-}
if [ -z "$ref_bin" ]; then
  rev=$(git rev-parse "$ref")
  tree=$work/tree
  if [ ! -d "$tree" ]; then git worktree add -q --detach "$tree" "$rev"; fi
  git -C "$tree" checkout -q --detach "$rev"
  CARGO_TARGET_DIR=$work/target cargo build --release --quiet \
    --manifest-path "$tree/Cargo.toml" -p procflow
  ref_bin=$work/target/release/procflow
fi

captures=("$root"/pcaps/*.pcap)
if [ -d "$corpus" ]; then
  while IFS= read -r -d '' f; do captures+=("$f"); done < <(
    find "$corpus" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) -print0 | sort -z)
else
  echo "same_results: no corpus at $corpus: pcaps/ only" >&2
fi

echo "== detection sample"
sample=$work/sample
if [ ! -f "$sample/detection.pcap" ]; then
  rm -rf "$sample"
  "$gen" detection --out "$sample" --scale 0.5 >/dev/null
fi
if [ "$bench" = 1 ] && [ ! -f "$root/bench/out/bench.pcap" ]; then
  echo "same_results: bench/out/bench.pcap missing (run bench/run.sh first)" >&2
  exit 2
fi

# Every output of one binary into directory $2.
outputs() { # bin dir
  local pf=$1 d=$2 i=0
  rm -rf "$d"
  mkdir -p "$d"
  for c in "${captures[@]}"; do
    i=$((i + 1))
    for t in 1 2; do
      "$pf" flows "$c" --threads "$t" --no-progress --stats "$d/$i.t$t.stats" 2>/dev/null |
        LC_ALL=C sort > "$d/$i.t$t.flows" || echo "exit $?" >> "$d/$i.t$t.flows"
    done
  done
  "$pf" read pcaps/attribution.pcap --feed pcaps/attribution.feed.jsonl --no-progress \
    --flows "$d/attr.flows" --processes "$d/attr.processes" --stats "$d/attr.stats" 2>/dev/null
  "$pf" learn "$sample/history.pcap" --feed "$sample/history.feed.jsonl" \
    --baseline "$d/baseline.db" --config "$sample/config.toml" --no-progress 2>/dev/null
  python3 - "$d/baseline.db" > "$d/baseline.rows" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (t,) in db.execute("select name from sqlite_master where type='table' order by name"):
    for row in sorted(map(repr, db.execute(f'select * from "{t}"'))):
        print(t, row)
PY
  "$pf" read "$sample/detection.pcap" --feed "$sample/detection.feed.jsonl" \
    --baseline "$d/baseline.db" --config "$sample/config.toml" --no-learn --no-progress \
    --alerts "$d/det.alerts" --processes "$d/det.processes" --flows "$d/det.flows.unsorted" \
    2>/dev/null
  LC_ALL=C sort "$d/det.flows.unsorted" > "$d/det.flows"
  rm -f "$d/det.flows.unsorted" "$d/baseline.db" "$d/baseline.db-lock"
  if [ "$bench" = 1 ]; then
    "$pf" flows "$root/bench/out/bench.pcap" --no-progress --stats "$d/bench.stats" 2>/dev/null |
      LC_ALL=C sort | sha256sum > "$d/bench.flows.sha256"
  fi
}

echo "== reference ($ref)"
outputs "$ref_bin" "$work/ref"
echo "== this tree"
outputs "$new_bin" "$work/new"
n=$(find "$work/ref" -type f | wc -l)
if diff -rq "$work/ref" "$work/new"; then
  echo "same_results: $n outputs of ${#captures[@]} captures and the two samples: all the same"
else
  echo "same_results: outputs differ (above); see $work/ref and $work/new" >&2
  exit 1
fi
