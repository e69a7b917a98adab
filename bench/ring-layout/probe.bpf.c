// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* bench/ring-layout.mjs's probe: what a fork or exit record costs its handler on one ring shared
 * by every CPU (the agent's layout) against a ring per CPU, with the agent's record layout and
 * header fill (bpf/record_hdr.h), and with or without the record's clock read. Nothing
 * else: no counter row, no interest test, no wake-up logic (records are submitted without a wake-up;
 * the reader drains every 100 ms, as tail does under load).
 *
 *   RING_KIND    0: one BPF ring buffer (`shared`); 1: the BPF ring buffer of the running CPU
 *                (`rings`, filled by probe.c); 2: written in place into the running CPU's staging
 *                area (a per-CPU array) at its own head: no lock, no atomic, no shared line. Nothing
 *                reads the staging areas, so this is the floor of such a design: a reader would add
 *                its cache traffic, and ordering the CPUs' records would be the reader's work.
 *   RECORD_CLOCK 1: the header's time from bpf_ktime_get_boot_ns(); 0: no clock read */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "proc.h"
#include "core_shims.h"

#define FW_KO_HEADER 0 /* the agent's whole header */
#define FW_KO_NSPID 0
#include "record_hdr.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#ifndef RING_KIND
#define RING_KIND 0
#endif
#ifndef RECORD_CLOCK
#define RECORD_CLOCK 1
#endif

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} shared SEC(".maps");

struct ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* probe.c makes each CPU's ring this size */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1); /* probe.c sets the number of possible CPUs */
	__type(key, __u32);
	__array(values, struct ring);
} rings SEC(".maps");

#define STAGE_BYTES 16384
struct stage {
	__u64 head;
	__u8 data[STAGE_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stage);
} stage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);
	if (n)
		(*n)++;
}

/* Where the record is written: in a ring (kinds 0, 1) or in the CPU's staging area (2), whose slots
 * are 128 bytes (every record here is smaller). */
static __always_inline void *reserve(__u32 size)
{
	__u32 zero = 0;
	if (RING_KIND == 0)
		return bpf_ringbuf_reserve(&shared, size, 0);
	if (RING_KIND == 1) {
		__u32 cpu = bpf_get_smp_processor_id();
		void *rb = bpf_map_lookup_elem(&rings, &cpu);
		return rb ? bpf_ringbuf_reserve(rb, size, 0) : NULL;
	}
	struct stage *st = bpf_map_lookup_elem(&stage, &zero);
	if (!st)
		return NULL;
	__u64 at = st->head & (STAGE_BYTES - 1) & ~127ULL;
	st->head = at + 128;
	return &st->data[at];
}

static __always_inline void send(void *e)
{
	if (RING_KIND <= 1)
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

/* The agent's header fill (bpf/record_hdr.h), with the v2 cgroup id and the record's clock read. */
static __always_inline void fill(struct fw_event_hdr *h, __u16 type, __u16 size,
				 struct task_struct *t)
{
	__u64 now = RECORD_CLOCK ? bpf_ktime_get_boot_ns() : 0;
	fw_fill_hdr(h, type, size, t, fw_kernfs_id(t->cgroups->dfl_cgrp->kn), now);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(probe_fork, struct task_struct *parent, struct task_struct *child)
{
	struct fw_fork_event *e = reserve(sizeof(*e));
	if (!e) {
		count_lost();
		return 0;
	}
	fill(&e->hdr, FW_EV_FORK, sizeof(*e), child);
	e->parent_start_ns = fw_task_start_ns(child->real_parent->group_leader);
	send(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(probe_exit, struct task_struct *p)
{
	struct fw_exit_event *e = reserve(sizeof(*e));
	if (!e) {
		count_lost();
		return 0;
	}
	fill(&e->hdr, FW_EV_EXIT, sizeof(*e), p);
	e->status = p->exit_code;
	e->_pad = 0;
	e->cpu_ns = p->se.sum_exec_runtime;
	send(e);
	return 0;
}
