#!/usr/bin/env bash
# Regenerates docs/images/forkwatch-*.png: starts the built agent and Debian's Prometheus (with
# deploy/prometheus/*.yml loaded) on loopback ports, drives a few minutes of demo workload in two
# cgroups and three supervised programs, then renders every dashboard from that Prometheus with
# dashboards/render.mjs. Everything it starts is stopped and removed on exit.
#
#   sudo dashboards/render-demo.sh            # DEMO_SECONDS=240 by default
#
# Needs root (the agent loads BPF programs), a build (`sudo make`), prometheus and chromium.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEMO_SECONDS="${DEMO_SECONDS:-240}"
SCRAPE=5

for tool in prometheus chromium node; do
  command -v "$tool" >/dev/null || { echo "render-demo: $tool not found (apt-get install prometheus chromium)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "render-demo: run as root (the agent loads BPF programs)" >&2; exit 1; }
CG="$(findmnt -n -t cgroup2 -o TARGET | head -1)"
[ -n "$CG" ] || { echo "render-demo: no cgroup v2 mount" >&2; exit 1; }

WORK="$(mktemp -d /tmp/forkwatch-demo.XXXXXX)"
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
AGENT_PORT="$(free_port)"
PROM_PORT="$(free_port)"
WEB="$CG/fw-demo-web"
BATCH="$CG/fw-demo-batch"
PIDS=()

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for g in "$WEB" "$BATCH"; do
    if [ -d "$g" ]; then
      for _ in 1 2 3 4 5; do
        pids=$(cat "$g/cgroup.procs" 2>/dev/null)
        [ -z "$pids" ] && break
        kill -KILL $pids 2>/dev/null
        sleep 0.2
      done
      rmdir "$g"
    fi
  done
  [ -n "${PROM_PID:-}" ] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
  [ -n "${AGENT_PID:-}" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WEB" "$BATCH"

cat >"$WORK/forkwatch.yaml" <<EOF
listen: "127.0.0.1:$AGENT_PORT"
node_name: demo-host
groups:
  - name: web
    match: { cgroup: "/fw-demo-web" }
    resources:
      tasks: { barrier: 12, limit: 16 }
  - name: batch
    match: { cgroup: "/fw-demo-batch" }
  # Whatever else runs on the host (other tests, system services) in one group, so the demo's
  # groups and the supervised programs' own groups are what the charts show.
  - name: rest-of-host
    match: { cgroup_regex: '^/(?!forkwatch\\.programs/)' }
programs:
  - name: relay
    command: [/bin/sleep, infinity]
    restart: always
  - name: flaky
    command: [/bin/sh, -c, "sleep \$((4 + \$\$ % 9)); exit 1"]
    restart: always
    backoff: { initial: 1s, factor: 2, max: 8s }
    start_limit: { burst: 0 }
  - name: broken
    command: [/bin/false]
    backoff: { initial: 200ms }
    start_limit: { burst: 3, interval: 10s }
    retry_failed_after: 60s
EOF
node "$ROOT/bin/forkwatch.js" run --config "$WORK/forkwatch.yaml" --bpf-stats 2>"$WORK/agent.log" &
AGENT_PID=$!

cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: ${SCRAPE}s
  evaluation_interval: ${SCRAPE}s
rule_files:
  - $ROOT/deploy/prometheus/forkwatch.rules.yml
  - $ROOT/deploy/prometheus/forkwatch.alerts.yml
scrape_configs:
  - job_name: forkwatch
    static_configs:
      - targets: ["127.0.0.1:$AGENT_PORT"]
EOF
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" --web.listen-address="127.0.0.1:$PROM_PORT" 2>"$WORK/prometheus.log" &
PROM_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null && curl -sf "http://127.0.0.1:$AGENT_PORT/healthz" >/dev/null && break; sleep 0.2; done
if ! curl -sf "http://127.0.0.1:$AGENT_PORT/healthz" >/dev/null; then
  echo "render-demo: the agent did not start:" >&2
  cat "$WORK/agent.log" >&2
  exit 1
fi
START=$(date +%s)
END=$((START + DEMO_SECONDS))
echo "render-demo: agent on :$AGENT_PORT, prometheus on :$PROM_PORT, workload for ${DEMO_SECONDS}s"

# web: a steady pool of short-lived workers and requests; every 50s a surge that crosses the
# tasks barrier (12) and limit (16).
(
  set +e
  echo $BASHPID >"$WEB/cgroup.procs"
  n=0
  while [ "$(date +%s)" -lt "$END" ]; do
    for _ in 1 2 3; do sleep "0.$((RANDOM % 9 + 1))" & done
    for _ in $(seq $((5 + RANDOM % 10))); do ( exit 0 ); done
    [ $((RANDOM % 4)) = 0 ] && ( exit 1 )
    for _ in 1 2 3 4; do /bin/true; done
    n=$((n + 1))
    if [ $((n % 50)) = 25 ]; then for _ in $(seq 18); do sleep 4 & done; fi
    sleep 1
  done
  wait
) &
PIDS+=($!)

# batch: a job every 15s, each in the emptied cgroup (one release per job): a burst of execs,
# failures and kills, and a few seconds of CPU.
(
  set +e
  while [ "$(date +%s)" -lt "$END" ]; do
    sh -c "echo \$\$ > $BATCH/cgroup.procs && exec bash -c '
      for ((i = 0; i < 300; i++)); do /bin/true; done
      for ((i = 0; i < 30; i++)); do ( exit 2 ); done
      for ((i = 0; i < 8; i++)); do ( kill -KILL \$BASHPID ); done
      end=\$((SECONDS + 2 + RANDOM % 4)); while (( SECONDS < end )); do :; done
      for ((i = 0; i < 20; i++)); do sleep 0.\$((RANDOM % 90 + 10)) & done; wait' 2>/dev/null"
    sleep $((10 + RANDOM % 8))
  done
) &
PIDS+=($!)

wait "${PIDS[@]}"
PIDS=()
sleep $((2 * SCRAPE))
node "$ROOT/dashboards/render.mjs" --prometheus "http://127.0.0.1:$PROM_PORT" --start "$START" --end "$(date +%s)" \
  --scrape-interval "$SCRAPE" --var forkwatch-group.group=web --out "$ROOT/docs/images"
