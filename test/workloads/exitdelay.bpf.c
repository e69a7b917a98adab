// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only: opens the thread-exit race window wide. do_exit() drops signal->live some time before
 * the sched_process_exit tracepoint; on a busy host (or across exit_mm(), before v6.16) the other
 * threads of a dying process decrement it meanwhile. Attached to that tracepoint before the probe
 * under test, this holds every thread of a process named exitrace that did not make the last
 * decrement until the last one has (or WAIT_NS has passed), so the handlers attached after it
 * all run with signal->live already 0. Needs v6.16+ (group_dead). Loaded by exitdelay.c.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define WAIT_NS 2000000

struct wait {
	__u64 until;
	struct signal_struct *sig;
};

static long wait_dead(__u64 index, struct wait *w)
{
	int live = 1;
	bpf_probe_read_kernel(&live, sizeof(live), &w->sig->live.counter);
	return live == 0 || bpf_ktime_get_ns() >= w->until;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(delay_exit, struct task_struct *p, bool group_dead)
{
	static const char want[] = "exitrace";
	if (group_dead)
		return 0;
	for (int i = 0; i < sizeof(want); i++)
		if (p->comm[i] != want[i])
			return 0;
	struct wait w = { bpf_ktime_get_ns() + WAIT_NS, p->signal };
	bpf_loop(1 << 22, wait_dead, &w, 0);
	return 0;
}
