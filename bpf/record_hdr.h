/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A record's header (struct fw_event_hdr in proc.h), filled from the task it is about: one home for
 * proc.bpf.c's handlers and for bench/ring-layout/probe.bpf.c, which measures what a record costs
 * with exactly this fill.
 */
#ifndef FORKWATCH_RECORD_HDR_H
#define FORKWATCH_RECORD_HDR_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "core_shims.h"
#include "proc.h"

/* proc.bpf.c's knockouts FW_KO_HEADER and FW_KO_NSPID (bench/bpf-attrib.mjs; 0 in the agent's
 * build), set by whoever includes this. */
#if !defined(FW_KO_HEADER) || !defined(FW_KO_NSPID)
#error "define FW_KO_HEADER and FW_KO_NSPID before including record_hdr.h"
#endif

/* The tgid as seen inside the process's own pid namespace. */
static __always_inline __u32 fw_task_ns_tgid(struct task_struct *t)
{
	struct pid *pid = t->group_leader->thread_pid;
	unsigned int level = pid->level;
	int nr = 0;

	/* numbers[] is indexed by a value the verifier cannot bound for a direct load. */
	bpf_core_read(&nr, sizeof(nr), &pid->numbers[level & 31].nr);
	return nr;
}

/* Fields are read with direct loads through the BTF-typed pointer tp_btf hands the handler. */
static __always_inline void fw_fill_hdr(struct fw_event_hdr *h, __u16 type, __u16 size,
					struct task_struct *t, __u64 cgid, __u64 now)
{
	h->type = type;
	h->size = size;
	h->flags = 0;
	h->ts_ns = now;
	h->cgroup_id = cgid;
	if (FW_KO_HEADER)
		return;
	h->start_ns = fw_task_start_ns(t->group_leader);
	h->pid = t->tgid;
	h->tid = t->pid;
	h->ppid = t->real_parent->tgid;
	h->uid = t->real_cred->uid.val;
	h->ns_pid = FW_KO_NSPID ? 0 : fw_task_ns_tgid(t);
	h->cpu = bpf_get_smp_processor_id();
	/* Two 8-byte loads from the BTF pointer rather than a probe-read call. */
	__u64 *dst = (__u64 *)h->comm;
	dst[0] = *(__u64 *)&t->comm[0];
	dst[1] = *(__u64 *)&t->comm[8];
}

#endif /* FORKWATCH_RECORD_HDR_H */
