#!/usr/bin/env bash
# Backup benchmark: store backup of a ~1 GB store to file:// and sftp:// on
# loopback vs `cp -r` and `tar c | age`; QoS 1 publish throughput during a
# backup vs without; restore vs `cp -r`; the floor of a backup (each part
# it cannot skip, timed alone). Prints the machine and Markdown
# tables for bench/RESULTS.md. Bounded: a few minutes on a 2-core VM
# (timeout 9 minutes). Needs `age` (apt-get install -y age); uses the
# OpenSSH server of tests/sshd/start.sh when it is set up, and sshpass
# (apt-get install -y sshpass) to time OpenSSH's scp against it. Every
# measurement runs -rounds times (3), alternated; the tables show medians
# and every round. -cold drops the page cache before each timed copy or
# backup (root); -series prints the publish rate during each backup;
# -ops sftp-rtt times sftp and scp through a proxy adding -rtt (20ms).
# Usage: bench/backup/run.sh [-dir DIR] [-size-mb 1024] [-load 8s] [-rounds 3]
#        [-cold] [-series] [-ops copy,backup,floor,sftp,sftp-rtt,load,restore]
#        [-rtt 20ms] [-cpuprofile F] [-restoreprofile F]
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${TMPDIR:-/tmp}"
for ((i = 1; i <= $#; i++)); do
	case "${!i}" in
	-dir | --dir) j=$((i + 1)); dir="${!j}" ;;
	-dir=* | --dir=*) dir="${!i#*=}" ;;
	esac
done
command -v age >/dev/null || { echo "bench/backup: age not found (apt-get install -y age)" >&2; exit 1; }
. bench/machine.sh
machine_facts "$dir"
echo "age:     $(age --version)"
echo
bin=$(mktemp /tmp/mqsight-bench-backup.XXXXXX)
# The run's store and copies (over a GiB) go into a directory of this
# script's, removed even when the timeout kills the benchmark.
work=$(mktemp -d "$dir/mqsight-bench-backup.XXXXXX")
# What the sftp and scp rows leave on the OpenSSH test server when killed.
sshd_dir=$( (. "${MQSIGHT_SSHD_ENV:-/tmp/mqsight-sshd/env}" 2>/dev/null && echo "${MQSIGHT_SSHD_PATH:-}") || true)
trap 'rm -rf "$bin" "$work"; [ -z "$sshd_dir" ] || rm -rf "$sshd_dir"/scp-* "$sshd_dir"/bench-*.bak "$sshd_dir"/.bench-*.bak.partial-*' EXIT
go build -o "$bin" ./bench/backup
timeout 540 "$bin" "$@" -dir "$work"
echo
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (after the run)"
