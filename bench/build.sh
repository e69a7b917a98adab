#!/usr/bin/env bash
# Builds the workloads in bench/workloads/ into bench/build/ (gitignored). Rebuilds only what
# changed; CC and CFLAGS can be overridden.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
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
