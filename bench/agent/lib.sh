# Helpers for bench/agent/run.sh: start and stop the two exporters, scrape them once a second,
# read CPU and RSS from /proc, make and remove cgroups, summarise numbers. Sourced, not run.
#
# Everything started here is recorded for bench_cleanup (bench/lib/common.sh), the EXIT trap, so
# it is stopped and removed whatever way the run ends. Should run.sh be killed outright (SIGKILL: no trap runs), the
# exporters die with it (setpriv --pdeathsig) and the loops notice it is gone.

# shellcheck source=bench/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
CLK_TCK=$(getconf CLK_TCK)

# cpu_s PID: user+system CPU seconds of the process so far (all its threads, not its children).
cpu_s() {
  awk -v t="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / t }' "/proc/$1/stat"
}

# host_jiffies: "busy total" CPU jiffies of the whole host so far (busy: all but idle and iowait).
host_jiffies() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }

# host_busy "BUSY0 TOTAL0": percent of all CPUs busy since that host_jiffies reading.
host_busy() {
  local b0=${1% *} t0=${1#* } b1 t1
  read -r b1 t1 < <(host_jiffies)
  awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" 'BEGIN { printf "%.0f\n", t ? 100 * b / t : 0 }'
}



# wait_http URL [TRIES]: until the URL answers (0.1 s apart).
wait_http() {
  local i
  for i in $(seq "${2:-100}"); do
    curl -sf -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  return 1
}

# fw_config PORT [TEMPLATE]: a config file for the agent on PORT: TEMPLATE (default: empty, i.e.
# the embedded default) plus an API socket of its own, so that two agents, or someone else's,
# never contend for /run/forkwatch/api.sock. Prints its path.
fw_config() {
  local f="$FW_HOME/config-$1.yml"
  { [ -n "${2:-}" ] && cat "$2"; printf 'api:\n  socket: "%s"\n' "$FW_HOME/api-$1.sock"; } >"$f"
  echo "$f"
}

# start_forkwatch PORT LOG [TEMPLATE]: the agent, as its README runs it, from the copy of the
# build (FW_HOME); sets STARTED (its pid).
start_forkwatch() {
  local port=$1 logf=$2 cfg
  cfg=$(fw_config "$port" "${3:-}")
  setpriv --pdeathsig KILL node "$FW_HOME/bin/forkwatch.js" run --listen "127.0.0.1:$port" --config "$cfg" >"$logf" 2>&1 &
  STARTED=$!
  started "$STARTED"
  wait_http "http://127.0.0.1:$port/metrics" || { cat "$logf" >&2; die "forkwatch did not serve on :$port"; }
}

# start_process_exporter PORT LOG: prometheus-process-exporter with bench/agent/process-exporter.yml.
start_process_exporter() {
  local port=$1 logf=$2
  setpriv --pdeathsig KILL prometheus-process-exporter -config.path "$HERE/process-exporter.yml" \
    -web.listen-address "127.0.0.1:$port" >"$logf" 2>&1 &
  STARTED=$!
  started "$STARTED"
  wait_http "http://127.0.0.1:$port/metrics" || { cat "$logf" >&2; die "process-exporter did not serve on :$port"; }
}

# scrape_loop URL OUT REGEX: every second on an absolute schedule (what a Prometheus with
# scrape_interval 1s does), GET the URL and append the lines matching REGEX to OUT, each scrape
# headed by "# scrape <unix time> <HTTP status> <seconds taken> <bytes>" (status 000: no answer
# within SCRAPE_TIMEOUT). A scrape that takes longer than the interval delays the next one: they never
# overlap. Run it in the background; stop it with stop_pid.
scrape_loop() {
  local url=$1 out=$2 re=$3 next now start res body="$2.body"
  # On SIGTERM, bash runs this after the curl or sleep in progress ends: no orphan is left behind.
  trap 'rm -f "$body"; exit 0' TERM
  next=${EPOCHREALTIME/./}
  # $$ is run.sh: if it was killed outright (no trap ran), stop too.
  while kill -0 $$ 2>/dev/null; do
    start=$EPOCHREALTIME
    res=$(curl -s --max-time "${SCRAPE_TIMEOUT:-5}" -o "$body" -w '%{http_code} %{time_total} %{size_download}' "$url" || true)
    { echo "# scrape $start ${res:-000 - 0}"; grep -E "$re" "$body" 2>/dev/null || true; } >>"$out"
    next=$((next + 1000000))
    now=${EPOCHREALTIME/./}
    ((next > now)) && sleep "$(printf '%d.%06d' $(((next - now) / 1000000)) $(((next - now) % 1000000)))"
  done
}

# scrape_stats FILE...: "<scrapes> <HTTP errors> <no answer> <over 1 s> <median s> <max s>" over
# the scrape loops' files. No answer: nothing within SCRAPE_TIMEOUT. Over 1 s: answered, but
# later than a 1 s scrape_interval allows (Prometheus requires scrape_timeout <= scrape_interval,
# so it would have counted the scrape as failed). Median and max over answered scrapes.
scrape_stats() {
  local counts times
  counts=$(awk '$1 == "#" && $2 == "scrape" { n++; if ($4 == "000") t++; else if ($4 != "200") e++; else if ($5 > 1) o++ }
    END { printf "%d %d %d %d", n, e, t, o }' "$@")
  times=$(awk '$1 == "#" && $2 == "scrape" && $4 == "200" { print $5 }' "$@" | sort -g |
    awk '{ a[NR] = $1 } END { printf "%s %s", NR ? a[int((NR + 1) / 2)] : "nan", NR ? a[NR] : "nan" }')
  echo "$counts $times"
}

# start_scraper URL OUT REGEX: scrape_loop in the background; sets STARTED.
start_scraper() {
  : >>"$2" # exists from now on, even before the first scrape has answered
  scrape_loop "$@" &
  STARTED=$!
  started "$STARTED"
}

# metric FILE NAME [LABEL="VALUE" ...]: the value of the last series in FILE with that name and
# at least those labels (others, such as node, may be there too); 0 if there is none.
metric() {
  local f=$1 name=$2
  shift 2
  awk -v n="$name" -v want="$*" '
    {
      i = index($1, "{")
      if ((i ? substr($1, 1, i - 1) : $1) != n) next
      labels = i ? "," substr($1, i + 1, length($1) - i - 1) "," : ","
      k = split(want, w, " ")
      for (j = 1; j <= k; j++) if (index(labels, "," w[j] ",") == 0) next
      v = $2
    }
    END { print (v == "" ? 0 : v) }' "$f"
}

# ---- cgroups --------------------------------------------------------------------------------

# make_cgroup NAME: a cgroup v2 directory under the unified mount; prints its path.
make_cgroup() {
  local dir="$CG_ROOT/$1"
  mkdir "$dir" || die "mkdir $dir"
  MADE_CGROUPS+=("$dir")
  echo "$dir"
}


# run_in_cgroup DIR WORKLOAD ARGS...: runs one of bench/workloads' programs inside the cgroup DIR
# (a shell moves itself there and execs it, so only the workload's own processes are born there).
# Sets RES_LINE (its result line), RES_TASKS (tasks it created), RES_ELAPSED_NS (its timed part)
# and RES_CG_CPU_US (the cgroup's cpu.stat usage_usec: the workload and all its children).
run_in_cgroup() {
  local dir=$1
  shift
  RES_LINE=$(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$dir" "$@") || die "$* failed in $dir: $RES_LINE"
  RES_TASKS=$(sed -n 's/.* tasks=\([0-9]*\).*/\1/p' <<<"$RES_LINE")
  RES_ELAPSED_NS=$(sed -n 's/.* elapsed_ns=\([0-9]*\).*/\1/p' <<<"$RES_LINE")
  [ -n "$RES_TASKS" ] && [ -n "$RES_ELAPSED_NS" ] || die "$*: no result line (got \"$RES_LINE\")"
  RES_CG_CPU_US=$(awk '$1 == "usage_usec" { print $2 }' "$dir/cpu.stat")
}


# ---- numbers --------------------------------------------------------------------------------

# median: of the numbers on stdin, one a line.
median() {
  sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# sum: of the numbers on stdin.
sum() { awk '{ s += $1 } END { printf "%.2f\n", s }'; }

# get_metrics URL FILE: one GET outside the scrape loop (the reading a number is taken from),
# tried until it answers 200, up to 100 times 0.2 s apart: forkwatch's /metrics can answer 500 for
# many scrapes in a row (see docs/performance.md); each failed try is logged. Writes the body to
# FILE.
get_metrics() {
  local i code
  for i in $(seq 100); do
    code=$(curl -s --max-time "${SCRAPE_TIMEOUT:-5}" -o "$2" -w '%{http_code}' "$1" || true)
    [ "$code" = 200 ] && return 0
    log "GET $1 answered ${code:-nothing} (try $i of 100): $(head -c 200 "$2" 2>/dev/null | tr '\n' ' ')"
    sleep 0.2
  done
  die "GET $1 failed 100 times"
}

# fw_events URL: records forkwatch has read so far, all types (forkwatch_events_total summed).
fw_events() {
  get_metrics "$1" "$OUT/.events.txt"
  awk '/^forkwatch_events_total/ { s += $2 } END { print s + 0 }' "$OUT/.events.txt"
}

# by_groups FILE: per scrape of a forkwatch scrape file, "<groups tracked> <seconds> <bytes>"
# (answered scrapes only; groups from the forkwatch_groups line of the same scrape).
by_groups() {
  awk '$1 == "#" && $2 == "scrape" { if (ok && g != "") print g, t, b; ok = ($4 == "200"); t = $5; b = $6; g = ""; next }
       { i = index($1, "{"); if ((i ? substr($1, 1, i - 1) : $1) == "forkwatch_groups") g = $2 }
       END { if (ok && g != "") print g, t, b }' "$1"
}

# floors FILE NAME MINUTES: the lowest value of metric NAME in each of the first MINUTES whole
# minutes of a scrape file, one "<minute> <MiB>" line per minute (the floor of a garbage-collected
# heap: what survives GC).
floors() {
  awk -v n="$2" -v mm="$3" '$1 == "#" && $2 == "scrape" { t = $3; if (t0 == "") t0 = t; next }
    { i = index($1, "{"); if ((i ? substr($1, 1, i - 1) : $1) != n) next
      m = int((t - t0) / 60); if (m >= mm) next
      if (!(m in lo) || $2 < lo[m]) lo[m] = $2; if (m > last) last = m }
    END { for (m = 0; m <= last; m++) if (m in lo) printf "%d %.1f\n", m, lo[m] / 1048576 }' "$1"
}

# mean_sd: "<mean> <standard deviation>" of the numbers on stdin.
mean_sd() { awk '{ n++; s += $1; q += $1 * $1 } END { m = n ? s / n : 0; v = n > 1 ? (q - n * m * m) / (n - 1) : 0; printf "%.1f %.1f\n", m, (v > 0 ? sqrt(v) : 0) }'; }

# slope: least-squares slope of column 2 against column 1 on stdin ("x y" lines).
slope() {
  awk '{ n++; sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2 }
       END { d = n * sxx - sx * sx; print (n < 2 || d == 0) ? "nan" : (n * sxy - sx * sy) / d }'
}

# churn_loop DEADLINE_US: until then (microseconds since the epoch), CHURN_RATE cgroups a second
# are made under CG_ROOT (named $RUN_ID-churn-N), given one `$W/fw-forkexit $CHURN_PROCS`, and
# removed; the number done so far is kept in $OUT/churn-count. Also used by bench/agent-cost.mjs.
churn_loop() {
  local i=0 dir next now
  trap 'exit 0' TERM
  next=${EPOCHREALTIME/./}
  while ((${EPOCHREALTIME/./} < $1)) && kill -0 $$ 2>/dev/null; do
    dir="$CG_ROOT/$RUN_ID-churn-$i"
    mkdir "$dir"
    sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$dir" "$W/fw-forkexit" "$CHURN_PROCS" >/dev/null
    rmdir "$dir"
    i=$((i + 1))
    echo "$i" >"$OUT/churn-count.tmp" && mv "$OUT/churn-count.tmp" "$OUT/churn-count"
    next=$((next + 1000000 / CHURN_RATE))
    now=${EPOCHREALTIME/./}
    ((next > now)) && sleep "$(printf '%d.%06d' $(((next - now) / 1000000)) $(((next - now) % 1000000)))"
  done
}
