#!/usr/bin/env bash
# Speed of two procflow binaries side by side (a refactoring's "same
# speed" check): each reads the same generated capture in interleaved
# rounds, one thread, with the project's reader and with libpcap; the
# median and best wall milliseconds of each, and the peak RSS.
#
#   bench/compare.sh REF_BIN NEW_BIN [--size-mb N] [--rounds R]
#
# REF_BIN is typically built from the commit before the change
# (scripts/same_results.sh leaves one in target/same-results/). Defaults:
# a 512 MB capture (bench/out/mixed-512m.pcap, generated once), 11 rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: bench/compare.sh REF_BIN NEW_BIN [--size-mb N] [--rounds R]" >&2; exit 2; }
ref=$1 new=$2
shift 2
size_mb=512
rounds=11
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mb) size_mb=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "compare: unknown option $1" >&2; exit 2 ;;
  esac
done
for b in "$ref" "$new"; do
  [ -x "$b" ] || { echo "compare: $b is not an executable" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "compare: needs /usr/bin/time (Debian package time)" >&2; exit 2; }
out=bench/out
mkdir -p "$out"
cargo build --release -q -p pcapgen
cap="$out/mixed-${size_mb}m.pcap"
if [ ! -f "$cap" ]; then
  target/release/pcapgen bench --out "$cap" --size-mb "$size_mb" --seed 1 --feed "$cap.feed.jsonl"
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for _ in $(seq "$rounds"); do
  for which in ref new; do
    bin=$ref
    [ "$which" = new ] && bin=$new
    for reader in file libpcap; do
      extra=()
      [ "$reader" = libpcap ] && extra=(--libpcap)
      start=$(date +%s%N)
      /usr/bin/time -f "%M" -o "$out/rss.txt" "$bin" flows --no-progress --threads 1 "${extra[@]}" "$cap" >/dev/null 2>&1
      end=$(date +%s%N)
      echo "$which $reader $(( (end - start) / 1000000 )) $(cat "$out/rss.txt")" >>"$log"
    done
  done
done
echo "capture: $cap, $rounds interleaved rounds, one thread"
printf '%-4s %-8s %10s %8s %12s\n' build reader median_ms best_ms peak_rss_kb
for which in ref new; do
  for reader in file libpcap; do
    ms=$(grep "^$which $reader " "$log" | awk '{ print $3 }' | sort -n)
    n=$(echo "$ms" | wc -l)
    median=$(echo "$ms" | sed -n "$(( (n + 1) / 2 ))p")
    best=$(echo "$ms" | head -n 1)
    rss=$(grep "^$which $reader " "$log" | awk '{ print $4 }' | sort -n | tail -n 1)
    printf '%-4s %-8s %10d %8d %12d\n' "$which" "$reader" "$median" "$best" "$rss"
  done
done
