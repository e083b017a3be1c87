#!/usr/bin/env bash
# Throughput of `procflow flows` (single-threaded) on a generated capture of
# mixed traffic, beside the floor any libpcap reader stands on: a loop that
# only pulls every packet through libpcap.
#
#   bench/flows.sh [SIZE_MB] [RUNS]      (defaults: 300 MB, 3 runs)
#
# Prints, per reader: median wall seconds, packets/s, Gbit/s of capture and
# peak RSS, and procflow's throughput as a share of the floor's.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-300}
runs=${2:-3}
out=bench/out
mkdir -p "$out"

command -v gcc >/dev/null || { echo "bench: gcc is needed for the libpcap floor" >&2; exit 1; }
cargo build --release -q -p procflow -p pcapgen

pcap="$out/mixed-${size_mb}m.pcap"
if [ ! -f "$pcap" ]; then
  target/release/pcapgen bench --out "$pcap" --size-mb "$size_mb" --seed 1
fi
gcc -O2 -o "$out/pcap_floor" bench/pcap_floor.c -lpcap

bytes=$(stat -c %s "$pcap")
cat "$pcap" >/dev/null # page cache, so every reader sees the same disk

# measure NAME CMD...: runs CMD $runs times, prints the median line.
measure() {
  local name=$1; shift
  local times=()
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$out/time.txt" "$@" >/dev/null 2>"$out/stderr.txt"
    times+=("$(cat "$out/time.txt")")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v n="$runs" -v name="$name" 'NR == int((n + 1) / 2) { print name, $1, $2 }'
}

packets=$("$out/pcap_floor" "$pcap")
floor=$(measure floor "$out/pcap_floor" -t "$pcap")
flows=$(measure "procflow-flows" target/release/procflow flows --no-progress --out /dev/null "$pcap")

echo "capture: $pcap, $bytes bytes, $packets packets; medians of $runs runs"
printf '%-28s %8s %12s %8s %9s\n' reader wall_s packets/s Gbit/s peak_MiB
for line in "$floor" "$flows"; do
  set -- $line
  awk -v name="$1" -v s="$2" -v kb="$3" -v p="$packets" -v b="$bytes" 'BEGIN {
    printf "%-28s %8.2f %12.0f %8.2f %9.1f\n", name, s, p / s, b * 8 / s / 1e9, kb / 1024 }'
done
set -- $floor; floor_s=$2
set -- $flows; flows_s=$2
awk -v f="$floor_s" -v p="$flows_s" 'BEGIN { printf "procflow flows / floor: %.0f %%\n", 100 * f / p }'
