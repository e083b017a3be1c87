#!/usr/bin/env bash
# Record real cleartext HTTP/2 (h2c) on the loopback interface into a pcap
# that procflow's tests use as a fixture: nghttp and curl against nghttpd.
#
# Usage: sudo pcaps/record-h2c.sh [OUTPUT.pcap]
#   default OUTPUT: pcaps/loopback-h2c.pcap (relative to the repo root)
#
# Needs root (tcpdump opens a raw socket on lo) and: tcpdump, curl (built
# with nghttp2), nghttp and nghttpd (Debian: nghttp2-client and
# nghttp2-server), python3, ss. Uses only 127.0.0.1:18082; fails if it is
# taken. (nghttpd does not take an HTTP/1.1 Upgrade, so every connection
# opens with the preface; the unit tests cover the upgrade.)
#
# What is recorded, in this order, each on its own TCP connection, all
# with prior knowledge:
#   1. nghttp: GET /data.bin (100000-byte body) and GET /small.txt at once
#      on one connection (streams 13 and 15, after PRIORITY frames on the
#      idle streams 3 to 11 of its dependency tree)
#   2. curl: POST /small.txt with a 5000-byte body and a fixed User-Agent
#   3. curl: GET /data.bin
set -euo pipefail

PORT=18082
HOST=127.0.0.1
UPLOAD_UA='procflow-fixture-upload/1.0'

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd -- "$script_dir/.." && pwd)
out=${1:-"$repo_root/pcaps/loopback-h2c.pcap"}

die() { echo "record-h2c: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "needs root for tcpdump; run: sudo $0 ${1:-}"
for tool in tcpdump curl nghttp nghttpd python3 ss; do
    command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool"
done
curl -V | grep -q 'HTTP2' || die "curl was built without HTTP/2"
[[ -z $(ss -Hltn "sport = :$PORT") ]] || die "port $PORT is already in use"

tmp=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf -- "$tmp"
}
trap cleanup EXIT

wait_for() { # CONDITION_CMD DESCRIPTION: poll up to 10 s.
    local i
    for ((i = 0; i < 100; i++)); do
        if eval "$1"; then return 0; fi
        sleep 0.1
    done
    die "timed out waiting for $2"
}

# Fixed content: data.bin is 100000 bytes of 0x00..0xff repeated,
# small.txt 12 bytes, upload.bin 5000 bytes of one repeated line.
mkdir -p "$tmp/www"
python3 - "$tmp" <<'EOF'
import os, sys
d = sys.argv[1]
with open(os.path.join(d, "www", "data.bin"), "wb") as f:
    f.write((bytes(range(256)) * 391)[:100000])
with open(os.path.join(d, "www", "small.txt"), "wb") as f:
    f.write(b"hello, h2c!\n")
with open(os.path.join(d, "upload.bin"), "wb") as f:
    f.write((b"procflow upload fixture 0123456789\n" * 143)[:5000])
EOF

nghttpd --no-tls -d "$tmp/www" -a "$HOST" "$PORT" >"$tmp/nghttpd.log" 2>&1 &
pids+=($!)
wait_for "[[ -n \$(ss -Hltn 'sport = :$PORT') ]]" "nghttpd on :$PORT"

tcpdump -i lo -s 0 -U -Z root -w "$tmp/capture.pcap" "tcp port $PORT" 2>"$tmp/tcpdump.log" &
tcpdump_pid=$!
pids+=("$tcpdump_pid")
wait_for "grep -q 'listening on' '$tmp/tcpdump.log'" "tcpdump to start capturing"
sleep 0.5

base="http://$HOST:$PORT"
fmt='%{http_version} %{http_code} %{size_download}\n'
echo "1: $(nghttp -ns "$base/data.bin" "$base/small.txt" | grep -c '/' ) streams"
sleep 0.3
echo "2: $(curl -s --http2-prior-knowledge -w "$fmt" -o /dev/null -A "$UPLOAD_UA" \
    --data-binary "@$tmp/upload.bin" "$base/small.txt")"
sleep 0.3
echo "3: $(curl -s --http2-prior-knowledge -w "$fmt" -o /dev/null "$base/data.bin")"
sleep 1

kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null || true
cp "$tmp/capture.pcap" "$out"
echo "record-h2c: wrote $out ($(stat -c %s "$out") bytes)"
