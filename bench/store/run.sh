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
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpus:    $(nproc) x $(lscpu | sed -n 's/^Model name: *//p')"
echo "memory:  $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
echo "disk:    $(df -T "$dir" | awk 'NR==2 {print $1 " (" $2 ") for " "'"$dir"'"}')"
echo "go:      $(go version | cut -d' ' -f3)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, before the run)"
echo
bin=$(mktemp /tmp/mqsight-bench-store.XXXXXX)
trap 'rm -f "$bin"' EXIT
go build -o "$bin" ./bench/store
timeout 300 "$bin" "$@"
echo
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (after the run)"
