#!/usr/bin/env bash
# MQTT benchmark: mqsight against a private Mosquitto (127.0.0.1,
# persistence off), alternating brokers in one run. Prints the machine and
# Markdown tables for bench/RESULTS.md (## MQTT). Bounded: about 4 minutes on
# a 2-core VM (every scenario run, drain and connect phase has its own limit,
# and the whole run is killed after 9 minutes).
# Usage: bench/mqtt/run.sh [-rounds 3] [-duration 4s] [-conns 10000]
#                          [-scenarios fanin,fanout,qos1,latency] [-profile DIR]
# With -profile DIR it then profiles mqsight (CPU and allocations) under each
# scenario and prints the top of each profile.
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=""
for ((i = 1; i <= $#; i++)); do
	if [[ "${!i}" == "-profile" ]]; then j=$((i + 1)); profile="${!j}"; fi
done
mosquitto="$(command -v mosquitto || true)"
[[ -z "$mosquitto" && -x /usr/sbin/mosquitto ]] && mosquitto=/usr/sbin/mosquitto
if [[ -z "$mosquitto" ]]; then
	echo "mosquitto is not installed (apt-get install -y mosquitto)" >&2
	exit 1
fi
# 10,000 idle connections need that many descriptors in the broker and in
# the load generator: raise the soft limit as far as the hard limit allows.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
. bench/machine.sh
machine_facts "${TMPDIR:-/tmp}"
echo "mosquitto: $("$mosquitto" -h 2>/dev/null | sed -n '1s/^mosquitto version //p')"
echo "nofile:  $(ulimit -n)"
echo
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/mqsight" ./cmd/mqsight
go build -o "$bin/bench-mqtt" ./bench/mqtt
timeout 540 "$bin/bench-mqtt" -mqsight "$bin/mqsight" -mosquitto "$mosquitto" "$@"
if [[ -n "$profile" ]]; then
	for f in "$profile"/*.pb.gz; do
		echo
		echo "== $f"
		idx=""
		[[ "$f" == *.allocs.pb.gz ]] && idx="-sample_index=alloc_space"
		go tool pprof -top -nodecount=25 $idx "$bin/bench-mqtt" "$f" 2>/dev/null | sed -n '1,32p'
	done
fi
