#!/usr/bin/env bash
# Runs the whole event-pipeline bench and prints a Markdown report (also kept in
# bench/results/pipeline-<time>/report.md, with every raw number as JSON beside it).
#
#   sudo bench/run.sh                 # everything, at most 15 minutes
#   sudo bench/run.sh bpf-cost peers  # only some steps
#
# Steps: bpf-cost (kernel BPF statistics), overhead (A/B chunks), peers (whole runs against
# bpftrace, forkstat, execsnoop+exitsnoop), lossless (paced rates). Each step has a time limit, and
# every process a step starts is stopped when it ends, fails, or is interrupted.
# Environment: BENCH_OUT (results dir), BENCH_SCALE (multiplies workload sizes, e.g. 0.1 for a
# quick check), BENCH_ROUNDS, BENCH_CHUNKS, BENCH_STEP_S, BENCH_TOOLS, FW_ROOT (forkwatch checkout).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [[ $EUID -ne 0 ]]; then
	echo "bench/run.sh: needs root (BPF programs, tracefs, kernel.bpf_stats_enabled); run it with sudo" >&2
	exit 1
fi
for tool in node gcc bpftool; do
	command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool not found" >&2; exit 1; }
done

export BENCH_OUT=${BENCH_OUT:-$here/results/pipeline-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$BENCH_OUT/raw"

# Limits per step, in seconds: the sum bounds the whole run. Steps that can shorten themselves
# (fewer A/B pairs, fewer rounds) are told a deadline a little before their limit.
declare -A limit=([bpf-cost]=140 [overhead]=270 [peers]=320 [lossless]=170)
declare -A deadline=([overhead]=240 [peers]=260)
steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(bpf-cost overhead peers lossless)
for s in "${steps[@]}"; do
	[[ -n ${limit[$s]:-} ]] || { echo "bench/run.sh: unknown step '$s'; expected some of: ${!limit[*]}" >&2; exit 2; }
done

stats_before=$(cat /proc/sys/kernel/bpf_stats_enabled)
child=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $child ]] && kill -0 "$child" 2>/dev/null; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	echo "$stats_before" >/proc/sys/kernel/bpf_stats_enabled 2>/dev/null || true
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ ! -d /sys/kernel/tracing/events ]]; then
	mount -t tracefs nodev /sys/kernel/tracing
fi

"$here/build.sh"

echo "bench: results in $BENCH_OUT" >&2
failed=()
for s in "${steps[@]}"; do
	echo "bench: step $s (limit ${limit[$s]} s)" >&2
	BENCH_DEADLINE_S=${deadline[$s]:-} timeout --signal=TERM --kill-after=20 "${limit[$s]}" \
		node "$here/$s.mjs" >"$BENCH_OUT/$s.md" 2> >(tee -a "$BENCH_OUT/log" >&2) &
	child=$!
	if ! wait "$child"; then
		failed+=("$s")
		echo "bench: step $s failed or ran out of time; see $BENCH_OUT/log" >&2
		printf '\n(step %s did not finish: see log)\n' "$s" >>"$BENCH_OUT/$s.md"
	fi
	child=
done

node "$here/report.mjs" "$BENCH_OUT" | tee "$BENCH_OUT/report.md"
[[ ${#failed[@]} -eq 0 ]] || { echo "bench: failed steps: ${failed[*]}" >&2; exit 1; }
