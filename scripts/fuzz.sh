#!/usr/bin/env bash
# Runs every fuzz target for MINUTES minutes each (default 2), one after
# the other in one process each, and prints per target: executions,
# coverage (edges and features) and what it found (crashes, timeouts,
# out-of-memory inputs, left in fuzz/artifacts/<target>/).
#
#   scripts/fuzz.sh [MINUTES] [TARGET...]
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Seeds are made afresh at every run into fuzz/corpus/<target>/ (kept
# between runs, not committed): the captures of pcaps/ and of the shared
# corpus (../shared/corpus, when it is there), frames and TCP streams
# taken from them, the endpoint feeds of the corpus, the default
# configuration, and small baselines and listener sessions.
# A found input, once understood, goes into fuzz/regressions/<target>/,
# which `cargo test --test fuzz_replay` replays on stable.
set -euo pipefail

minutes=${1:-2}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${PROCFLOW_SHARED:-$root/../shared}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(capture_file decode http h2 tls quic dtls feed config baseline listen)
fi
corpus=$root/fuzz/corpus
log=$root/fuzz/logs
mkdir -p "$corpus" "$log"

# Bytes of a seed file after the control bytes its target reads first.
seed() { # target name control-bytes(printf format) file-or-text...
    local t=$1 name=$2 ctl=$3
    shift 3
    mkdir -p "$corpus/$t"
    { printf "$ctl"; cat "$@"; } > "$corpus/$t/$name"
}

echo "== seeds"
captures=("$root"/pcaps/*.pcap)
if [ -d "$shared/corpus" ]; then
    while IFS= read -r -d '' f; do captures+=("$f"); done < <(
        find "$shared/corpus" -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \) \
            -size -256k -print0)
fi
(cd "$root" && cargo run -q -p capture --example fuzz_seeds -- "$corpus" "${captures[@]}")

feeds=("$root/pcaps/attribution.feed.jsonl")
if [ -d "$shared/corpus/endpoint" ]; then
    while IFS= read -r -d '' f; do feeds+=("$f"); done < <(
        find "$shared/corpus/endpoint" -type f \
            \( -name '*.ndjson' -o -name '*.jsonl' -o -name '*.log' -o -name '*.xml' -o -name '*.json' \) \
            -print0)
fi
i=0
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for f in "${feeds[@]}"; do
    head -c 8192 "$f" > "$tmp"
    # Format 0 (auto) and the file's own lines, uncut; then cut in four.
    seed feed "feed.$i" '\0\0\0\0\0\377' "$tmp"
    seed feed "feed.$i.cut" '\0\100\100\100\100\7' "$tmp"
    head -c 2048 "$f" > "$tmp"
    printf 'token fuzz-token\n' | cat - "$tmp" > "$tmp.l"
    seed listen "listen.$i" '\0\0\0' "$tmp.l"
    rm -f "$tmp.l"
    i=$((i + 1))
done
seed listen wrong-token '\0\0\0' <(printf 'token nope\n{"ts":1}\n')
seed config default '' "$root/rules/src/config/default.toml"
seed baseline empty-file '\0' /dev/null
seed baseline rows '\1' <(printf '\0img|/bin/a|linux|1|2|3|0\n\1img|h1|1|2\n\2h1|h1|linux|default|1|2\n\3img|default|{}|{}|{}|{}\n\4windows_folded|9\n')
for t in "${targets[@]}"; do
    printf '%-14s %6d seeds\n' "$t" "$(find "$corpus/$t" -type f 2>/dev/null | wc -l)"
done

max_len() {
    case $1 in
        capture_file) echo 65536 ;;
        decode) echo 4096 ;;
        baseline | config | listen) echo 8192 ;;
        *) echo 16384 ;;
    esac
}

echo "== fuzzing, $minutes min per target"
cd "$root/fuzz"
# The fuzz crate is a workspace of its own, built in fuzz/target.
export CARGO_TARGET_DIR=$root/fuzz/target
results=()
for t in "${targets[@]}"; do
    mkdir -p "artifacts/$t"
    before=$(find "artifacts/$t" -type f | wc -l)
    set +e
    cargo +nightly fuzz run -s none -a "$t" "$corpus/$t" -- \
        -max_total_time=$((minutes * 60)) -max_len="$(max_len "$t")" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        > "$log/$t.log" 2>&1
    status=$?
    set -e
    after=$(find "artifacts/$t" -type f | wc -l)
    # A run stopped by a finding prints no final stats: take the last line.
    execs=$({ grep -o 'stat::number_of_executed_units: [0-9]*' "$log/$t.log" || true; } | tail -1 | awk '{print $2}')
    if [ -z "$execs" ]; then
        execs=$({ grep -oE '^#[0-9]+' "$log/$t.log" || true; } | tail -1 | tr -d '#')
    fi
    last=$({ grep -o 'cov: [0-9]* ft: [0-9]*' "$log/$t.log" || true; } | tail -1)
    crashes=$(find "artifacts/$t" -type f -name 'crash-*' | wc -l)
    timeouts=$(find "artifacts/$t" -type f -name 'timeout-*' | wc -l)
    ooms=$(find "artifacts/$t" -type f -name 'oom-*' | wc -l)
    results+=("$(printf '%-14s %10s execs  %-22s new artifacts %d (crash %d, timeout %d, oom %d; exit %d)' \
        "$t" "${execs:-?}" "${last:-cov: ? ft: ?}" $((after - before)) "$crashes" "$timeouts" "$ooms" "$status")")
    echo "${results[-1]}"
done
echo "== summary (logs in fuzz/logs/)"
printf '%s\n' "${results[@]}"
