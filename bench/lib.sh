# Shared by the bench scripts (sourced, not run).

# median FILE: the "seconds peak_KB" line of the median run.
median() {
  sort -n "$1" | awk -v n="$(wc -l <"$1")" 'NR == int((n + 1) / 2) { print $1, $2 }'
}

# floor_and_build OUT: the libpcap floor (bench/pcap_floor.c) built into
# OUT, with gcc, libpcap's headers and GNU time installed when missing, and
# procflow and pcapgen built for release.
floor_and_build() {
  command -v gcc >/dev/null && [ -e /usr/include/pcap/pcap.h ] && [ -x /usr/bin/time ] || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq gcc libpcap-dev time >/dev/null
  }
  cargo build --release -q -p procflow -p pcapgen
  gcc -O2 -o "$1/pcap_floor" bench/pcap_floor.c -lpcap
}
