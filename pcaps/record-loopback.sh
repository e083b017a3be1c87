#!/usr/bin/env bash
# Record real HTTP/1.1 and TLS traffic on the loopback interface into a pcap
# that procflow's tests use as a fixture.
#
# Usage: sudo pcaps/record-loopback.sh [OUTPUT.pcap]
#   default OUTPUT: pcaps/loopback-http-tls.pcap (relative to the repo root)
#
# Needs root (tcpdump opens a raw socket on lo) and: tcpdump, curl, openssl,
# python3, ss (iproute2). Uses only 127.0.0.1:18080 (HTTP) and
# 127.0.0.1:18443 (TLS); fails if either port is already taken.
# Re-running it overwrites OUTPUT; nothing else outside a temp dir is touched.
#
# What is recorded, in this order, each on its own TCP connection:
#   1. curl GET /data.bin                           (100000-byte body)
#   2. curl POST /upload, 5000-byte body, fixed User-Agent, reply "ok\n"
#   3. python3 urllib.request GET /data.bin
#   4. one curl run fetching /data.bin twice over one keep-alive connection
#   5. openssl s_client, TLS 1.2, SNI tls.procflow.test, ALPN http/1.1
#   6. openssl s_client, TLS 1.3, SNI tls.procflow.test, ALPN http/1.1
set -euo pipefail

HTTP_PORT=18080
TLS_PORT=18443
HOST=127.0.0.1
SNI=tls.procflow.test
UPLOAD_UA='procflow-fixture-upload/1.0'
PYTHON=${PYTHON:-python3}

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd -- "$script_dir/.." && pwd)
out=${1:-"$repo_root/pcaps/loopback-http-tls.pcap"}

die() { echo "record-loopback: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "needs root for tcpdump; run: sudo $0 ${1:-}"
for tool in tcpdump curl openssl "$PYTHON" ss; do
    command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool"
done
for port in "$HTTP_PORT" "$TLS_PORT"; do
    if [[ -n $(ss -Hltn "sport = :$port") ]]; then
        die "port $port is already in use"
    fi
done

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
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for CONDITION_CMD DESCRIPTION: poll up to 10 s.
wait_for() {
    local i
    for ((i = 0; i < 100; i++)); do
        if eval "$1"; then return 0; fi
        sleep 0.1
    done
    die "timed out waiting for $2"
}

# --- fixed content -----------------------------------------------------------
# data.bin: 100000 bytes, bytes 0x00..0xff repeated (no randomness).
# upload.bin: 5000 bytes of a repeated ASCII line.
"$PYTHON" - "$tmp" <<'EOF'
import sys, os
d = sys.argv[1]
with open(os.path.join(d, "data.bin"), "wb") as f:
    f.write((bytes(range(256)) * 391)[:100000])
with open(os.path.join(d, "upload.bin"), "wb") as f:
    f.write((b"procflow upload fixture 0123456789\n" * 143)[:5000])
EOF
[[ $(stat -c %s "$tmp/data.bin") -eq 100000 ]] || die "data.bin has the wrong size"
[[ $(stat -c %s "$tmp/upload.bin") -eq 5000 ]] || die "upload.bin has the wrong size"

# --- HTTP/1.1 server (stdlib http.server, keep-alive) ------------------------
cat >"$tmp/server.py" <<'EOF'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DATA_PATH, PORT = sys.argv[1], int(sys.argv[2])
with open(DATA_PATH, "rb") as f:
    DATA = f.read()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return "procflow-fixture/1.0"

    def _reply(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/data.bin":
            self._reply(200, DATA, "application/octet-stream")
        else:
            self._reply(404, b"not found\n", "text/plain")

    def do_POST(self):
        length = self.headers.get("Content-Length")
        if length is None:
            self._reply(411, b"length required\n", "text/plain")
            return
        received = self.rfile.read(int(length))
        self.log_message("received %d body bytes", len(received))
        if self.path == "/upload":
            self._reply(200, b"ok\n", "text/plain")
        else:
            self._reply(404, b"not found\n", "text/plain")


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
EOF
"$PYTHON" "$tmp/server.py" "$tmp/data.bin" "$HTTP_PORT" >"$tmp/http-server.log" 2>&1 &
pids+=($!)

# --- TLS server (openssl s_server, throwaway self-signed certificate) --------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
    -subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >"$tmp/req.log" 2>&1 \
    || { cat "$tmp/req.log" >&2; die "openssl req failed"; }
alpn_srv=()
if openssl s_server -help 2>&1 | grep -q -- '-alpn'; then
    alpn_srv=(-alpn http/1.1)
fi
# -rev: echo each received line back reversed, and keep accepting connections.
openssl s_server -accept "$HOST:$TLS_PORT" -cert "$tmp/cert.pem" -key "$tmp/key.pem" \
    "${alpn_srv[@]}" -rev </dev/null >"$tmp/tls-server.log" 2>&1 &
pids+=($!)

wait_for "[[ -n \$(ss -Hltn 'sport = :$HTTP_PORT') ]]" "HTTP server on :$HTTP_PORT"
wait_for "[[ -n \$(ss -Hltn 'sport = :$TLS_PORT') ]]" "TLS server on :$TLS_PORT"

# --- capture -----------------------------------------------------------------
# -Z root: keep root so tcpdump can write into the root-only temp dir.
tcpdump -i lo -s 0 -U -Z root -w "$tmp/capture.pcap" \
    "tcp port $HTTP_PORT or tcp port $TLS_PORT" 2>"$tmp/tcpdump.log" &
tcpdump_pid=$!
pids+=("$tcpdump_pid")
wait_for "grep -q 'listening on' '$tmp/tcpdump.log'" "tcpdump to start capturing"
sleep 0.5

base="http://$HOST:$HTTP_PORT"
fmt='%{http_code} %{size_download} bytes, new connections: %{num_connects}\n'
results=()

# 1. one GET
results+=("1 curl GET:        $(curl -s -o /dev/null -w "$fmt" "$base/data.bin")")
sleep 0.3

# 2. POST of exactly 5000 bytes ("Expect:" disables 100-continue).
results+=("2 curl POST:       $(curl -s -o /dev/null -w "$fmt" -A "$UPLOAD_UA" \
    -H 'Content-Type: application/octet-stream' -H 'Expect:' \
    --data-binary "@$tmp/upload.bin" "$base/upload")")
sleep 0.3

# 3. python urllib GET
results+=("3 urllib GET:      $("$PYTHON" - "$base/data.bin" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1]) as r:
    body = r.read()
print(r.status, len(body), "bytes")
EOF
)")
sleep 0.3

# 4. two GETs on one keep-alive connection
results+=("4 curl 2x GET:     $(curl -s -w "$fmt" -o /dev/null -o /dev/null \
    "$base/data.bin" "$base/data.bin" | paste -sd';')")
sleep 0.3

# 5./6. TLS: send one line, keep stdin open 1 s for the reply, then EOF closes.
tls_client() { # VERSION_FLAG LABEL
    local log="$tmp/s_client$1.log"
    { printf 'hello procflow over %s\n' "$2"; sleep 1; } |
        openssl s_client -connect "$HOST:$TLS_PORT" -servername "$SNI" \
            -alpn http/1.1 "$1" -CAfile "$tmp/cert.pem" -verify_hostname "$SNI" \
            -no_ign_eof -nocommands >"$log" 2>&1
    local proto alpn verify
    proto=$(grep -m1 -oE '^New, [^,]+' "$log" | sed 's/^New, //')
    alpn=$(grep -m1 -oE '^ALPN protocol: .*' "$log" || echo 'ALPN: none')
    verify=$(grep -m1 -oE 'Verify return code: .*' "$log" || true)
    echo "$proto, $alpn, $verify"
}
results+=("5 s_client -tls1_2: $(tls_client -tls1_2 'TLS 1.2')")
sleep 0.3
results+=("6 s_client -tls1_3: $(tls_client -tls1_3 'TLS 1.3')")

# --- stop the capture cleanly -------------------------------------------------
sleep 1
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || true
grep -q 'packets captured' "$tmp/tcpdump.log" || { cat "$tmp/tcpdump.log" >&2; die "tcpdump did not finish cleanly"; }
[[ -s $tmp/capture.pcap ]] || die "empty capture"

mkdir -p -- "$(dirname -- "$out")"
cp -- "$tmp/capture.pcap" "$out.part"
mv -f -- "$out.part" "$out"
if [[ -n ${SUDO_UID:-} && -n ${SUDO_GID:-} ]]; then
    chown "$SUDO_UID:$SUDO_GID" "$out"
fi

echo "== clients"
printf '%s\n' "${results[@]}"
echo "== tcpdump"
grep -E 'captured|received|dropped' "$tmp/tcpdump.log"
echo "== wrote $out ($(stat -c %s "$out") bytes)"
echo "== tool versions"
curl --version | head -n1
"$PYTHON" --version 2>&1
openssl version
tcpdump --version 2>&1 | head -n2
