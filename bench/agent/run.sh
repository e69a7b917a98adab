#!/usr/bin/env bash
# The agent benchmark (issue 3): forkwatch against prometheus-process-exporter on the same
# fork+exit and fork+exec storms, each exporter scraped once a second by a curl loop; the agent's
# CPU at a steady 1,000 forks/s; the agent's RSS over a churn of short-lived cgroups.
#
#   bench/agent/run.sh [overhead] [steady] [churn]     (no argument: all three)
#
# The storms are the event-pipeline bench's workloads (bench/workloads/, built by bench/build.sh),
# each run inside a cgroup of its own. Prints Markdown tables on stdout (progress on stderr); raw
# data and the same tables go to bench/results/agent-<time>/. Run as root from a built tree.
# bench/README.md describes the method and the knobs (environment variables below).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=bench/agent/lib.sh
. "$HERE/lib.sh"

# ---- knobs ------------------------------------------------------------------------------------
if [ "${QUICK:-0}" = 1 ]; then # a smoke test of the scripts, minutes not tens of minutes
  : "${ROUNDS:=1}" "${EXIT_COUNT:=2000}" "${EXEC_COUNT:=1000}" "${IDLE_S:=3}" "${STEADY_S:=5}" "${CHURN_S:=40}" "${RSS_EVERY:=10}"
fi
ROUNDS=${ROUNDS:-7}                 # overhead: chunks per workload and exporter
EXIT_COUNT=${EXIT_COUNT:-20000}     # overhead: processes per fork+exit chunk (fw-forkexit)
EXEC_COUNT=${EXEC_COUNT:-5000}      # overhead: processes per fork+exec chunk (fw-forkexec)
EXEC_PROGRAM=${EXEC_PROGRAM:-/bin/true} # what fw-forkexec's children exec
SETTLE_S=${SETTLE_S:-2}             # after an exporter answers, before its chunk starts
STEADY_RATE=${STEADY_RATE:-1000}    # steady: forks per second (fw-forkpar, fork+exit)
STEADY_LOOPS=${STEADY_LOOPS:-1}     # steady: fw-forkpar fork loops sharing the rate
STEADY_S=${STEADY_S:-60}            # steady: seconds at STEADY_RATE
IDLE_S=${IDLE_S:-30}                # steady: seconds of no storm first (the exporter's floor)
CHURN_S=${CHURN_S:-600}             # churn: seconds
CHURN_RATE=${CHURN_RATE:-10}        # churn: cgroups made and removed per second
CHURN_PROCS=${CHURN_PROCS:-3}       # churn: processes fw-forkexit makes in each cgroup
RSS_EVERY=${RSS_EVERY:-10}          # churn: RSS sampling period, seconds
FW_PORT=${FW_PORT:-10591}           # forkwatch (default config)
PE_PORT=${PE_PORT:-10592}           # prometheus-process-exporter
FW2_PORT=${FW2_PORT:-10593}         # forkwatch with bench/agent/forkwatch-evict-30s.yml (churn)
SCRAPE_TIMEOUT=${SCRAPE_TIMEOUT:-5} # a scrape not answered in this long counts as failed

PHASES=("$@")
[ ${#PHASES[@]} -eq 0 ] && PHASES=(overhead steady churn)
for p in "${PHASES[@]}"; do
  case $p in overhead | steady | churn) ;; *) die "unknown phase \"$p\"; expected overhead, steady or churn" ;; esac
done
want() { [[ " ${PHASES[*]} " == *" $1 "* ]]; }

# ---- preflight --------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root: the agent loads BPF programs and the storms make cgroups"
for c in node curl gcc awk prometheus-process-exporter; do command -v "$c" >/dev/null || die "$c not found"; done
[ -x "$ROOT/bench/build.sh" ] || die "bench/build.sh (the event-pipeline bench's workloads) not found"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then CG_ROOT=/sys/fs/cgroup; else CG_ROOT=/sys/fs/cgroup/unified; fi
[ -f "$CG_ROOT/cgroup.procs" ] || die "no cgroup v2 hierarchy at $CG_ROOT"
for port in "$FW_PORT" "$PE_PORT" "$FW2_PORT"; do
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" && die "port $port is taken; set FW_PORT, PE_PORT, FW2_PORT"
done

RUN_ID=fwb-$$
OUT="$ROOT/bench/results/agent-$(date +%Y%m%dT%H%M%S)"
mkdir -p "$OUT"
# Churn cgroups are too many to list one by one; they all carry this run's prefix.
CLEANUP_PREFIXES+=("$CG_ROOT/$RUN_ID-")
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ROOT/bench/build.sh"
W="$ROOT/bench/build"
for b in fw-forkexit fw-forkexec fw-forkpar; do [ -x "$W/$b" ] || die "$W/$b missing after bench/build.sh"; done

# Others may rebuild the tree while this runs: run forkwatch from a copy of the build taken now,
# so every phase measures the same agent (and a rebuild in progress cannot fail a chunk). A copy
# taken halfway through a rebuild fails to start: wait and copy again.
snapshot_forkwatch() {
  rm -rf "$FW_HOME"
  mkdir -p "$FW_HOME/addon/build/Release"
  [ -f "$ROOT/dist/cli/main.js" ] && [ -f "$ROOT/addon/build/Release/forkwatch.node" ] || return 1
  cp -r "$ROOT/bin" "$ROOT/dist" "$ROOT/package.json" "$FW_HOME/" &&
    cp "$ROOT/addon/build/Release/forkwatch.node" "$FW_HOME/addon/build/Release/" &&
    ln -s "$ROOT/node_modules" "$FW_HOME/node_modules" || return 1
  setpriv --pdeathsig KILL node "$FW_HOME/bin/forkwatch.js" run --listen "127.0.0.1:$FW_PORT" --config "$(fw_config "$FW_PORT")" \
    >"$OUT/forkwatch-snapshot-check.log" 2>&1 &
  local pid=$! ok=1
  started "$pid"
  for _ in $(seq 150); do
    curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$FW_PORT/metrics" && break
    kill -0 "$pid" 2>/dev/null || { ok=0; break; }
    sleep 0.1
  done
  curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$FW_PORT/metrics" || ok=0
  stop_pid "$pid"
  [ $ok = 1 ]
}
FW_HOME=$(mktemp -d /tmp/fwb-forkwatch.XXXXXX)
TEMP_DIRS+=("$FW_HOME")
for try in $(seq 12); do
  snapshot_forkwatch && break
  [ "$try" = 12 ] && { cat "$OUT/forkwatch-snapshot-check.log" >&2; die "no working forkwatch build in $ROOT (dist/, addon/build) after 2 minutes; build it with make"; }
  log "forkwatch build not usable yet (a rebuild in progress?); trying again in 10 s"
  sleep 10
done
FW_BUILD_ID="addon $(sha256sum "$FW_HOME/addon/build/Release/forkwatch.node" | cut -c1-12), dist $(cd "$FW_HOME/dist" && find . -name '*.js' -type f -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-12)"

calc() { awk "BEGIN { printf \"$1\n\", $2 }"; }
bpf_forks() { bpftool prog list 2>/dev/null | grep -c 'name handle_fork' || true; }

SUMMARY="$OUT/summary.md"
emit() { printf '%s\n' "$*" >>"$SUMMARY"; }

# ---- environment -----------------------------------------------------------------------------
{
  echo "## Agent benchmark run $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "- host: $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); node $(node -v); process-exporter $(prometheus-process-exporter -version 2>&1 | sed -n 's/.*revision: \([^)]*\)).*/\1/p')"
  echo "- forkwatch: the build in the working tree at the start (HEAD $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src bpf addon 2>/dev/null || echo ', src/bpf/addon modified'); sha256 $FW_BUILD_ID), default config unless said"
  echo "- scraping: a curl loop, one GET per second per exporter on an absolute schedule, timeout ${SCRAPE_TIMEOUT}s (bench/agent/lib.sh scrape_loop)"
  echo "- before the run: load average $(cut -d' ' -f1-3 /proc/loadavg); forkwatch BPF programs of other processes attached: $(bpf_forks) handle_fork"
  echo "- command: bench/agent/run.sh ${PHASES[*]} (ROUNDS=$ROUNDS EXIT_COUNT=$EXIT_COUNT EXEC_COUNT=$EXEC_COUNT EXEC_PROGRAM=$EXEC_PROGRAM STEADY_RATE=$STEADY_RATE STEADY_LOOPS=$STEADY_LOOPS STEADY_S=$STEADY_S IDLE_S=$IDLE_S CHURN_S=$CHURN_S CHURN_RATE=$CHURN_RATE CHURN_PROCS=$CHURN_PROCS RSS_EVERY=$RSS_EVERY)"
  echo
} >"$SUMMARY"

# start_exporter NAME TAG: starts forkwatch or process-exporter on its port; sets EXP_PID, EXP_URL
# and EXP_RE (the lines of its scrape worth keeping; GROUP is the storm's forkwatch group).
start_exporter() {
  case $1 in
    forkwatch | forkwatch-flush20ms)
      if [ "$1" = forkwatch ]; then start_forkwatch "$FW_PORT" "$OUT/$1-$2.log"
      else start_forkwatch "$FW_PORT" "$OUT/$1-$2.log" "$HERE/forkwatch-flush-20ms.yml"; fi
      EXP_URL="http://127.0.0.1:$FW_PORT/metrics"
      EXP_RE="^forkwatch_(forks_total|exits_total)\\{(.*,)?group=\"$GROUP\"[,}]|^forkwatch_events_(lost_)?total"
      ;;
    process-exporter)
      start_process_exporter "$PE_PORT" "$OUT/process-exporter-$2.log"
      EXP_URL="http://127.0.0.1:$PE_PORT/metrics"
      EXP_RE='^namedprocess_namegroup_num_procs\{groupname="fwb"\}'
      ;;
  esac
  EXP_PID=$STARTED
}

# counted EXPORTER SCRAPES FINAL DRIVERS: storm processes the exporter counted.
#   forkwatch: forkwatch_forks_total of the storm's group (it did not exist before the storm).
#   process-exporter: it has no counter of processes; the sum over the scrapes during the storm of
#   num_procs minus the DRIVERS (the workload's own processes, alive throughout). A child lives
#   well under a millisecond and scrapes are a second apart, so no child is seen twice: this is
#   the number of distinct children it saw.
counted() {
  case $1 in
    forkwatch*) metric "$3" forkwatch_forks_total "group=\"$GROUP\"" ;;
    process-exporter)
      awk -v d="$4" '/^# scrape/ { t += (n > d ? n - d : 0); n = 0; next } { n = $2 } END { t += (n > d ? n - d : 0); print t + 0 }' "$2"
      ;;
  esac
}

# lost FINAL: ring-buffer records forkwatch dropped (the per-cgroup counters stay exact).
lost() { awk '/^forkwatch_events_lost_total/ { s += $2 } END { print s + 0 }' "$1"; }

# ---- phase 1: overhead, CPU and counts under storms ---------------------------------------------
# One chunk: a fresh cgroup, the exporter (or none) started and settled, the scrape loop, one storm
# in the cgroup, a last scrape, everything stopped. Rounds alternate the three setups, rotating
# their order, so drift in the machine's load falls on all three alike.
overhead_chunk() { # MODE EXPORTER ROUND COUNT
  local mode=$1 exp=$2 r=$3 count=$4 cg cpu0=0 cpu1=0 scr n=0 lostn=0 exits=0 sc="" f0 f1 ev0=0 ev1=0
  local tag="$mode-$exp-$r"
  GROUP="/$RUN_ID-$tag"
  cg=$(make_cgroup "$RUN_ID-$tag")
  scr="$OUT/scrapes-$tag.txt"
  : >"$scr"
  if [ "$exp" != none ]; then
    start_exporter "$exp" "$tag"
    sleep "$SETTLE_S"
    start_scraper "$EXP_URL" "$scr" "$EXP_RE"
    sc=$STARTED
    [ "$exp" = forkwatch ] && ev0=$(fw_events "$EXP_URL")
    cpu0=$(cpu_s "$EXP_PID")
  fi
  f0=$(host_forks)
  if [ "$mode" = fork-exit ]; then
    run_in_cgroup "$cg" "$W/fw-forkexit" "$count"
  else
    run_in_cgroup "$cg" "$W/fw-forkexec" "$count" "$EXEC_PROGRAM"
  fi
  f1=$(host_forks)
  if [ "$exp" != none ]; then
    cpu1=$(cpu_s "$EXP_PID")
    stop_pid "$sc"
    get_metrics "$EXP_URL" "$OUT/.final.txt"
    grep -E "$EXP_RE" "$OUT/.final.txt" >"$OUT/final-$tag.txt" || true
    n=$(counted "$exp" "$scr" "$OUT/final-$tag.txt" 1)
    if [ "$exp" = forkwatch ]; then
      ev1=$(awk '/^forkwatch_events_total/ { s += $2 } END { print s + 0 }' "$OUT/final-$tag.txt")
      lostn=$(lost "$OUT/final-$tag.txt")
      exits=$(metric "$OUT/final-$tag.txt" forkwatch_exits_total "group=\"$GROUP\"" 'outcome="success"')
    fi
    stop_pid "$EXP_PID"
  fi
  remove_cgroup "$cg"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$exp" "$r" "$(calc %.6f "$RES_ELAPSED_NS / 1e9")" \
    "$RES_TASKS" "$(calc %.2f "$cpu1 - $cpu0")" "$n" "$exits" "$lostn" "$(grep -c '^# scrape' "$scr" || true)" \
    "$(calc %.6f "$RES_CG_CPU_US / 1e6")" "$((f1 - f0))" "$((ev1 - ev0))" >>"$OUT/overhead.tsv"
  log "  $tag: ${RES_LINE%% cpu_ns=*} cgroup_cpu_us=$RES_CG_CPU_US exporter_cpu_s=$(calc %.2f "$cpu1 - $cpu0") counted=$n"
}

# paired_ratio MODE EXPORTER COLUMN TSV: median over rounds of column(exporter) / column(none).
paired_ratio() {
  awk -F'\t' -v m="$1" -v e="$2" -v c="$3" '$1 == m && $2 == "none" { b[$3] = $c } $1 == m && $2 == e { x[$3] = $c }
    END { for (r in x) if (r in b && b[r] > 0) print x[r] / b[r] }' "$4" | median
}

phase_overhead() {
  local mode r i exp count setups=(none forkwatch process-exporter) j0 tsv="$OUT/overhead.tsv"
  printf 'mode\texporter\tround\telapsed_s\tprocesses\texporter_cpu_s\tcounted\tfw_exits_success\tfw_events_lost\tscrapes\tstorm_cpu_s\thost_forks\tfw_events\n' >"$tsv"
  j0=$(host_jiffies)
  for mode in fork-exit fork-exec; do
    count=$EXIT_COUNT
    [ "$mode" = fork-exec ] && count=$EXEC_COUNT
    for r in $(seq "$ROUNDS"); do
      log "overhead: $mode round $r/$ROUNDS"
      for i in 0 1 2; do
        exp=${setups[$(((i + r - 1) % 3))]}
        overhead_chunk "$mode" "$exp" "$r" "$count"
      done
    done
  done

  local busy bg
  busy=$(host_busy "$j0")
  # Forks on the host during the storms that were not the storms' own: other people's work.
  bg=$(awk -F'\t' 'NR > 1 { f += $12 - $5; t += $4 } END { printf "%.0f", t ? f / t : 0 }' "$tsv")
  emit "### Fork storms: overhead, exporter CPU, processes counted"
  emit
  emit "Host during this phase: $busy% of $(nproc) CPUs busy (every process, the storms included); $bg forks/s by other processes during the storms."
  emit
  emit "Workloads: bench/build/fw-forkexit $EXIT_COUNT and fw-forkexec $EXEC_COUNT $EXEC_PROGRAM, each in a fresh cgroup. $ROUNDS chunks per row, alternating with the other two setups of the same workload (order rotated each round). Overhead: median over rounds of (storm with the exporter / storm with none, same round), in wall time and in the storm cgroup's CPU time (cpu.stat usage_usec: the workload and its children, user + system, which includes the kernel's tracepoint programs and little of other load on the host). Exporter CPU: its utime+stime during the storms, summed over the chunks. Counted: forkwatch, forkwatch_forks_total of the storm's cgroup group; process-exporter, storm children alive at one of its scrapes (sum over scrapes of namedprocess_namegroup_num_procs minus the driver)."
  emit
  emit "| workload | exporter | storm time, median (s) | processes/s, median | overhead, wall time | overhead, storm CPU | exporter CPU during storms (s) | exporter CPU, % of one core | exporter CPU per process (µs) | processes created | counted | counted % | scrape time, median / max (s) | scrapes: HTTP error / no answer / over 1 s, of all |"
  emit "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for mode in fork-exit fork-exec; do
    for exp in none forkwatch process-exporter; do
      local med rate ratio cratio cpu created cnt storm_s sn se st so smed smax
      med=$(awk -F'\t' -v m="$mode" -v e="$exp" '$1 == m && $2 == e { print $4 }' "$tsv" | median)
      rate=$(awk -F'\t' -v m="$mode" -v e="$exp" '$1 == m && $2 == e { print $5 / $4 }' "$tsv" | median)
      created=$(awk -F'\t' -v m="$mode" -v e="$exp" '$1 == m && $2 == e { s += $5 } END { print s }' "$tsv")
      if [ "$exp" = none ]; then
        emit "| $mode | none | $(calc %.2f "$med") | $(calc %.0f "$rate") | 1 (baseline) | 1 (baseline) | – | – | – | $created | – | – | – | – |"
        continue
      fi
      ratio=$(paired_ratio "$mode" "$exp" 4 "$tsv")
      cratio=$(paired_ratio "$mode" "$exp" 11 "$tsv")
      cpu=$(awk -F'\t' -v m="$mode" -v e="$exp" '$1 == m && $2 == e { print $6 }' "$tsv" | sum)
      storm_s=$(awk -F'\t' -v m="$mode" -v e="$exp" '$1 == m && $2 == e { print $4 }' "$tsv" | sum)
      cnt=$(awk -F'\t' -v m="$mode" -v e="$exp" '$1 == m && $2 == e { s += $7 } END { print s }' "$tsv")
      read -r sn se st so smed smax < <(scrape_stats "$OUT/scrapes-$mode-$exp-"*.txt)
      emit "| $mode | $exp | $(calc %.2f "$med") | $(calc %.0f "$rate") | $(calc %.3f "$ratio") | $(calc %.3f "$cratio") | $cpu | $(calc %.1f "100 * $cpu / $storm_s") | $(calc %.0f "1e6 * $cpu / $created") | $created | $cnt | $(calc %.2f "100 * $cnt / $created") | $(calc %.3f "$smed") / $(calc %.3f "$smax") | $se / $st / $so of $sn |"
    done
  done
  local fwlost fwexits fwexp
  fwlost=$(awk -F'\t' '$2 == "forkwatch" { s += $9 } END { print s + 0 }' "$tsv")
  fwexits=$(awk -F'\t' '$2 == "forkwatch" { s += $8 } END { print s + 0 }' "$tsv")
  fwexp=$(awk -F'\t' '$2 == "forkwatch" { s += $5 + 1 } END { print s + 0 }' "$tsv")
  emit
  emit "forkwatch over all its storm chunks: $fwlost ring-buffer records lost; forkwatch_exits_total{outcome=\"success\"} $fwexits for $fwexp exits (children + one driver per chunk)."
  emit
  emit "forkwatch handles every process on the host, not only the storm's: records it read during its storm chunks (forkwatch_events_total, every type), per second and per CPU microsecond:"
  emit
  emit "| workload | records/s read by forkwatch | host forks/s, storm included | agent CPU per record (µs) |"
  emit "|---|---|---|---|"
  for mode in fork-exit fork-exec; do
    awk -F'\t' -v m="$mode" '$1 == m && $2 == "forkwatch" { ev += $13; t += $4; f += $12; c += $6 }
      END { printf "| %s | %.0f | %.0f | %.1f |\n", m, ev / t, f / t, ev ? 1e6 * c / ev : 0 }' "$tsv" >>"$SUMMARY"
  done
  emit
}

# ---- phase 2: CPU at a steady fork rate -------------------------------------------------------
phase_steady() {
  local exp cg cpu0 cpu1 t0 t1 f0 f1 sc n j0 idle_s idle_cpu idle_forks ev0 ev1 idle_ev
  local count=$((STEADY_RATE * STEADY_S))
  printf 'exporter\tidle_s\tidle_cpu_s\tidle_host_forks\tprocesses\telapsed_s\tcpu_s\thost_forks\tcounted\tidle_fw_events\tfw_events\n' >"$OUT/steady.tsv"
  j0=$(host_jiffies)
  for exp in forkwatch forkwatch-flush20ms process-exporter; do
    log "steady: $exp, ${IDLE_S}s idle then fw-forkpar at $STEADY_RATE forks/s for ${STEADY_S}s"
    GROUP="/$RUN_ID-steady-$exp"
    cg=$(make_cgroup "$RUN_ID-steady-$exp")
    : >"$OUT/scrapes-steady-$exp.txt"
    start_exporter "$exp" "steady"
    sleep "$SETTLE_S"
    start_scraper "$EXP_URL" "$OUT/scrapes-steady-$exp.txt" "$EXP_RE"
    sc=$STARTED
    ev0=0 ev1=0
    [ "$exp" != process-exporter ] && ev0=$(fw_events "$EXP_URL")
    t0=$EPOCHREALTIME f0=$(host_forks) cpu0=$(cpu_s "$EXP_PID")
    sleep "$IDLE_S"
    cpu1=$(cpu_s "$EXP_PID") f1=$(host_forks) t1=$EPOCHREALTIME
    [ "$exp" != process-exporter ] && ev1=$(fw_events "$EXP_URL")
    idle_s=$(calc %.3f "$t1 - $t0") idle_cpu=$(calc %.2f "$cpu1 - $cpu0") idle_forks=$((f1 - f0)) idle_ev=$((ev1 - ev0))
    # Only the scrapes during the storm count for process-exporter's tally.
    mv "$OUT/scrapes-steady-$exp.txt" "$OUT/scrapes-steady-idle-$exp.txt"
    ev0=0 ev1=0
    [ "$exp" != process-exporter ] && ev0=$(fw_events "$EXP_URL")
    f0=$(host_forks) cpu0=$(cpu_s "$EXP_PID")
    run_in_cgroup "$cg" "$W/fw-forkpar" "$count" "$STEADY_LOOPS" "$STEADY_RATE"
    cpu1=$(cpu_s "$EXP_PID") f1=$(host_forks)
    [ "$exp" != process-exporter ] && ev1=$(fw_events "$EXP_URL")
    stop_pid "$sc"
    get_metrics "$EXP_URL" "$OUT/.final.txt"
    grep -E "$EXP_RE" "$OUT/.final.txt" >"$OUT/final-steady-$exp.txt" || true
    n=$(counted "$exp" "$OUT/scrapes-steady-$exp.txt" "$OUT/final-steady-$exp.txt" $((1 + STEADY_LOOPS)))
    stop_pid "$EXP_PID"
    remove_cgroup "$cg"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$exp" "$idle_s" "$idle_cpu" "$idle_forks" "$RES_TASKS" \
      "$(calc %.6f "$RES_ELAPSED_NS / 1e9")" "$(calc %.2f "$cpu1 - $cpu0")" "$((f1 - f0))" "$n" "$idle_ev" "$((ev1 - ev0))" >>"$OUT/steady.tsv"
    log "  $exp: idle ${idle_s}s cpu ${idle_cpu}s | ${RES_LINE%% cpu_ns=*} cpu_s=$(calc %.2f "$cpu1 - $cpu0") counted=$n"
  done

  emit "### Exporter CPU at a steady $STEADY_RATE forks/s"
  emit
  emit "Host during this phase: $(host_busy "$j0")% of $(nproc) CPUs busy (every process, the storms included)."
  emit
  emit "Workload: bench/build/fw-forkpar $count $STEADY_LOOPS $STEADY_RATE (fork+exit paced at $STEADY_RATE forks/s, about ${STEADY_S}s) in a fresh cgroup, after ${IDLE_S}s with no storm; scraped every second throughout. CPU: the exporter's utime+stime over the window / the window's length. Host forks/s: every process and thread created on the host in the window (/proc/stat processes), the storm's and everybody else's; forkwatch reads a record for each, and for each exec and exit (records/s: its forkwatch_events_total). The default config, then the same with bpf.flush_interval 20ms (bench/agent/forkwatch-flush-20ms.yml), then process-exporter. Target for forkwatch (default config): under 5% of one core."
  emit
  emit "| exporter | window | host forks/s | storm processes/s | records/s read by forkwatch | exporter CPU (% of one core) | agent CPU per record (µs) | processes created | counted | scrape time, median / max (s) | scrapes: HTTP error / no answer / over 1 s, of all | target met |"
  emit "|---|---|---|---|---|---|---|---|---|---|---|---|"
  local i_s i_cpu i_f procs el cpu hf cnt pct verdict sn se st so smed smax i_ev ev name rps1 rps2 per1 per2
  while IFS=$'\t' read -r exp i_s i_cpu i_f procs el cpu hf cnt i_ev ev; do
    [ "$exp" = exporter ] && continue
    name=$exp rps1="–" rps2="–" per1="–" per2="–"
    [ "$exp" = forkwatch-flush20ms ] && name="forkwatch, flush_interval 20ms"
    if [ "$exp" != process-exporter ]; then
      rps1=$(calc %.0f "$i_ev / $i_s") rps2=$(calc %.0f "$ev / $el")
      per1=$(calc %.1f "1e6 * $i_cpu / ($i_ev ? $i_ev : 1)") per2=$(calc %.1f "1e6 * $cpu / ($ev ? $ev : 1)")
    fi
    read -r sn se st so smed smax < <(scrape_stats "$OUT/scrapes-steady-idle-$exp.txt")
    emit "| $name | ${IDLE_S}s, no storm | $(calc %.0f "$i_f / $i_s") | 0 | $rps1 | $(calc %.2f "100 * $i_cpu / $i_s") | $per1 | – | – | $(calc %.3f "$smed") / $(calc %.3f "$smax") | $se / $st / $so of $sn | – |"
    pct=$(calc %.2f "100 * $cpu / $el")
    verdict="–"
    [ "$exp" = forkwatch ] && verdict=$(awk -v p="$pct" 'BEGIN { print (p < 5 ? "yes (< 5%)" : "no (>= 5%)") }')
    read -r sn se st so smed smax < <(scrape_stats "$OUT/scrapes-steady-$exp.txt")
    emit "| $name | storm, $(calc %.0f "$el") s | $(calc %.0f "$hf / $el") | $(calc %.0f "$procs / $el") | $rps2 | $pct | $per2 | $procs | $cnt | $(calc %.3f "$smed") / $(calc %.3f "$smax") | $se / $st / $so of $sn | $verdict |"
  done <"$OUT/steady.tsv"
  emit
}

# ---- phase 3: RSS over a churn of short-lived cgroups -----------------------------------------
# Two agents watch the same churn: the default config (groups evicted 5 min after they empty,
# at most 2000) and bench/agent/forkwatch-evict-30s.yml. Each is scraped every second.
phase_churn() {
  local fw1 fw2 sc1 sc2 ch t start_us next now rss1 rss2 g1 g2 h1 h2 cpu1a cpu2a j0 mk0
  log "churn: ${CHURN_S}s, $CHURN_RATE cgroups/s, RSS every ${RSS_EVERY}s"
  local re='^forkwatch_groups[ {]|^forkwatch_groups_overflow_total|^forkwatch_events_(lost_)?total|^forkwatch_cgroup_map_full_total|^nodejs_heap_size_(used|total)_bytes|^nodejs_external_memory_bytes|^process_resident_memory_bytes'
  start_forkwatch "$FW_PORT" "$OUT/forkwatch-churn-default.log"
  fw1=$STARTED
  start_forkwatch "$FW2_PORT" "$OUT/forkwatch-churn-evict30s.log" "$HERE/forkwatch-evict-30s.yml"
  fw2=$STARTED
  sleep "$SETTLE_S"
  start_scraper "http://127.0.0.1:$FW_PORT/metrics" "$OUT/scrapes-churn-default.txt" "$re"
  sc1=$STARTED
  start_scraper "http://127.0.0.1:$FW2_PORT/metrics" "$OUT/scrapes-churn-evict30s.txt" "$re"
  sc2=$STARTED
  cpu1a=$(cpu_s "$fw1")
  cpu2a=$(cpu_s "$fw2")
  j0=$(host_jiffies)
  # Every cgroup made on the host, ours and everybody else's, as the default agent counted them.
  get_metrics "http://127.0.0.1:$FW_PORT/metrics" "$OUT/.final.txt"
  grep -E '^forkwatch_events_total' "$OUT/.final.txt" >"$OUT/churn-start.txt" || true
  mk0=$(metric "$OUT/churn-start.txt" forkwatch_events_total 'type="cgroup_mkdir"')
  echo 0 >"$OUT/churn-count"
  start_us=${EPOCHREALTIME/./}
  churn_loop $((start_us + CHURN_S * 1000000)) &
  ch=$!
  started "$ch"
  printf 't_s\trss_kib_default\trss_kib_evict30s\tgroups_default\tgroups_evict30s\tcgroups_churned\theap_used_mib_default\theap_used_mib_evict30s\theap_total_mib_default\theap_total_mib_evict30s\texternal_mib_default\texternal_mib_evict30s\n' >"$OUT/rss.tsv"
  next=$start_us
  for ((t = 0; t <= CHURN_S; t += RSS_EVERY)); do
    now=${EPOCHREALTIME/./}
    ((next > now)) && sleep "$(printf '%d.%06d' $(((next - now) / 1000000)) $(((next - now) % 1000000)))"
    kill -0 "$fw1" 2>/dev/null || die "forkwatch (default config) died during the churn; see $OUT/forkwatch-churn-default.log"
    kill -0 "$fw2" 2>/dev/null || die "forkwatch (evict 30s) died during the churn; see $OUT/forkwatch-churn-evict30s.log"
    rss1=$(rss_kib "$fw1")
    rss2=$(rss_kib "$fw2")
    g1=$(metric "$OUT/scrapes-churn-default.txt" forkwatch_groups)
    g2=$(metric "$OUT/scrapes-churn-evict30s.txt" forkwatch_groups)
    h1=$(calc %.1f "$(metric "$OUT/scrapes-churn-default.txt" nodejs_heap_size_used_bytes) / 1048576")
    h2=$(calc %.1f "$(metric "$OUT/scrapes-churn-evict30s.txt" nodejs_heap_size_used_bytes) / 1048576")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$rss1" "$rss2" "$g1" "$g2" "$(cat "$OUT/churn-count")" "$h1" "$h2" \
      "$(calc %.1f "$(metric "$OUT/scrapes-churn-default.txt" nodejs_heap_size_total_bytes) / 1048576")" \
      "$(calc %.1f "$(metric "$OUT/scrapes-churn-evict30s.txt" nodejs_heap_size_total_bytes) / 1048576")" \
      "$(calc %.1f "$(metric "$OUT/scrapes-churn-default.txt" nodejs_external_memory_bytes) / 1048576")" \
      "$(calc %.1f "$(metric "$OUT/scrapes-churn-evict30s.txt" nodejs_external_memory_bytes) / 1048576")" >>"$OUT/rss.tsv"
    log "  t=${t}s rss default=${rss1}KiB evict30s=${rss2}KiB heap ${h1}/${h2}MiB groups ${g1}/${g2} cgroups churned $(cat "$OUT/churn-count")"
    next=$((next + RSS_EVERY * 1000000))
  done
  wait "$ch" || true
  forget_pid "$ch"
  local cpu1b cpu2b churned busy
  cpu1b=$(cpu_s "$fw1")
  cpu2b=$(cpu_s "$fw2")
  busy=$(host_busy "$j0")
  churned=$(cat "$OUT/churn-count")
  stop_pid "$sc1"
  stop_pid "$sc2"
  get_metrics "http://127.0.0.1:$FW_PORT/metrics" "$OUT/.final.txt"
  grep -E "$re" "$OUT/.final.txt" >"$OUT/final-churn-default.txt" || true
  get_metrics "http://127.0.0.1:$FW2_PORT/metrics" "$OUT/.final.txt"
  grep -E "$re" "$OUT/.final.txt" >"$OUT/final-churn-evict30s.txt" || true
  stop_pid "$fw1"
  stop_pid "$fw2"

  emit "### Agent memory over a ${CHURN_S}s churn of short-lived cgroups"
  emit
  emit "Host during this phase: $busy% of $(nproc) CPUs busy (every process, the churn included)."
  emit
  emit "$churned cgroups, each made, given one bench/build/fw-forkexit $CHURN_PROCS, and removed ($CHURN_RATE a second); cgroups made on the whole host meanwhile, as the default agent counted them (forkwatch_events_total{type=\"cgroup_mkdir\"}): $(($(metric "$OUT/final-churn-default.txt" forkwatch_events_total 'type="cgroup_mkdir"') - mk0)). Both agents watched the same churn, scraped every second. RSS: VmRSS every ${RSS_EVERY}s. Slope: least squares, KiB per minute, over the whole run and over its second half; beside it the second half's mean and standard deviation, to set the slope against the garbage collector's swings. V8 heap used after GC: the lowest nodejs_heap_size_used_bytes the agent reported in the run's first and last whole minute (what survives garbage collection; a JavaScript leak raises it). V8 heap total: nodejs_heap_size_total_bytes at the first and last sample."
  emit
  emit "| config | RSS first (MiB) | RSS last (MiB) | RSS max (MiB) | slope, whole run (KiB/min) | slope, second half (KiB/min) | RSS, second half: mean ± sd (MiB) | V8 heap used after GC, first / last minute (MiB) | V8 heap total, first / last (MiB) | groups at end | groups overflowed | agent CPU (% of one core) | scrape time, median / max (s) | scrapes: HTTP error / no answer / over 1 s, of all |"
  emit "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  local col name cpu final half=$((CHURN_S / 2)) first last max s_all s_half hmean hsd scr sn se st so smed smax heap htot
  for col in 2 3; do
    if [ $col = 2 ]; then
      name="default (evict_after 5m, max_groups 2000)" cpu=$(calc %.2f "$cpu1b - $cpu1a") final="$OUT/final-churn-default.txt" scr="$OUT/scrapes-churn-default.txt"
    else
      name="evict_after 30s" cpu=$(calc %.2f "$cpu2b - $cpu2a") final="$OUT/final-churn-evict30s.txt" scr="$OUT/scrapes-churn-evict30s.txt"
    fi
    first=$(awk -F'\t' -v c=$col 'NR == 2 { print $c / 1024 }' "$OUT/rss.tsv")
    last=$(awk -F'\t' -v c=$col 'NR > 1 { v = $c } END { print v / 1024 }' "$OUT/rss.tsv")
    max=$(awk -F'\t' -v c=$col 'NR > 1 && $c > m { m = $c } END { print m / 1024 }' "$OUT/rss.tsv")
    s_all=$(awk -F'\t' -v c=$col 'NR > 1 { print $1 / 60, $c }' "$OUT/rss.tsv" | slope)
    s_half=$(awk -F'\t' -v c=$col -v h=$half 'NR > 1 && $1 >= h { print $1 / 60, $c }' "$OUT/rss.tsv" | slope)
    read -r hmean hsd < <(awk -F'\t' -v c=$col -v h=$half 'NR > 1 && $1 >= h { print $c / 1024 }' "$OUT/rss.tsv" | mean_sd)
    read -r sn se st so smed smax < <(scrape_stats "$scr")
    heap=$(floors "$scr" nodejs_heap_size_used_bytes $((CHURN_S >= 120 ? CHURN_S / 60 : 1)) | awk 'NR == 1 { f = $2 } { l = $2 } END { print f " / " l }')
    htot=$(awk -F'\t' -v c=$((col + 7)) 'NR == 2 { f = $c } NR > 1 { l = $c } END { print f " / " l }' "$OUT/rss.tsv")
    emit "| $name | $(calc %.1f "$first") | $(calc %.1f "$last") | $(calc %.1f "$max") | $(calc %.0f "$s_all") | $(calc %.0f "$s_half") | $hmean ± $hsd | $heap | $htot | $(metric "$final" forkwatch_groups) | $(metric "$final" forkwatch_groups_overflow_total) | $(calc %.1f "100 * $cpu / $CHURN_S") | $(calc %.3f "$smed") / $(calc %.3f "$smax") | $se / $st / $so of $sn |"
  done
  emit
  emit "Scrape time against groups tracked (both agents' answered scrapes during the churn):"
  emit
  emit "| groups tracked | scrapes | scrape time, median (s) | scrape time, max (s) | response, median (MiB) |"
  emit "|---|---|---|---|---|"
  local lo hi rows
  for lo in 0 250 500 1000 1500 1900; do
    case $lo in 0) hi=250 ;; 250) hi=500 ;; 500) hi=1000 ;; 1000) hi=1500 ;; 1500) hi=1900 ;; 1900) hi=999999 ;; esac
    rows=$( { by_groups "$OUT/scrapes-churn-default.txt"; by_groups "$OUT/scrapes-churn-evict30s.txt"; } | awk -v lo=$lo -v hi=$hi '$1 >= lo && $1 < hi')
    [ -n "$rows" ] || continue
    emit "| $lo–$((hi == 999999 ? 2001 : hi - 1)) | $(wc -l <<<"$rows") | $(calc %.3f "$(awk '{ print $2 }' <<<"$rows" | median)") | $(calc %.3f "$(awk '{ print $2 }' <<<"$rows" | sort -g | tail -1)") | $(calc %.2f "$(awk '{ print $3 }' <<<"$rows" | median) / 1048576") |"
  done
  emit
  emit "RSS samples: rss.tsv in the results directory."
  emit
}

want overhead && phase_overhead
want steady && phase_steady
want churn && phase_churn

rm -f "$OUT/.final.txt" "$OUT/.events.txt"
emit "Raw data: ${OUT#"$ROOT"/}/"
log "done: $OUT"
cat "$SUMMARY"
