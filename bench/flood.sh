#!/usr/bin/env bash
# The many-flows regime of a busy link: N concurrent HTTP connections
# (`pcapgen flood`: every one opened, a small request sent, before any is
# closed), read by the libpcap floor and by procflow. Per reader: median
# wall seconds of R interleaved rounds, its share of the floor's speed,
# peak resident memory, and that peak over the flow table's own bytes
# (what `--stats` reports as flow_table_bytes); then the same less the
# reader's constant: its peak on a flood of 1,000 connections (the binary,
# the read-ahead and output buffers, the workers' batches), so that the
# last column is what each tracked connection costs against its table
# slot (the issue's "1.5 x the table plus a constant").
#
#   bench/flood.sh [--flows N] [--runs R]
#
# Defaults: 500,000 flows (315 MB of capture), 3 rounds; about two
# minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
flows=500000
runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --flows) flows=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
  esac
done
out=bench/out
mkdir -p "$out"
# shellcheck source=bench/lib.sh
. bench/lib.sh
floor_and_build "$out"
pf=target/release/procflow
cap="$out/flood-$flows.pcap"
[ -f "$cap" ] || target/release/pcapgen flood --out "$cap" --flows "$flows" --payload http >/dev/null
cat "$cap" >/dev/null # page cache
small="$out/flood-1000.pcap"
[ -f "$small" ] || target/release/pcapgen flood --out "$small" --flows 1000 --payload http >/dev/null

names=("libpcap floor (touch 64 B)")
cmds=("$out/pcap_floor -t $cap")
for t in 1 2; do
  names+=("procflow flows, $t thread(s)")
  cmds+=("$pf flows --no-progress --threads $t --out /dev/null --stats $out/flood-stats.$t.json $cap")
done
for t in 1 2; do
  names+=("procflow read, $t thread(s)")
  cmds+=("$pf read --no-progress --threads $t --flows /dev/null --processes /dev/null --alerts /dev/null $cap")
done
for i in "${!cmds[@]}"; do : >"$out/flood-runs.$i"; : >"$out/flood-small.$i"; done
for _ in $(seq "$runs"); do
  for i in "${!cmds[@]}"; do
    # shellcheck disable=SC2086 # the command line is split on purpose
    /usr/bin/time -f "%e %M" -o "$out/time.txt" ${cmds[$i]} >/dev/null 2>"$out/stderr.txt" || {
      echo "bench: ${names[$i]} failed:" >&2; cat "$out/stderr.txt" >&2; exit 1; }
    cat "$out/time.txt" >>"$out/flood-runs.$i"
    small_cmd=${cmds[$i]//$cap/$small}
    # shellcheck disable=SC2086 # as above
    /usr/bin/time -f "%e %M" -o "$out/time.txt" ${small_cmd//flood-stats/flood-small-stats} >/dev/null 2>&1 || true
    cat "$out/time.txt" >>"$out/flood-small.$i"
  done
done
table_kb=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['stats']['flow_table_bytes'] // 1024)" "$out/flood-stats.1.json")
set -- $(median "$out/flood-runs.0"); floor_s=$1
echo "capture: $cap, $(stat -c %s "$cap") bytes, $flows concurrent HTTP connections; medians of $runs rounds"
echo "flow table (1 thread): $((table_kb / 1024)) MiB"
printf '%-30s %8s %9s %9s %11s %9s %18s\n' reader wall_s of_floor peak_MiB peak/table const_MiB "(peak-const)/table"
for i in "${!cmds[@]}"; do
  set -- $(median "$out/flood-runs.$i")
  s=$1 kb=$2
  set -- $(median "$out/flood-small.$i")
  awk -v name="${names[$i]}" -v s="$s" -v kb="$kb" -v c="$2" -v f="$floor_s" -v t="$table_kb" 'BEGIN {
    if (s <= 0) s = 0.005
    printf "%-30s %8.2f %8.0f %% %9.0f %10.2fx %9.0f %17.2fx\n", name, s, 100 * f / s, kb / 1024, kb / t, c / 1024, (kb - c) / t }'
done
