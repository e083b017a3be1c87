#!/usr/bin/env bash
# Throughput of procflow beside the floor any libpcap reader stands on, on
# the project's own generated capture and, when the shared reference
# generator is there, on the reference capture other sensors were measured
# on. One run prints, per capture and reader: median wall seconds of
# several whole-process runs taken in interleaved rounds, packets/s,
# Gbit/s of capture, peak RSS, and the reader's throughput as a share of
# the floor's; then the start-up time on a 2,000-packet file.
#
#   bench/run.sh [--size-mb N] [--runs R] [--no-reference] [--install-tshark]
#
# Defaults: 1024 MB captures, 5 rounds (each reader once per round, in
# turn; the medians are printed). tshark (`-z conv,tcp`) is measured
# once when installed; --install-tshark installs it (Debian package).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=1024
runs=5
reference=1
install_tshark=0
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mb) size_mb=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --no-reference) reference=0; shift ;;
    --install-tshark) install_tshark=1; shift ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
  esac
done
out=bench/out
mkdir -p "$out"

need=()
command -v gcc >/dev/null || need+=(gcc)
[ -e /usr/include/pcap/pcap.h ] || need+=(libpcap-dev)
[ -x /usr/bin/time ] || need+=(time)
if [ "$install_tshark" = 1 ] && ! command -v tshark >/dev/null; then need+=(tshark); fi
if [ "${#need[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release -q -p procflow -p pcapgen
gcc -O2 -o "$out/pcap_floor" bench/pcap_floor.c -lpcap
pf=target/release/procflow

# The project's capture and feed.
mixed="$out/mixed-${size_mb}m.pcap"
if [ ! -f "$mixed" ] || [ ! -f "$mixed.feed.jsonl" ]; then
  target/release/pcapgen bench --out "$mixed" --size-mb "$size_mb" --seed 1 --feed "$mixed.feed.jsonl"
fi
captures=("$mixed")
# The reference capture (other sensors' figures are for its 1 GB, seed 1).
gen=../shared/bench/gen_bench_pcap.py
if [ "$reference" = 1 ] && [ -f "$gen" ]; then
  ref="$out/reference-${size_mb}m.pcap"
  if [ ! -f "$ref" ] || [ ! -f "$ref.feed.jsonl" ]; then
    python3 "$gen" --out "$ref" --size-mb "$size_mb" --seed 1 --feed "$ref.feed.jsonl" >/dev/null
  fi
  captures+=("$ref")
fi

# once NAME CMD...: runs CMD once; prints "seconds peak_KB".
once() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$out/time.txt" "$@" >/dev/null 2>"$out/stderr.txt" || {
    echo "bench: $name failed:" >&2; cat "$out/stderr.txt" >&2; exit 1; }
  cat "$out/time.txt"
}

# shellcheck source=bench/lib.sh
. bench/lib.sh

row() { # name seconds kb packets bytes floor_seconds
  awk -v name="$1" -v s="$2" -v kb="$3" -v p="$4" -v b="$5" -v f="$6" 'BEGIN {
    if (s <= 0) s = 0.005
    printf "%-30s %8.2f %12.0f %8.2f %9.1f %8.0f %%\n", name, s, p / s, b * 8 / s / 1e9, kb / 1024, 100 * f / s }'
}

for cap in "${captures[@]}"; do
  cat "$cap" "$cap.feed.jsonl" >/dev/null # page cache: every reader sees the same disk
  bytes=$(stat -c %s "$cap")
  packets=$("$out/pcap_floor" "$cap" | tr -dc 0-9)
  feed="$cap.feed.jsonl"
  names=("libpcap floor (touch 64 B)")
  cmds=("$out/pcap_floor -t $cap")
  for t in 1 2; do
    names+=("procflow flows, $t thread(s)")
    cmds+=("$pf flows --no-progress --threads $t --out /dev/null $cap")
  done
  for t in 1 2; do
    names+=("procflow read + feed, $t thr.")
    cmds+=("$pf read --no-progress --threads $t --feed $feed --flows /dev/null --processes /dev/null --alerts /dev/null $cap")
  done
  # Rounds of every reader in turn, so a change in the machine's load
  # falls on all of them alike rather than on whoever ran at the time.
  for i in "${!cmds[@]}"; do : >"$out/runs.$i"; done
  for _ in $(seq "$runs"); do
    for i in "${!cmds[@]}"; do
      # shellcheck disable=SC2086 # the command line is split on purpose
      once "${names[$i]}" ${cmds[$i]} >>"$out/runs.$i"
    done
  done
  set -- $(median "$out/runs.0"); floor_s=$1
  echo
  echo "capture: $cap, $bytes bytes, $packets packets; medians of $runs rounds"
  printf '%-30s %8s %12s %8s %9s %9s\n' reader wall_s packets/s Gbit/s peak_MiB of_floor
  for i in "${!cmds[@]}"; do
    set -- $(median "$out/runs.$i")
    row "${names[$i]}" "$1" "$2" "$packets" "$bytes" "$floor_s"
  done
  if command -v tshark >/dev/null; then
    set -- $(once tshark tshark -q -n -z conv,tcp -r "$cap")
    row "tshark -z conv,tcp (1 run)" "$1" "$2" "$packets" "$bytes" "$floor_s"
  fi
done

# Start-up: a 2,000-packet capture, cut from the project's one.
small="$out/small-2000.pcap"
python3 - "$mixed" "$small" <<'PY'
import struct, sys
src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f, open(dst, "wb") as o:
    o.write(f.read(24))
    for _ in range(2000):
        h = f.read(16)
        if len(h) < 16:
            break
        n = struct.unpack("<I", h[8:12])[0]
        o.write(h + f.read(n))
PY
ms=()
for _ in $(seq 11); do
  s=$(date +%s%N); "$pf" flows --no-progress --out /dev/null "$small" 2>/dev/null; e=$(date +%s%N)
  ms+=($(( (e - s) / 1000000 )))
done
echo
echo "start-up: procflow flows on a 2,000-packet file: $(printf '%s\n' "${ms[@]}" | sort -n | sed -n 6p) ms (median of 11)"
