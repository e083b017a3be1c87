#!/usr/bin/env bash
# The drop-free rate of `procflow live`: a generated capture is replayed
# with tcpreplay onto one end of a veth pair while procflow captures on the
# other, at increasing rates; per rate, what tcpreplay sent, what procflow
# read, and what was dropped (kernel, interface, worker queues). Needs
# root, iproute2 and tcpreplay (installed when missing).
#
#   bench/live_rate.sh [SIZE_MB] [RATES_MBPS...]   (defaults: 200 MB; 500 1000 2000 max)
#
# "max" replays as fast as tcpreplay can (--topspeed). The rate printed is
# what tcpreplay reports it reached.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-200}
shift || true
rates=("$@")
[ "${#rates[@]}" -gt 0 ] || rates=(500 1000 2000 max)
out=bench/out
mkdir -p "$out"
command -v tcpreplay >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq tcpreplay iproute2 >/dev/null
}
cargo build --release -q -p procflow -p pcapgen
pcap="$out/replay-${size_mb}m.pcap"
[ -f "$pcap" ] || target/release/pcapgen bench --out "$pcap" --size-mb "$size_mb" --seed 2
packets=$(python3 - "$pcap" <<'PY'
import struct, sys
n = 0
with open(sys.argv[1], "rb") as f:
    f.read(24)
    while True:
        h = f.read(16)
        if len(h) < 16:
            break
        f.seek(struct.unpack("<I", h[8:12])[0], 1)
        n += 1
print(n)
PY
)
a=pfrate0
b=pfrate1
ip link del "$a" 2>/dev/null || true
ip link add "$a" type veth peer name "$b"
ip link set "$a" up mtu 9000
ip link set "$b" up mtu 9000
trap 'ip link del "$a" 2>/dev/null || true' EXIT

printf '%-8s %10s %10s %10s %10s %10s %10s %10s %10s\n' asked Mbit/s pps sent read kernel_drop if_drop queue_drop lost
for rate in "${rates[@]}"; do
  stats="$out/live-rate-$rate.json"
  target/release/procflow live -i "$b" -f "tcp or udp" --no-promisc --buffer-mb 256 --stats-interval 0 \
    --stats "$stats" --flows /dev/null 2>"$out/live-rate.err" &
  pid=$!
  sleep 1
  if [ "$rate" = max ]; then speed=--topspeed; else speed="--mbps=$rate"; fi
  tcpreplay -q -i "$a" "$speed" "$pcap" >"$out/tcpreplay.out" 2>&1 || true
  sleep 1
  kill -TERM "$pid"
  wait "$pid" || true
  python3 - "$stats" "$packets" "$rate" "$out/tcpreplay.out" <<'PY'
import json, re, sys
s = json.load(open(sys.argv[1]))
m = re.search(r"Rated: [0-9.]+ Bps, ([0-9.]+) Mbps, ([0-9.]+) pps", open(sys.argv[4]).read())
mbps, pps = (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)
sent = int(sys.argv[2])
read = s["stats"]["packets"]
kd = sum(i["kernel_drops"] for i in s["interfaces"])
ifd = sum(i["interface_drops"] for i in s["interfaces"])
qd = s["stats"]["queue_drops"]
print(f"{sys.argv[3]:<8} {mbps:>10.0f} {pps:>10.0f} {sent:>10} {read:>10} {kd:>10} {ifd:>10} {qd:>10} {sent - read + qd:>10}")
PY
done
