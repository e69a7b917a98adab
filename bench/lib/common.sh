# Shell helpers shared by bench/agent/lib.sh and bench/supervisor/lib.sh: logging, the processes a
# run started (for its EXIT trap), and a few /proc readings. Sourced, not run.
#
# What a run makes is recorded so that bench_cleanup (its EXIT trap) stops and removes it however
# the run ends: processes in STARTED_PIDS (with `started`), cgroups in MADE_CGROUPS, temporary
# directories in TEMP_DIRS, and in CLEANUP_PREFIXES the path prefixes of cgroups too many to list
# (a churn's, or the programs forkwatch ran). STOP_GRACE_S: how long stop_pid waits after SIGTERM.

STARTED_PIDS=()
MADE_CGROUPS=()
TEMP_DIRS=()
CLEANUP_PREFIXES=()
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

# remove_cgroup DIR: kill what is left in it (cgroup.kill, and pid by pid for kernels before 5.14)
# and remove it; says so if it cannot within 5 s.
remove_cgroup() {
  local dir=$1 i pid
  [ -d "$dir" ] || return 0
  for i in $(seq 50); do
    rmdir "$dir" 2>/dev/null && return 0
    echo 1 >"$dir/cgroup.kill" 2>/dev/null || while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$dir/cgroup.procs"
    sleep 0.1
  done
  log "could not remove $dir"
  return 1
}

# bench_cleanup: the EXIT trap. Newest process first (a scraper before what it scrapes), then the
# cgroups, then the temporary directories; OUT names where the partial results are.
bench_cleanup() {
  local rc=$? i dir prefix
  trap - EXIT INT TERM
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${STARTED_PIDS[i]}"; done
  for dir in "${MADE_CGROUPS[@]}"; do remove_cgroup "$dir"; done
  for prefix in "${CLEANUP_PREFIXES[@]}"; do
    for dir in "$prefix"*; do [ -d "$dir" ] && remove_cgroup "$dir"; done
  done
  for dir in "${TEMP_DIRS[@]}"; do rm -rf "$dir"; done
  [ "$rc" -ne 0 ] && log "failed (exit $rc); partial results in ${OUT:-?}"
  exit "$rc"
}
