#!/usr/bin/env bash
# Stop the sshd started by tests/sshd/start.sh (only that one, by its pid
# file) and remove its env file so the Go test no longer finds it. The user
# and host key stay, so a later start.sh is quick and keeps the same key.
set -euo pipefail

STATE=${MQSIGHT_SSHD_STATE:-/tmp/mqsight-sshd}

if [ -s "$STATE/sshd.pid" ]; then
	pid=$(cat "$STATE/sshd.pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$STATE/sshd.pid"
fi
rm -f "$STATE/env"
