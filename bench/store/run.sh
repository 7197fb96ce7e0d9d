#!/usr/bin/env bash
# Store benchmark: durable commits/s at 1, 8 and 64 publishers and the time
# to checkpoint a ~1 GB store vs `cp -r`. Prints the machine and Markdown
# tables for bench/RESULTS.md. Bounded: about 2 minutes on a 2-core VM.
# Usage: bench/store/run.sh [-dir DIR] [-duration 5s] [-size-mb 1024]
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${TMPDIR:-/tmp}"
for ((i = 1; i <= $#; i++)); do
	if [[ "${!i}" == "-dir" ]]; then j=$((i + 1)); dir="${!j}"; fi
done
. bench/machine.sh
machine_facts "$dir"
echo
bin=$(mktemp /tmp/mqsight-bench-store.XXXXXX)
trap 'rm -f "$bin"' EXIT
go build -o "$bin" ./bench/store
timeout 300 "$bin" "$@"
echo
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (after the run)"
