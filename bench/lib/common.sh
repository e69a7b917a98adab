# Shell helpers shared by bench/agent/lib.sh and bench/supervisor/lib.sh: logging, the processes a
# run started (for its EXIT trap), and a few /proc readings. Sourced, not run.
#
# Every process a run starts is recorded in STARTED_PIDS (with `started`), so the run's cleanup
# can stop what is left however the run ends. STOP_GRACE_S: how long stop_pid waits after SIGTERM.

STARTED_PIDS=()
STOP_GRACE_S=${STOP_GRACE_S:-5}

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# started PID: remember a process to stop at the end.
started() { STARTED_PIDS+=("$1"); }

# Forgets a stopped process: a storm goes through every pid number many times over, so a number
# kept after its process ended could belong to someone else's process by the end of the run.
forget_pid() {
  local keep=() p
  for p in "${STARTED_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  STARTED_PIDS=("${keep[@]}")
}

# stop_pid PID: SIGTERM, then SIGKILL after STOP_GRACE_S; waits for it if it is our child.
stop_pid() {
  local pid=$1 i
  forget_pid "$pid"
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_GRACE_S * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && { log "pid $pid ignored SIGTERM for ${STOP_GRACE_S} s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  wait "$pid" 2>/dev/null || true
}

# rss_kib PID: resident set size in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# host_forks: processes (and threads) created on the host since boot.
host_forks() { awk '$1 == "processes" { print $2 }' /proc/stat; }
