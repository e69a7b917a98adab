# Helpers for bench/supervisor/run.sh: processes and cgroups to clean up, /proc readings, the
# numbers. Sourced, not run.
#
# Every process started here is recorded in STARTED_PIDS and every cgroup in MADE_CGROUPS, so the
# EXIT trap (bench_cleanup) stops and removes them however the run ends. Each supervisor runs in a
# cgroup of its own, so that killing that cgroup takes whatever it started along with it.

# forkwatch and supervisord stop their programs before they exit: give them 15 s.
STOP_GRACE_S=15
# shellcheck source=bench/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
CLK_TCK=$(getconf CLK_TCK)

# make_cgroup NAME: a cgroup v2 directory under the unified mount, in $MADE (not printed: a
# command substitution would run this in a subshell and lose the record for the cleanup).
make_cgroup() {
  MADE="$CG_ROOT/$1"
  mkdir "$MADE" || die "mkdir $MADE"
  MADE_CGROUPS+=("$MADE")
}


# sh -c "$IN_CGROUP" DIR COMMAND...: run COMMAND inside DIR from its first instruction. The
# shell execs it, so `... &` and $! give COMMAND's own pid (a function run with & would not).
# shellcheck disable=SC2016 # expanded by that shell
IN_CGROUP='echo $$ >"$0/cgroup.procs" && exec "$@"'


# ---- /proc ------------------------------------------------------------------------------------

# cpu_ticks PID: utime+stime+cutime+cstime in clock ticks: the process's own CPU (all threads)
# and that of the children it has reaped (the polling script's sleeps).
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat"; }

threads() { awk '/^Threads:/ { print $2 }' "/proc/$1/status"; }

# psi_cpu_us: microseconds during which some runnable task on the host waited for a CPU (PSI).
psi_cpu_us() { awk '/^some/ { sub("total=", "", $5); print $5 }' /proc/pressure/cpu 2>/dev/null || echo 0; }

# now_us: wall-clock microseconds, for rates over a window (a bash variable, no fork).
now_us() { echo "${EPOCHREALTIME/./}"; }


# own_processes DIR: processes in the cgroup that are not supervised programs (fwbs-crasher).
own_processes() {
  local n=0 pid comm
  while read -r pid; do
    read -r comm <"/proc/$pid/comm" 2>/dev/null || continue
    [ "$comm" = fwbs-crasher ] || n=$((n + 1))
  done <"$1/cgroup.procs"
  echo "$n"
}

# idle_programs TAG: live fwbs-crasher processes whose command line carries TAG.
idle_programs() { pgrep -c -f "fwbs-crasher idle $1-" || true; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.1 s until it succeeds.
wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  die "timed out after ${secs}s waiting for $what"
}

# at_least N COMMAND...: COMMAND prints a number >= N (for wait_for, which re-runs it).
at_least() { local n=$1; shift; [ "$("$@")" -ge "$n" ]; }
at_most() { local n=$1; shift; [ "$("$@")" -le "$n" ]; }

# ---- numbers ----------------------------------------------------------------------------------

# latencies STAMPS N: the first N restart latencies in ms, one a line: each run's "exit" to the
# next run's "start", both CLOCK_MONOTONIC ns written by the program itself.
latencies() {
  awk -v n="$2" '$1 == "exit" { e = $2; next } $1 == "start" && e { if (c++ < n) printf "%.3f\n", ($2 - e) / 1e6; e = 0 }' "$1"
}

# summary: "p50 p99 max mean n" of the numbers on stdin (nearest-rank percentiles).
summary() {
  sort -g | awk '{ a[NR] = $1; s += $1 }
    function rank(p,  r) { r = int(p * NR + 0.999999); return a[r < 1 ? 1 : r] }
    END { if (NR == 0) { print "nan nan nan nan 0"; exit } printf "%.1f %.1f %.1f %.1f %d\n", rank(0.50), rank(0.99), a[NR], s / NR, NR }'
}

# starts_in STAMPS: runs started so far (0 before the first).
starts_in() { if [ -f "$1" ]; then grep -c '^start ' "$1" || true; else echo 0; fi; }

# lines_in FILE: lines so far (0 while the file does not exist).
lines_in() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
