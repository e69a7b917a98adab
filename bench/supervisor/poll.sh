#!/usr/bin/env bash
# The polling supervisor of bench/supervisor/run.sh: what a cron-style watchdog script does.
#
#   poll.sh PERIOD_S STATS_FILE COMMAND_FILE
#
# COMMAND_FILE holds one program a line (words split on blanks, no quoting). Every PERIOD_S
# seconds, each program whose process is gone (or a zombie) is started again in the background.
# Liveness is checked with builtins only (kill -0, read of /proc/PID/stat), so the script's forks
# are exactly its programs' starts and one `sleep` per period; it counts them and rewrites
# STATS_FILE ("forks N starts N loops N") every period. SIGTERM: its programs get SIGTERM, then it
# exits.
set -u
period=$1 stats=$2
mapfile -t commands <"$3"
pids=()
forks=0 starts=0 loops=0

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  read -r stat <"/proc/$1/stat" 2>/dev/null || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

stop() {
  local pid
  for pid in "${pids[@]}"; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; done
  wait # reap them: an orphaned zombie is left to init, which may never reap it
  exit 0
}
trap stop TERM INT

while :; do
  for i in "${!commands[@]}"; do
    if [ -z "${pids[i]:-}" ] || ! alive "${pids[i]}"; then
      # shellcheck disable=SC2086 # the line is the command's words
      ${commands[i]} </dev/null >/dev/null 2>&1 &
      pids[i]=$!
      forks=$((forks + 1)) starts=$((starts + 1))
    fi
  done
  loops=$((loops + 1))
  printf 'forks %d starts %d loops %d\n' "$forks" "$starts" "$loops" >"$stats"
  forks=$((forks + 1))
  # In the background and waited for, so SIGTERM is acted on at once rather than after the sleep.
  sleep "$period" &
  wait $! || true
done
