# Sourced by the bench/*/run.sh scripts: machine_facts DIR prints the facts
# every result table is read against (date, CPUs, memory, kernel, the disk
# holding DIR, Go, load average).
machine_facts() {
	local dir="${1:-/tmp}"
	echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "cpus:    $(nproc) x $(lscpu | sed -n 's/^Model name: *//p')"
	echo "memory:  $(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "kernel:  $(uname -r)"
	echo "disk:    $(df -T "$dir" | awk 'NR==2 {print $1 " (" $2 ") for " "'"$dir"'"}')"
	echo "go:      $(go version | cut -d' ' -f3)"
	echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, before the run)"
}
