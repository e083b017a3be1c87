#!/usr/bin/env bash
# The fleet: windows folded per second into PostgreSQL by 1 and by 3
# sensors at once, and records published per second to NATS JetStream.
#
# Folding (rules/examples/fleet_fold.rs: each sensor
# commits batches of synthetic windows over 5,000 hosts and 400 images,
# each batch one fold transaction plus the read-back of every sensor's
# changes). Publishing (transport/examples/publish_rate.rs): 200,000 lines
# of about 560 bytes through the disk spool, timed until the server has
# acknowledged all. Starts throwaway servers on free ports in a temp
# directory.
#
#   bench/fleet.sh [--batches N] [--windows W]
#
# Defaults: 40 batches of 500 windows per sensor.
set -euo pipefail
cd "$(dirname "$0")/.."
batches=40
windows=500
while [ $# -gt 0 ]; do
  case "$1" in
    --batches) batches=$2; shift 2 ;;
    --windows) windows=$2; shift 2 ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
  esac
done
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "bench: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
cargo build --release -q -p rules --example fleet_fold
cargo build --release -q -p transport --example publish_rate
dir=$(mktemp -d /tmp/procflow-fleet-bench.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
as_pg "$bin/pg_ctl" -D "$dir/data" -o "-p $port -k $dir -c listen_addresses=127.0.0.1" -l "$dir/log" start -w >/dev/null
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nats-server -js -sd "$dir/nats" -p "$nport" -a 127.0.0.1 >"$dir/nats.log" 2>&1 &
npid=$!
trap 'kill $npid 2>/dev/null; as_pg "$bin/pg_ctl" -D "$dir/data" stop -m fast >/dev/null; rm -rf "$dir"' EXIT
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}'), fsync on, $(nproc) cores shared with the sensors"
for n in 1 3; do
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "bench$n"
  target/release/examples/fleet_fold "postgres://postgres@127.0.0.1:$port/bench$n" "$n" "$batches" "$windows"
done
until grep -q "Server is ready" "$dir/nats.log"; do sleep 0.1; done
echo "nats-server $(nats-server --version | awk '{print $2}'), JetStream file store"
target/release/examples/publish_rate "nats://127.0.0.1:$nport" "$dir/spool" 200000
