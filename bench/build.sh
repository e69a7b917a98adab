#!/usr/bin/env bash
# Installs the reference tools the benchmarks run beside forkwatch (bpftrace; forkstat and
# bcc's execsnoop/exitsnoop for peers.mjs) when they are missing, then builds the workloads in
# bench/workloads/ into bench/build/ (gitignored). Rebuilds only what changed; CC and CFLAGS can
# be overridden.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/../scripts/apt-ensure.sh" bpftrace forkstat bpfcc-tools >&2
out="$here/build"
CC=${CC:-gcc}
CFLAGS=${CFLAGS:--O2 -Wall -Wextra -Werror}
mkdir -p "$out"
for src in "$here"/workloads/*.c; do
	name=fw-$(basename "$src" .c)
	bin="$out/$name"
	if [[ ! -x $bin || $src -nt $bin || $here/workloads/common.h -nt $bin ]]; then
		"$CC" $CFLAGS -pthread -o "$bin.tmp" "$src"
		mv "$bin.tmp" "$bin"
		echo "built $name" >&2
	fi
done
