#!/usr/bin/env bash
# The supervisor benchmark (issue 5): forkwatch's program supervision against supervisord (the
# Debian package, our own instance) and a polling script with a 1 s period.
#
#   bench/supervisor/run.sh [latency] [resources]     (no argument: both)
#
# latency: one program that crashes over and over (bench/supervisor/crasher.c: it writes a
#   CLOCK_MONOTONIC timestamp when it starts and just before it exits 1, after a random
#   RUN_MIN_MS..RUN_MAX_MS); restart latency = one run's exit to the next run's start, from the
#   program's own timestamps, p50/p99 over CRASHES crashes. No backoff anywhere.
# resources: PROGRAMS long-running programs; each supervisor's CPU, RSS, processes and forks
#   over RES_S seconds.
#
# Prints Markdown tables on stdout (progress on stderr); raw data and the same tables go to
# bench/results/supervisor-<time>/. Run as root from a built tree; bench/README.md has the method.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=bench/supervisor/lib.sh
. "$HERE/lib.sh"

# ---- knobs ------------------------------------------------------------------------------------
if [ "${QUICK:-0}" = 1 ]; then # a smoke test of the script: a couple of minutes, numbers rough
  : "${CRASHES:=20}" "${RES_S:=10}" "${SETTLE_S:=3}"
fi
CRASHES=${CRASHES:-200}          # latency: crashes measured per supervisor
RUN_MIN_MS=${RUN_MIN_MS:-10}     # latency: each run lives a random time in [RUN_MIN_MS, RUN_MAX_MS);
RUN_MAX_MS=${RUN_MAX_MS:-1010}   #   a spread of one polling period, so the poller's phase is random
PROGRAMS=${PROGRAMS:-50}         # resources: long-running programs per supervisor
RES_S=${RES_S:-60}               # resources: measured window, seconds
SETTLE_S=${SETTLE_S:-5}          # resources: after every program runs, before the window
POLL_PERIOD=${POLL_PERIOD:-1}    # the polling script's period, seconds
FW_PORT=${FW_PORT:-10594}        # forkwatch's HTTP port
LATENCY_SUPERVISORS=${LATENCY_SUPERVISORS:-"forkwatch forkwatch-flush0 forkwatch-verbose supervisord poll"}
RESOURCE_SUPERVISORS=${RESOURCE_SUPERVISORS:-"forkwatch supervisord poll"}

PHASES=("$@")
[ ${#PHASES[@]} -eq 0 ] && PHASES=(latency resources)
for p in "${PHASES[@]}"; do
  case $p in latency | resources) ;; *) die "unknown phase \"$p\"; expected latency or resources" ;; esac
done
want() { [[ " ${PHASES[*]} " == *" $1 "* ]]; }

# ---- preflight --------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root: forkwatch loads BPF programs and every supervisor gets a cgroup"
# The reference supervisor and the tools this script calls, from Debian when missing (as bench/build.sh
# installs the other benchmarks' references). Debian's package also enables its own system supervisord,
# with no program configured: idle; this script runs its own with its own config and leaves that one be.
"$ROOT/scripts/apt-ensure.sh" supervisor procps curl gcc >&2 || die "could not install supervisor procps curl gcc"
for c in node curl gcc awk pgrep supervisord; do command -v "$c" >/dev/null || die "$c not found (apt-get install supervisor procps curl gcc)"; done
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then CG_ROOT=/sys/fs/cgroup; else CG_ROOT=/sys/fs/cgroup/unified; fi
[ -f "$CG_ROOT/cgroup.procs" ] || die "no cgroup v2 hierarchy at $CG_ROOT"
curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$FW_PORT/" && die "port $FW_PORT is taken; set FW_PORT"

RUN_ID=fwbs-$$
OUT="$ROOT/bench/results/supervisor-$(date +%Y%m%dT%H%M%S)"
mkdir -p "$OUT"
# Programs forkwatch ran: their cgroups are named after this run.
CLEANUP_PREFIXES+=("$CG_ROOT/forkwatch.programs/$RUN_ID-")
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Others may rebuild the tree while this runs: forkwatch runs from a copy of the build taken now.
FW_HOME=$(mktemp -d "/tmp/$RUN_ID-forkwatch.XXXXXX")
TEMP_DIRS+=("$FW_HOME")
[ -f "$ROOT/dist/cli/main.js" ] && [ -f "$ROOT/addon/build/Release/forkwatch.node" ] || die "no build in $ROOT: run make"
mkdir -p "$FW_HOME/addon/build/Release"
cp -r "$ROOT/bin" "$ROOT/dist" "$ROOT/package.json" "$FW_HOME/"
cp "$ROOT/addon/build/Release/forkwatch.node" "$FW_HOME/addon/build/Release/"
ln -s "$ROOT/node_modules" "$FW_HOME/node_modules"
FW="$FW_HOME/bin/forkwatch.js"

mkdir -p "$HERE/build"
gcc -O2 -Wall -Wextra -static -o "$HERE/build/fwbs-crasher" "$HERE/crasher.c"
CRASHER="$HERE/build/fwbs-crasher"
WORK=$(mktemp -d "/tmp/$RUN_ID-work.XXXXXX")
TEMP_DIRS+=("$WORK")

SUMMARY="$OUT/summary.md"
emit() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# ---- the three supervisors ----------------------------------------------------------------------
# Each takes a list of programs, one "NAME<TAB>ARGV..." a line in $WORK/programs, and runs in a
# cgroup of its own ($SUP_CG); sup_start sets SUP_PID (the supervisor's own process) and SUP_CG.

write_forkwatch_config() { # FILE FLUSH_INTERVAL
  {
    printf 'listen: "127.0.0.1:%s"\n' "$FW_PORT"
    printf 'api:\n  socket: "%s/api.sock"\n' "$WORK"
    printf 'bpf:\n  flush_interval: %s\n' "$2"
    if [ -s "$WORK/programs" ]; then printf 'programs:\n'; else printf 'programs: []\n'; fi
    while IFS=$'\t' read -r name argv; do
      # shellcheck disable=SC2086 # the argv words
      printf '  - {name: %s, command: [%s], restart: always, backoff: {initial: 0}, start_limit: {burst: 0}, stop_timeout: 5s}\n' \
        "$RUN_ID-$name" "$(printf '"%s", ' $argv | sed 's/, $//')"
    done <"$WORK/programs"
  } >"$1"
}

write_supervisord_config() { # FILE
  {
    printf '[unix_http_server]\nfile=%s/supervisord.sock\nchmod=0700\n\n' "$WORK"
    printf '[supervisord]\nnodaemon=true\nlogfile=%s/supervisord.log\npidfile=%s/supervisord.pid\nchildlogdir=%s\nloglevel=warn\n\n' "$WORK" "$WORK" "$WORK"
    printf '[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n'
    printf '[supervisorctl]\nserverurl=unix://%s/supervisord.sock\n\n' "$WORK"
    while IFS=$'\t' read -r name argv; do
      # startsecs=0: a run counts as started at once, so a short-lived program is restarted
      # (autorestart) rather than declared FATAL after startretries; no backoff applies then.
      printf '[program:%s]\ncommand=%s\nautorestart=true\nstartsecs=0\nstartretries=1000000\nstopwaitsecs=5\n' "$name" "$argv"
      printf 'stdout_logfile=NONE\nstderr_logfile=NONE\n\n'
    done <"$WORK/programs"
  } >"$1"
}

sup_start() { # SUPERVISOR LOG
  local sup=$1 logf=$2
  make_cgroup "$RUN_ID-$sup"
  SUP_CG=$MADE
  case $sup in
    forkwatch | forkwatch-flush0 | forkwatch-verbose)
      local flush=2ms verbose=()
      [ "$sup" = forkwatch-flush0 ] && flush=0
      # --verbose: the launcher's debug line per start says where its time went.
      [ "$sup" = forkwatch-verbose ] && verbose=(--verbose)
      write_forkwatch_config "$WORK/forkwatch.yml" "$flush"
      sh -c "$IN_CGROUP" "$SUP_CG" node "$FW" run --config "$WORK/forkwatch.yml" "${verbose[@]}" >"$logf" 2>&1 &
      SUP_PID=$!
      started "$SUP_PID"
      wait_for 60 "forkwatch to serve" grep -q 'serving http://' "$logf"
      ;;
    supervisord)
      write_supervisord_config "$WORK/supervisord.conf"
      sh -c "$IN_CGROUP" "$SUP_CG" supervisord -n -c "$WORK/supervisord.conf" >"$logf" 2>&1 &
      SUP_PID=$!
      started "$SUP_PID"
      wait_for 30 "supervisord's socket" test -S "$WORK/supervisord.sock"
      ;;
    poll)
      cut -f2 "$WORK/programs" >"$WORK/poll.commands"
      rm -f "$WORK/poll.stats"
      sh -c "$IN_CGROUP" "$SUP_CG" bash "$HERE/poll.sh" "$POLL_PERIOD" "$WORK/poll.stats" "$WORK/poll.commands" >"$logf" 2>&1 &
      SUP_PID=$!
      started "$SUP_PID"
      ;;
    *) die "unknown supervisor $sup" ;;
  esac
}

sup_stop() {
  stop_pid "$SUP_PID"
  remove_cgroup "$SUP_CG"
}

sup_version() {
  case $1 in
    forkwatch*) echo "forkwatch $(node -p "require('$FW_HOME/package.json').version") (node $(node -v))" ;;
    supervisord) echo "supervisord $(supervisord --version) ($("$(sed -n '1s/^#!//p' "$(command -v supervisord)")" --version 2>&1))" ;;
    poll) echo "bash $(bash -c 'echo $BASH_VERSION'), poll.sh every ${POLL_PERIOD}s" ;;
  esac
}

label() {
  case $1 in
    forkwatch) echo "forkwatch (bpf.flush_interval 2ms, the default)" ;;
    forkwatch-flush0) echo "forkwatch (bpf.flush_interval 0)" ;;
    forkwatch-verbose) echo "forkwatch (default, --verbose)" ;;
    forkwatch-none) echo "forkwatch with no program, same window (what watching the host costs)" ;;
    supervisord) echo "supervisord $(supervisord --version)" ;;
    poll) echo "polling script (${POLL_PERIOD} s)" ;;
  esac
}

# ---- environment -------------------------------------------------------------------------------
{
  echo "## Supervisor benchmark run $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "- host: $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "- $(sup_version forkwatch), HEAD $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)'); $(sup_version supervisord); $(sup_version poll)"
  echo "- before the run: load average $(cut -d' ' -f1-3 /proc/loadavg); CPU pressure (PSI some, avg60) $(awk '/^some/ { sub("avg60=", "", $3); print $3 }' /proc/pressure/cpu)%"
  echo "- command: bench/supervisor/run.sh ${PHASES[*]} (CRASHES=$CRASHES RUN_MIN_MS=$RUN_MIN_MS RUN_MAX_MS=$RUN_MAX_MS PROGRAMS=$PROGRAMS RES_S=$RES_S POLL_PERIOD=$POLL_PERIOD)"
  echo
} | tee "$SUMMARY" >&2

# ---- latency ------------------------------------------------------------------------------------
if want latency; then
  declare -A LAT AGENT HOSTF PSI
  for sup in $LATENCY_SUPERVISORS; do
    stamps="$OUT/latency-$sup.stamps"
    rm -f "$stamps"
    printf 'crash\t%s crash %s %s %s\n' "$CRASHER" "$stamps" "$RUN_MIN_MS" "$RUN_MAX_MS" >"$WORK/programs"
    log "latency: $sup, $CRASHES crashes"
    forks0=$(host_forks) t0=$(now_us) psi0=$(psi_cpu_us)
    sup_start "$sup" "$OUT/latency-$sup.log"
    events_pid=
    if [[ $sup == forkwatch* ]]; then
      # The agent's own view of each restart (exit seen -> new process running), from its stream.
      curl -sN --unix-socket "$WORK/api.sock" 'http://forkwatch/events?events=restart' >"$OUT/latency-$sup.events" &
      events_pid=$!
      started "$events_pid"
    fi
    limit=$((CRASHES * (RUN_MAX_MS / 1000 + 3) + 60))
    wait_for "$limit" "$((CRASHES + 1)) starts under $sup" at_least "$((CRASHES + 1))" starts_in "$stamps"
    if [[ $sup == forkwatch* ]]; then
      curl -s "http://127.0.0.1:$FW_PORT/metrics" | grep '^forkwatch_program_' >"$OUT/latency-$sup.metrics" || true
      stop_pid "$events_pid"
    fi
    sup_stop
    HOSTF[$sup]=$(calc '%.0f' "($(host_forks) - $forks0) / (($(now_us) - $t0) / 1e6)")
    PSI[$sup]=$(calc '%.0f' "100 * ($(psi_cpu_us) - $psi0) / ($(now_us) - $t0)")
    latencies "$stamps" "$CRASHES" >"$OUT/latency-$sup.ms"
    LAT[$sup]=$(summary <"$OUT/latency-$sup.ms")
    [ -n "$events_pid" ] && AGENT[$sup]=$(grep -o '"latency_s":[0-9.e+-]*' "$OUT/latency-$sup.events" | cut -d: -f2 | awk '{ printf "%.3f\n", $1 * 1000 }' | summary)
    log "  p50/p99/max/mean/n: ${LAT[$sup]}"
  done

  emit "### Restart latency: exit of the last process -> the new process running"
  emit ""
  emit "$CRASHES crashes each; the program lives ${RUN_MIN_MS}-${RUN_MAX_MS} ms, exits 1, and is restarted with no backoff. Times are the program's own CLOCK_MONOTONIC stamps: just before exit(), first thing in main()."
  emit ""
  emit "| Supervisor | p50 | p99 | max | mean | agent's own view p50 / p99 | host forks/s meanwhile | CPU pressure meanwhile |"
  emit "|---|---:|---:|---:|---:|---:|---:|---:|"
  for sup in $LATENCY_SUPERVISORS; do
    read -r p50 p99 max mean n <<<"${LAT[$sup]}"
    agent="-"
    if [ -n "${AGENT[$sup]:-}" ]; then read -r a50 a99 _ <<<"${AGENT[$sup]}"; agent="$a50 / $a99 ms"; fi
    emit "| $(label "$sup") | $p50 ms | $p99 ms | $max ms | $mean ms | $agent | ${HOSTF[$sup]} | ${PSI[$sup]} % |"
  done
  emit ""

  if [[ " $LATENCY_SUPERVISORS " == *" forkwatch-verbose "* ]]; then
    # Restart i: its total (program stamps), the agent's own view (exit seen -> launched, from
    # the stream) and the launcher's debug line for start i+1 (start 1 is not a restart): with the
    # addon, "(checks A, spawn B by clone3 into its cgroup)"; through the shell gate of kernels
    # before 5.7, "(checks A, spawn B, cgroup move C)".
    v="$OUT/latency-forkwatch-verbose"
    grep -o '"latency_s":[0-9.e+-]*' "$v.events" | cut -d: -f2 | awk '{ printf "%.3f\n", $1 * 1000 }' >"$v.agent.ms"
    sed -nE 's/.* started in ([0-9.]+) ms \(checks ([0-9.]+), spawn ([0-9.]+)(, cgroup move ([0-9.]+)| by clone3 into its cgroup)\).*/\1 \2 \3 \5/p' "$v.log" |
      awk '{ print $1, $2, $3, (NF > 3 ? $4 : 0) }' | tail -n +2 >"$v.launch"
    paste -d' ' "$v.ms" "$v.agent.ms" "$v.launch" | awk 'NF == 6' >"$v.steps"
    step() { awk "{ print $1 }" "$v.steps" | summary; }
    row() { local s; s=$(step "$2"); read -r p50 p99 _ <<<"$s"; emit "| $1 | $p50 ms | $p99 ms |"; }
    clone3=0
    grep -q ' by clone3 into its cgroup)' "$v.log" && clone3=1
    emit "#### Where a forkwatch restart's time goes ($(wc -l <"$v.steps") restarts of the --verbose run)"
    emit ""
    emit "| Step | p50 | p99 |"
    emit "|---|---:|---:|"
    if [ "$clone3" = 1 ]; then
      row "exit -> the agent sees the cgroup empty, and the program's exec -> its main()" '$1 - $2'
    else
      row "exit -> the agent sees the cgroup empty, and the wrapper's exec -> the program's main()" '$1 - $2'
    fi
    row "agent: the emptiness check (cgroup.procs), the decision, the adoption check" '$2 - $3'
    row "launch: cwd and command checks, second-copy check" '$4'
    if [ "$clone3" = 1 ]; then
      row "launch: clone3 into the program's cgroup, until the program's exec (the addon)" '$5'
    else
      row "launch: spawn of the wrapper shell (Node's fork + exec)" '$5'
      row "launch: move into the program's cgroup (cgroup.procs write)" '$6'
    fi
    row "total" '$1'
    emit ""
  fi
fi

# ---- resources ----------------------------------------------------------------------------------
if want resources; then
  declare -A CPU RSS PROCS THR FORKS HOSTR RPSI
  for sup in $RESOURCE_SUPERVISORS; do
    # forkwatch watches every process on the host, supervising or not: a second agent with no
    # program, over the same window, shows what that costs on this host at this moment.
    base_pid=
    if [ "$sup" = forkwatch ]; then
      : >"$WORK/programs"
      write_forkwatch_config "$WORK/forkwatch-none.yml" 2ms
      sed -i "s/127.0.0.1:$FW_PORT/127.0.0.1:$((FW_PORT + 1))/; s#$WORK/api.sock#$WORK/api-none.sock#" "$WORK/forkwatch-none.yml"
      make_cgroup "$RUN_ID-forkwatch-none"
      sh -c "$IN_CGROUP" "$MADE" node "$FW" run --config "$WORK/forkwatch-none.yml" >"$OUT/resources-forkwatch-none.log" 2>&1 &
      base_pid=$!
      started "$base_pid"
      wait_for 60 "the second forkwatch to serve" grep -q 'serving http://' "$OUT/resources-forkwatch-none.log"
    fi
    : >"$WORK/programs"
    for i in $(seq "$PROGRAMS"); do printf 'idle%d\t%s idle %s-%d\n' "$i" "$CRASHER" "$RUN_ID" "$i" >>"$WORK/programs"; done
    log "resources: $sup, $PROGRAMS programs, ${RES_S}s"
    sup_start "$sup" "$OUT/resources-$sup.log"
    wait_for 120 "$PROGRAMS programs under $sup" at_least "$PROGRAMS" idle_programs "$RUN_ID"
    # Forks by the supervisor's cgroup (the supervisor, and under supervisord and the poller
    # their programs, which do not fork), counted by a forkwatch tail of that cgroup.
    node "$FW" tail --json --events fork --cgroup "${SUP_CG#"$CG_ROOT"}" >"$OUT/resources-$sup.forks" 2>"$OUT/resources-$sup.tail.log" &
    tail_pid=$!
    started "$tail_pid"
    sleep "$SETTLE_S"
    c0=$(cpu_ticks "$SUP_PID") f0=$(host_forks) psi0=$(psi_cpu_us) w0=$(now_us) k0=$(lines_in "$OUT/resources-$sup.forks") rss_max=0 procs_max=0
    [ -n "$base_pid" ] && b0=$(cpu_ticks "$base_pid") brss_max=0
    for ((s = 0; s < RES_S; s += 5)); do
      sleep 5
      r=$(rss_kib "$SUP_PID") p=$(own_processes "$SUP_CG")
      ((r > rss_max)) && rss_max=$r
      ((p > procs_max)) && procs_max=$p
      if [ -n "$base_pid" ]; then r=$(rss_kib "$base_pid") && ((r > brss_max)) && brss_max=$r; fi
    done
    c1=$(cpu_ticks "$SUP_PID") f1=$(host_forks) psi1=$(psi_cpu_us) w1=$(now_us) k1=$(lines_in "$OUT/resources-$sup.forks")
    THR[$sup]=$(threads "$SUP_PID")
    stop_pid "$tail_pid"
    [ "$(idle_programs "$RUN_ID")" -ge "$PROGRAMS" ] || die "$sup lost programs during the window"
    if [ -n "$base_pid" ]; then
      CPU[forkwatch-none]=$(calc '%.2f' "100 * ($(cpu_ticks "$base_pid") - $b0) / $CLK_TCK / $RES_S")
      RSS[forkwatch-none]=$(calc '%.1f' "$brss_max / 1024")
      PROCS[forkwatch-none]=1 THR[forkwatch-none]=$(threads "$base_pid") FORKS[forkwatch-none]=- HOSTR[forkwatch-none]=$(calc '%.0f' "($f1 - $f0) / $RES_S")
      RPSI[forkwatch-none]=$(calc '%.0f' "100 * ($psi1 - $psi0) / ($w1 - $w0)")
      stop_pid "$base_pid"
    fi
    sup_stop
    wait_for 30 "the programs of $sup to be gone" at_most 0 idle_programs "$RUN_ID"
    CPU[$sup]=$(calc '%.2f' "100 * ($c1 - $c0) / $CLK_TCK / $RES_S")
    RSS[$sup]=$(calc '%.1f' "$rss_max / 1024")
    PROCS[$sup]=$procs_max
    FORKS[$sup]=$(calc '%.0f' "($k1 - $k0) * 60 / $RES_S")
    HOSTR[$sup]=$(calc '%.0f' "($f1 - $f0) / $RES_S")
    RPSI[$sup]=$(calc '%.0f' "100 * ($psi1 - $psi0) / ($w1 - $w0)")
    log "  cpu ${CPU[$sup]}% rss ${RSS[$sup]} MiB procs ${PROCS[$sup]} forks/min ${FORKS[$sup]}"
  done

  emit "### Cost of supervising $PROGRAMS long-running programs"
  emit ""
  emit "Over ${RES_S} s with every program up: CPU of the supervisor's own process (user+system, and for the polling script the children it reaped) as a share of one core, its largest RSS, the most supervisor processes seen at once (every 5 s, programs not counted), and forks by the supervisor per minute (a forkwatch tail of its cgroup)."
  emit ""
  emit "| Supervisor | CPU (% of one core) | RSS | processes | threads | forks/min | host forks/s meanwhile | CPU pressure meanwhile |"
  emit "|---|---:|---:|---:|---:|---:|---:|---:|"
  for sup in $RESOURCE_SUPERVISORS $([ -n "${CPU[forkwatch-none]:-}" ] && echo forkwatch-none); do
    emit "| $(label "$sup") | ${CPU[$sup]} % | ${RSS[$sup]} MiB | ${PROCS[$sup]} | ${THR[$sup]} | ${FORKS[$sup]} | ${HOSTR[$sup]} | ${RPSI[$sup]} % |"
  done
  emit ""
fi
log "done; raw data in $OUT"
