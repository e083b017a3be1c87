#!/usr/bin/env bash
# Attribution at fleet scale: a flood of N concurrent HTTP connections
# (`pcapgen flood`) joined to an endpoint feed of E socket events over H
# hosts (`pcapgen flood-feed`: a connect per connection, the rest other
# sockets of the fleet, in time order). Prints the libpcap floor,
# `procflow read` with the feed (wall, share of the floor, peak memory),
# and what the socket index did (events, sockets, evictions at the
# --max-sockets cap, flows attributed).
#
#   bench/feed.sh [--flows N] [--events E] [--hosts H] [--max-sockets S] [--max-hosts M]
#
# Defaults: 1,000,000 flows, 10,000,000 events, 100,000 hosts, the
# default socket cap (1,000,000), a host table of 200,000; about a minute on 2 cores, and
# 3 GB of disk in bench/out.
set -euo pipefail
cd "$(dirname "$0")/.."
flows=1000000
events=10000000
hosts=100000
max_sockets=1000000
max_hosts=200000
while [ $# -gt 0 ]; do
  case "$1" in
    --flows) flows=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --hosts) hosts=$2; shift 2 ;;
    --max-sockets) max_sockets=$2; shift 2 ;;
    --max-hosts) max_hosts=$2; shift 2 ;;
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
feed="$out/flood-$flows-$events-$hosts.feed.jsonl"
[ -f "$cap" ] || target/release/pcapgen flood --out "$cap" --flows "$flows" --payload http >/dev/null
[ -f "$feed" ] || target/release/pcapgen flood-feed --out "$feed" --flows "$flows" --events "$events" --hosts "$hosts" >/dev/null
cat "$cap" "$feed" >/dev/null # page cache
/usr/bin/time -f "%e %M" -o "$out/time.txt" "$out/pcap_floor" -t "$cap" >/dev/null
read -r floor_s floor_kb <"$out/time.txt"
/usr/bin/time -f "%e %M" -o "$out/time.txt" "$pf" read --no-progress --max-sockets "$max_sockets" --max-hosts "$max_hosts" \
  --feed "$feed" --flows /dev/null --processes /dev/null --stats "$out/feed-stats.json" "$cap" \
  >/dev/null 2>"$out/feed-stderr.txt" || { cat "$out/feed-stderr.txt" >&2; exit 1; }
read -r read_s read_kb <"$out/time.txt"
echo "capture: $flows concurrent HTTP connections, $(stat -c %s "$cap") bytes"
echo "feed: $events events over $hosts hosts, $(stat -c %s "$feed") bytes; --max-sockets $max_sockets --max-hosts $max_hosts"
printf '%-34s %8s %9s %9s\n' reader wall_s of_floor peak_MiB
awk -v s="$floor_s" -v kb="$floor_kb" 'BEGIN { printf "%-34s %8.2f %8.0f %% %9.0f\n", "libpcap floor (touch 64 B)", s, 100, kb / 1024 }'
awk -v s="$read_s" -v kb="$read_kb" -v f="$floor_s" 'BEGIN { printf "%-34s %8.2f %8.0f %% %9.0f\n", "procflow read + feed", s, 100 * f / s, kb / 1024 }'
python3 - "$out/feed-stats.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
i, c = d["index"], d.get("coverage", {})
print(f"index: {i['events']} events, {i['sockets']} sockets, {i['merged']} merged, {i['evicted']} evicted at the cap, {i['refused_hosts']} refused (host table full)")
print("coverage:", json.dumps(c))
PY
