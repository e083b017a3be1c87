#!/usr/bin/env bash
# Kernel-side cost of the eBPF socket source: the connections per second a
# loopback client reaches without the programs and with them loaded (by
# `procflow live --ebpf` capturing nothing, so only the programs cost),
# in interleaved rounds, and the kernel records lost at that rate.
#
#   bench/ebpf.sh [--rounds R] [--procs P] [--each N]     (as root)
#
# Defaults: 3 rounds of 2 client processes x 20,000 connections.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3 procs=2 each=20000
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --procs) procs=$2; shift 2 ;;
    --each) each=$2; shift 2 ;;
    *) echo "ebpf bench: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "ebpf bench: run as root (eBPF)" >&2; exit 2; }
cargo build --release -q
bin=target/release/procflow
out=bench/out/ebpf
mkdir -p "$out"
load() { python3 bench/connect_load.py "$procs" "$each"; }
rate() { sed -n 's/.*"per_second": \([0-9]*\).*/\1/p'; }
without=() with=() lost=() records=()
for r in $(seq 1 "$rounds"); do
  without+=("$(load | rate)")
  "$bin" live -i lo -f "tcp port 1" --ebpf --stats "$out/stats.json" --stats-interval 0 \
    2>"$out/live.err" &
  pid=$!
  for _ in $(seq 1 100); do grep -q "live on" "$out/live.err" 2>/dev/null && break; sleep 0.1; done
  grep -q "live on" "$out/live.err" || { cat "$out/live.err" >&2; exit 1; }
  with+=("$(load | rate)")
  kill -TERM "$pid"; wait "$pid" || true
  lost+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ebpf"]["lost"])' "$out/stats.json")")
  records+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ebpf"]["socket_events"])' "$out/stats.json")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m0=$(median "${without[@]}") m1=$(median "${with[@]}")
echo "loopback connections per second ($procs processes x $each, $rounds rounds, median):"
echo "  without the programs  $m0   (rounds: ${without[*]})"
echo "  with the programs     $m1   (rounds: ${with[*]})"
awk -v a="$m0" -v b="$m1" 'BEGIN { printf "  cost                  %.1f %%\n", (a - b) * 100 / a }'
echo "  kernel records lost per round: ${lost[*]}; socket events per round: ${records[*]} (each connection: connect, accept, two closes)"
