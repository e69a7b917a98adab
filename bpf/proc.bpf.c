// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * forkwatch kernel side: process fork / exec / exit, cgroup attach, mkdir and rmdir, and
 * per-cgroup on-CPU time. Fork and exit records are written in place into per-CPU staging areas,
 * the others go to one ring buffer; exact counters stay in maps so they are right even when user
 * space falls behind.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "core_shims.h"
#include "proc.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EEXIST 17 /* errno.h is not for BPF programs */

/* Knockout switches, for bench/bpf-attrib.mjs only (`make bpf-variant VARIANT=-DFW_KO_RECORD=1`):
 * each removes one part of the per-event handlers so its share of their cost can be measured.
 * The default build sets none; every check below is then a constant 0 that the compiler drops. */
#ifndef FW_KO_EMPTY
#define FW_KO_EMPTY 0 /* fork, exec, exit and switch handlers return at once: the floor */
#endif
#ifndef FW_KO_COUNTERS
#define FW_KO_COUNTERS 0 /* no per-cgroup counter lookup or update */
#endif
#ifndef FW_KO_LIFETIME
#define FW_KO_LIFETIME 0 /* no lifetime histogram at process exits */
#endif
#ifndef FW_KO_RECORD
#define FW_KO_RECORD 0 /* no fork, exec or exit record (reserve, fill, submit) */
#endif
#ifndef FW_KO_HEADER
#define FW_KO_HEADER 0 /* records' header: type, size, flags, time and cgroup only */
#endif
#ifndef FW_KO_NSPID
#define FW_KO_NSPID 0 /* no pid-namespace tgid (the header's one helper call) */
#endif
#ifndef FW_KO_WAKEUP
#define FW_KO_WAKEUP 0 /* no wake-up batching: never wake (the bench's reader drains on a timer) */
#endif
#ifndef FW_KO_ROWHASH
#define FW_KO_ROWHASH 0 /* no row hash lookup: all cgroups count in one per-CPU array row */
#endif
#ifndef FW_KO_FASTROW
#define FW_KO_FASTROW 0 /* no direct-mapped row: fork, exec and exit find their row in the hash */
#endif
#ifndef FW_KO_CLOCK
#define FW_KO_CLOCK 0 /* no clock read at process exits: every lifetime counted as 1 us */
#endif
#ifndef FW_KO_CGROUP
#define FW_KO_CGROUP 0 /* no cgroup lookup: everything counts under cgroup id 1 (v2's root) */
#endif

#include "record_hdr.h" /* after the knockouts: its fill reads FW_KO_HEADER and FW_KO_NSPID */
#include "lifetime.h"

/* Fields are read with direct loads through the BTF-typed pointers tp_btf hands us (CO-RE
 * relocated; a fault reads as 0), not with bpf_probe_read_kernel(): a helper call per field cost
 * tens of nanoseconds each, most of a record's price. */

/* ---- maps ---- */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by the loader before load */
} events SEC(".maps");

/* Per-CPU staging areas for fork and exit records (struct fw_stage in proc.h), written in place:
 * no ring buffer lock with interrupts off, no commit. The ring above carries the other records and
 * the doorbells that wake the reader. Sized by the loader before load (value_size: the header,
 * stage_mask + 1 bytes and the slack; one element per possible CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct fw_stage) + 4096 + FW_STAGE_SLACK);
	__uint(max_entries, 1);
} stage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384); /* resized by the loader before load */
	__type(key, __u64);
	__type(value, struct fw_cg_counters);
} cg_counters SEC(".maps");

/* Direct-mapped counter rows, so that a fork, exec or exit finds its cgroup's row without a hash
 * lookup (that lookup was a third of an exit's cost, docs/performance.md). Slot: the low bits of the
 * cgroup id (fast_mask). Each CPU's copy of a slot names the cgroup it counts for (owner), claimed by
 * that CPU's own handlers when free, so no atomics on the event path; a cgroup whose slot another
 * owns on this CPU counts in cg_counters, as every row did before. The cgroup_rmdir handler folds a
 * removed cgroup's copies into its cg_counters row and frees them (fold_rows), so user space
 * retires rows from cg_counters alone; it adds the copies to the rows when it reads
 * (addon/map_reader.cc). Sized by the loader before load. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_cg_fast);
} cg_fast SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_stats);
} stats SEC(".maps");

/* Process exits claimed, for kernels whose exit tracepoint does not say which thread ended the
 * process (see handle_exit_claim). LRU: a claim is only needed until the process's last thread has
 * passed the tracepoint, and handle_free drops it when the leader goes; if reaped zombies pile up
 * faster, the oldest claims are the ones to forget. */
struct fw_exit_key {
	__u32 tgid;
	__u32 _pad;
	__u64 start_ns; /* the leader's: with the tgid, unique across pid reuse */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries,
	       8192); /* 1 where the tracepoint passes group_dead (set by the loader) */
	__type(key, struct fw_exit_key);
	__type(value, __u8);
} exit_claims SEC(".maps");

/* Fatal signals sent and not yet taken by their target's exit, keyed by the target process (tgid
 * and leader start). Written only when a signal that will end the process is sent (signal_generate,
 * filtered to those) or the OOM killer marks its victim; read and deleted only by exits that a
 * signal ended. LRU: a signal whose target never exits through it (blocked, handler installed
 * later) is forgotten when newer ones need the room. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct fw_proc_key);
	__type(value, struct fw_exit_sender);
} fatal SEC(".maps");

/* Scratch space for variable-length records (exec, cgroup paths): too big for the BPF stack. */
struct fw_scratch {
	struct fw_exec_event ev;
	char data[FW_PATH_CAP + FW_ARGV_CAP];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_scratch);
} scratch SEC(".maps");

/* Fixed-size records are built in place (in a staging area or the ring), so nothing else names
 * their types; these anchors put them in the object's BTF, which test/events/layout.test.ts checks. */
struct fw_fork_event fw_anchor_fork __attribute__((unused));
struct fw_exit_event fw_anchor_exit __attribute__((unused));
struct fw_cgroup_event fw_anchor_cgroup __attribute__((unused));
struct fw_census fw_anchor_census __attribute__((unused));

/* Who went on CPU when, per CPU (CPU accounting). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_oncpu);
} oncpu SEC(".maps");

/* The record path's own state, per CPU and written by that CPU only, so no cache line is shared
 * between CPUs that submit records (a global last-wake-up word was written by all of them). */
struct fw_cpu_state {
	__u64 wake_ns;    /* this CPU's last forced wake-up (CLOCK_BOOTTIME) */
	__u64 wake_bytes; /* bytes this CPU submitted since then, or since it last asked the ring */
	__u32 v1_pos; /* v1 grouping hierarchy: 1 + where its link sits in a css_set's list (v1_cgroup_id) */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_cpu_state);
} cpu_state SEC(".maps");

/* ---- records on demand (interest): maps and want_record() ----
 * User space (src/agent/interest.ts through the addon) decides which events become records;
 * fork, exec and exit handlers count first and ask want_record() just before they take room for
 * a record. mkdir / rmdir records always flow (they name cgroups), and so do migrate records: the
 * attach tracepoint fires after the move, so it knows the destination only, and a process leaving
 * a watched cgroup must be seen to leave (moves are rare: one per service or container start). */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_interest);
} interest SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096); /* resized by the loader before load */
	__type(key, __u64);
	__type(value, __u32); /* FW_WATCH_* */
} watched SEC(".maps");

/* Whether an event of cgroup `cgid` becomes a record: one array load when records flow for all
 * or no cgroup is watched, a hash lookup only when some are. */
static __always_inline bool want_record(__u64 cgid, bool is_thread)
{
	__u32 zero = 0;
	struct fw_interest *in = bpf_map_lookup_elem(&interest, &zero);
	if (!in)
		return false;
	if (in->all && (!is_thread || in->threads))
		return true;
	/* Watched mode, or a thread event in all mode: a watched cgroup may want its threads. The
	 * default agent watches none, and then every fork and exit skips the hash lookup. */
	if (!in->watching)
		return false;
	__u32 *flags = bpf_map_lookup_elem(&watched, &cgid);
	if (!flags)
		return false;
	return !is_thread || in->threads || (*flags & FW_WATCH_THREADS);
}

/* ---- end of records on demand ---- */

/* ---- tunables, set through the skeleton's rodata before load ----
 * Zero here: the loader (addon/loader.cc) always sets every one, from the values the caller
 * passes; their defaults live in src/config/default.ts only. */

const volatile __u32 cgroup_hierarchy = 0; /* 0: cgroup v2; else a v1 hierarchy id */
const volatile __u32 argv_max = 0;         /* argv byte budget per exec, <= FW_ARGV_CAP */
const volatile __u64 wakeup_bytes = 0;     /* records waiting before a forced wake-up, in bytes */
const volatile __u64 wakeup_ns = 0;        /* ... and in time; 0: wake the reader on every record */
const volatile __u64 stage_mask = 4096 - 1; /* a staging area's data bytes - 1 (a power of two) */
const volatile bool fast_rows =
	false;                      /* cg_fast in use (handle_rmdir_fold, handle_populated_fold) */
const volatile __u32 fast_mask = 0; /* cg_fast's slots - 1 (a power of two) */
const volatile __u32 nr_cpus = 1;   /* possible CPUs: the copies of a cg_fast slot */

/* A new counter row's first value, read-only: zeroing a row on the stack took a store per field
 * in every handler that may make one. */
const volatile struct fw_cg_counters zero_row = {};

/* 1 while the reader (addon/ring_reader.cc) drains the ring on its timer, 0 while it waits on the
 * ring's epoll; written by the reader through the skeleton's mmapped .bss. */
__u32 reader_on_timer = 0;

/* +1 before and after the cgroup_rmdir handler moves a removed cgroup's cg_fast copies into its
 * cg_counters row: odd while it moves them. A reader that sees it change reads again, or it could
 * count what moved twice or not at all. rmdir holds cgroup_mutex: one fold at a time. */
__u64 fold_seq = 0;

/* ---- helpers ---- */

static __always_inline struct fw_stats *get_stats(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&stats, &zero);
}

static __always_inline void count_lost(__u16 type)
{
	struct fw_stats *s = get_stats();
	if (s && type < FW_EV_TYPE_MAX)
		s->lost[type]++;
}

static __always_inline struct fw_cpu_state *get_cpu_state(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&cpu_state, &zero);
}

/* Batch wake-ups: the reader is woken when enough bytes wait or enough time has passed.
 * One wake-up per record costs an irq_work and a cross-CPU interrupt (several µs).
 *
 * Time: each CPU wakes the reader with its first record once wakeup_ns have passed since its own
 * last wake-up. A record it submits sooner is never stranded: the reader drains that last wake-up's
 * record at or after it was submitted and, having found records, drains again one flush interval
 * (>= wakeup_ns) later, which is after this record (ring_reader.cc; docs/architecture.md).
 * Bytes: the ring is asked how much waits (bpf_ringbuf_query reads the producer's and consumer's
 * positions, lines every CPU and the reader write) only each time this CPU has submitted an eighth
 * of wakeup_bytes since it last asked, not per record; for a staged record (staged: the bytes now
 * in this CPU's stage), the stage is the measure, against half its size at most. */
static __always_inline __u64 wake_flag(__u64 now, __u32 size, __u64 staged)
{
	if (FW_KO_WAKEUP)
		return BPF_RB_NO_WAKEUP;
	if (wakeup_ns == 0)
		return 0;
	struct fw_cpu_state *cs = get_cpu_state();
	if (!cs)
		return 0; /* cannot happen (array slot 0); a wake-up is the safe answer */
	/* A fetching atomic is a full barrier: this record's reservation (the producer position) is
	 * visible before reader_on_timer is read, as the reader stores 0 there before it asks the ring
	 * whether data waits (ring_reader.cc OnTimer). So one of the two always sees the other. */
	__u64 pending = __sync_fetch_and_add(&cs->wake_bytes, size) + size;
	/* The reader drains on its timer: a wake-up would find no one waiting on the ring and cost
	 * this CPU an interrupt to itself (an exit from the VM on a virtual machine). */
	if (*(volatile __u32 *)&reader_on_timer)
		return BPF_RB_NO_WAKEUP;
	if (now - cs->wake_ns < wakeup_ns) {
		if (pending < wakeup_bytes / 8)
			return BPF_RB_NO_WAKEUP;
		cs->wake_bytes = 0;
		if (!staged && bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < wakeup_bytes)
			return BPF_RB_NO_WAKEUP;
		if (staged && staged < wakeup_bytes && staged <= stage_mask / 2)
			return BPF_RB_NO_WAKEUP;
	}
	cs->wake_ns = now;
	cs->wake_bytes = 0;
	struct fw_stats *s = get_stats();
	if (s)
		s->wakeups++;
	return BPF_RB_FORCE_WAKEUP;
}

/* ---- the staging areas (struct fw_stage): fork and exit records ---- */

/* Room for a record of `size` bytes (a multiple of 8, <= FW_STAGE_SLACK) in this CPU's staging
 * area, or NULL when the reader has not taken enough (the record is lost, and counted). The
 * handlers of one CPU never run into each other (see struct fw_stage), so head is ours alone. */
static __always_inline void *stage_reserve(struct fw_stage **stp, __u32 size)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct fw_stage *st = bpf_map_lookup_elem(&stage, &cpu);
	if (!st)
		return NULL;
	__u64 head = st->head;
	if (head + size - *(volatile __u64 *)&st->tail > stage_mask + 1)
		return NULL;
	*stp = st;
	return (void *)(st + 1) + (head & stage_mask);
}

/* Publishes the record stage_reserve() gave room for (the fetching add is a full barrier: the
 * reader that sees the new head sees the record), then wakes the reader if it waits on the ring
 * (wake_flag decides, as for ring records) with a doorbell: an 8-byte record it drops. */
static __always_inline void stage_commit(struct fw_stage *st, __u32 size, __u64 now)
{
	__u64 head = __sync_fetch_and_add(&st->head, size) + size;
	__u64 staged = head - *(volatile __u64 *)&st->tail;
	__u64 flag = wake_flag(now, size, staged ? staged : 1);
	if (flag != BPF_RB_NO_WAKEUP) {
		__u64 bell = 0;
		bpf_ringbuf_output(&events, &bell, sizeof(bell), flag);
	}
}

/* The cgroup of a css_set's link at `pos` if that link is the grouping hierarchy's, else 0. */
static __always_inline __u64 v1_link_cgroup_id(struct list_head *pos, __u32 link_off)
{
	struct cgrp_cset_link *link = (void *)pos - link_off;
	struct cgroup *cg = BPF_CORE_READ(link, cgrp);
	if (BPF_CORE_READ(cg, root, hierarchy_id) != (int)cgroup_hierarchy)
		return 0;
	return fw_kernfs_id_read(BPF_CORE_READ(cg, kn));
}

/* The task's cgroup in a v1 hierarchy, from its css_set's links (one per hierarchy).
 *
 * Every css_set lists its links in one order: the hierarchies' setup order (find_css_set() copies
 * the old set's order, cgroup_setup_root() appends a new hierarchy's link to every set, a removed
 * hierarchy's link goes from every set). So the grouping hierarchy's link sits at the same position
 * in all of them: each CPU remembers it, steps straight there (one read per link passed instead of
 * four), and takes it only if it is that hierarchy's link, checked on the task's own live css_set;
 * else (first use, a hierarchy mounted or removed since) it walks the list and remembers anew. Not
 * a cache of answers keyed by a css_set's address, which a freed and reallocated css_set could
 * reuse with another cgroup. */
static __always_inline __u64 v1_cgroup_id(struct task_struct *t)
{
	struct css_set *cset = BPF_CORE_READ(t, cgroups);
	struct list_head *head = &cset->cgrp_links;
	__u32 link_off = bpf_core_field_offset(struct cgrp_cset_link, cgrp_link);
	struct fw_cpu_state *cs = get_cpu_state();
	__u32 want = cs ? cs->v1_pos : 0;
	struct list_head *pos = BPF_CORE_READ(cset, cgrp_links.next);
	__u64 id;

	if (want) {
		for (__u32 i = 1; i < 16 && i < want && pos && pos != head; i++)
			pos = BPF_CORE_READ(pos, next);
		if (pos && pos != head && (id = v1_link_cgroup_id(pos, link_off)))
			return id;
		pos = BPF_CORE_READ(cset, cgrp_links.next);
	}
	for (__u32 i = 1; i <= 16 && pos && pos != head; i++) {
		if ((id = v1_link_cgroup_id(pos, link_off))) {
			if (cs)
				cs->v1_pos = i;
			return id;
		}
		pos = BPF_CORE_READ(pos, next);
	}
	return 0;
}

static __always_inline __u64 task_cgroup_id(struct task_struct *t)
{
	if (FW_KO_CGROUP)
		return 1; /* not 0, which owns no direct-mapped row */
	if (cgroup_hierarchy == 0)
		return fw_kernfs_id(t->cgroups->dfl_cgrp->kn);
	return v1_cgroup_id(t);
}

/* bpf_core_cast()'s kfunc (v6.2): an address read as a kernel type, loaded from as a BTF pointer is.
 * Weak: only handle_exit calls it, and that program is loaded only from v6.16 (ChooseExitDecision,
 * addon/loader.cc), so an older kernel without it still loads the object. */
extern void *bpf_rdonly_cast(const void *obj__ign, __u32 btf_id) __ksym __weak;

/* An exiting task's cgroup, read off lines no fork or exit writes. css_set.dfl_cgrp shares a cache
 * line with the set's refcount and task count, which every fork and exit in the cgroup writes: at an
 * exit it has mostly been written by another CPU since (two fork loops in one cgroup: 30-48 ns of
 * the exit, docs/performance.md), where at a fork the forking CPU has just written it. The set's
 * first link is the default hierarchy's (cgroup_init sets it up before any v1 hierarchy, and every
 * set copies its links in order from the set it derives from): its cgroup is dfl_cgrp, checked by
 * the hierarchy id; else, or on v1, the usual way. */
static __always_inline __u64 exit_cgroup_id(struct task_struct *t, bool by_link)
{
	if (!by_link || FW_KO_CGROUP || cgroup_hierarchy != 0)
		return task_cgroup_id(t);
	struct css_set *cset = t->cgroups;
	void *first = cset->cgrp_links.next;
	struct cgrp_cset_link *link =
		bpf_rdonly_cast(first - bpf_core_field_offset(struct cgrp_cset_link, cgrp_link),
				bpf_core_type_id_kernel(struct cgrp_cset_link));
	struct cgroup *cg = link->cgrp;
	if (cg && cg->root->hierarchy_id == 0)
		return fw_kernfs_id(cg->kn);
	return task_cgroup_id(t);
}

/* The cgroup's counter row, made if it has none yet (NULL when the map is full). */
static __always_inline struct fw_cg_counters *counters(__u64 cgid)
{
	if (FW_KO_COUNTERS)
		return NULL;
	if (FW_KO_ROWHASH) {
		/* A cost measure only: the row is this CPU's scratch area, which exec records overwrite,
		 * so what is counted there is meaningless; what a row reached without a hash costs is not. */
		__u32 zero = 0;
		return (void *)bpf_map_lookup_elem(&scratch, &zero);
	}
	struct fw_cg_counters *c = bpf_map_lookup_elem(&cg_counters, &cgid);
	if (c)
		return c;
	if (bpf_map_update_elem(&cg_counters, &cgid, (void *)&zero_row, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&cg_counters, &cgid)) {
		struct fw_stats *s = get_stats();
		if (s)
			s->counter_full++;
		return NULL;
	}
	return bpf_map_lookup_elem(&cg_counters, &cgid);
}

/* The row a fork, exec or exit of cgroup `cgid` counts in: this CPU's copy of its cg_fast slot when
 * that copy is the cgroup's or free (claimed then), else its cg_counters row. A cgroup has no fork,
 * exec or exit after its rmdir (rmdir needs it unpopulated, and the exit tracepoint runs before
 * cgroup_exit()), so no copy is claimed after its fold. */
static __always_inline struct fw_cg_counters *event_counters(__u64 cgid)
{
	if (fast_rows && !FW_KO_FASTROW && !FW_KO_COUNTERS && !FW_KO_ROWHASH && cgid) {
		__u32 slot = (__u32)cgid & fast_mask;
		struct fw_cg_fast *f = bpf_map_lookup_elem(&cg_fast, &slot);
		if (f && f->owner == cgid)
			return &f->c;
		if (f && !f->owner) {
			f->owner = cgid;
			return &f->c;
		}
	}
	return counters(cgid);
}

/* ---- a removed cgroup's direct-mapped rows ---- */

struct fw_fold {
	__u64 cgid;
	__u32 slot;
	__u32 found; /* find_cpu: the cgroup owns a copy */
};

#define FW_CG_WORDS       (sizeof(struct fw_cg_counters) / 8)
#define FW_CG_CPU_NS_WORD (__builtin_offsetof(struct fw_cg_counters, cpu_ns) / 8)

/* bpf_loop callback over the possible CPUs: moves CPU `cpu`'s copy of the slot, if the removed
 * cgroup owns it, into that CPU's copy of its cg_counters row (made if it has none), then frees it.
 * That CPU's handlers do not touch the copy meanwhile: they see an owner other than their own.
 * cpu_ns is left out: these copies never hold it, and v1's switch handler may still add a dying
 * task's last slice to the row on that CPU (a plain add here could undo it). */
static long fold_cpu(__u64 cpu, struct fw_fold *x)
{
	struct fw_cg_fast *f = bpf_map_lookup_percpu_elem(&cg_fast, &x->slot, cpu);
	if (!f || f->owner != x->cgid)
		return 0;
	struct fw_cg_counters *h = bpf_map_lookup_percpu_elem(&cg_counters, &x->cgid, cpu);
	if (!h && counters(x->cgid))
		h = bpf_map_lookup_percpu_elem(&cg_counters, &x->cgid, cpu);
	__u64 *src = (__u64 *)&f->c;
	__u64 *dst = (__u64 *)h;
	for (__u32 i = 0; i < FW_CG_WORDS; i++) {
		if (dst && i != FW_CG_CPU_NS_WORD)
			dst[i] += src[i];
		src[i] = 0;
	}
	/* A full barrier: the zeroed counts are visible before the slot is seen free. */
	__sync_val_compare_and_swap(&f->owner, x->cgid, 0);
	return 0;
}

static long find_cpu(__u64 cpu, struct fw_fold *x)
{
	struct fw_cg_fast *f = bpf_map_lookup_percpu_elem(&cg_fast, &x->slot, cpu);
	if (f && f->owner == x->cgid) {
		x->found = 1;
		return 1;
	}
	return 0;
}

/* Whether the cgroup counts in cg_fast on some CPU. */
static __always_inline bool has_fast_rows(__u64 cgid)
{
	struct fw_fold x = { .cgid = cgid, .slot = (__u32)cgid & fast_mask };
	bpf_loop(nr_cpus, find_cpu, &x, 0);
	return x.found;
}

/* The cgroup's copies moved into its cg_counters row; fold_seq odd meanwhile. */
static __always_inline void fold_rows(__u64 cgid)
{
	struct fw_fold x = { .cgid = cgid, .slot = (__u32)cgid & fast_mask };
	__sync_fetch_and_add(&fold_seq, 1);
	bpf_loop(nr_cpus, fold_cpu, &x, 0);
	__sync_fetch_and_add(&fold_seq, 1);
}

/* A process across pid reuse (the `fatal` map's key). */
static __always_inline struct fw_proc_key proc_key(struct task_struct *t)
{
	struct fw_proc_key k = { .tgid = t->tgid, .start_ns = fw_task_start_ns(t->group_leader) };
	return k;
}

static __always_inline void count_lifetime(struct fw_cg_counters *c, struct task_struct *p,
					   __u64 now)
{
	__u64 start = fw_task_start_ns(p->group_leader);
	/* CLOCK, a cost measure: the slot and sum are still written, from no clock. */
	if (FW_KO_CLOCK)
		now = start + 1000;
	__u64 ns = now > start ? now - start : 0;
	c->lifetime[fw_lifetime_slot(ns)]++;
	c->lifetime_sum_ns += ns;
}

/* ---- why processes end: fatal signals, their senders, OOM kills ----
 * Nothing here runs on a fork or on an exit that no signal caused: signal_generate and mark_victim
 * write the `fatal` map, and only the exit of a process a signal ended reads it (take_sender). */

/* Signals whose default action ends the process (SIGKILL's cannot be changed). SIGCHLD, SIGCONT,
 * SIGURG, SIGWINCH and the stop signals do not end it. */
#define FW_SIG_FATAL_DEFAULT                                                                       \
	((1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) |       \
	 (1u << 8) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 13) | (1u << 14) | (1u << 15) | \
	 (1u << 16) | (1u << 24) | (1u << 25) | (1u << 26) | (1u << 27) | (1u << 29) |             \
	 (1u << 30) | (1u << 31))
#define FW_SIGKILL 9

/* Takes the sender kept for the process out of `fatal` (into *who): true when it sent the signal
 * that ended the process. One lookup and one delete, whether or not a record follows. */
static __always_inline bool take_sender(struct task_struct *p, __u32 signo,
					struct fw_exit_sender *who)
{
	struct fw_proc_key k = proc_key(p);
	struct fw_exit_sender *f = bpf_map_lookup_elem(&fatal, &k);
	if (!f)
		return false;
	*who = *f;
	bpf_map_delete_elem(&fatal, &k);
	/* Another signal was kept, but this one ended it: that sender is not this exit's. */
	return who->signal == signo;
}

static __always_inline void count_signaled(struct fw_cg_counters *c, __u32 signo, bool oom)
{
	c->exits_signaled++;
	c->signals[signo < FW_SIGNAL_SLOTS ? signo : 0]++;
	if (oom)
		c->oom_kills++;
}

/* ---- handlers ---- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	if (FW_KO_EMPTY)
		return 0;
	bool is_thread = child->pid != child->tgid;
	__u64 cgid = task_cgroup_id(child);

	/* Count first: the counter is exact even if the record is lost. */
	struct fw_cg_counters *c = event_counters(cgid);
	if (c) {
		if (is_thread)
			c->threads++;
		else
			c->forks++;
	}
	if (FW_KO_RECORD || !want_record(cgid, is_thread))
		return 0;

	struct fw_stage *st = NULL;
	struct fw_fork_event *e = stage_reserve(&st, sizeof(*e));
	if (!e || !st) {
		count_lost(FW_EV_FORK);
		return 0;
	}
	/* The child's birth time, which copy_process() has just read on the same clock: a fork record
	 * reads no clock of its own (a read is 0.3-0.8x the counting reference on a VM whose TSC is not
	 * stable, docs/performance.md). It precedes everything the child does, as the record must. */
	__u64 now = fw_task_start_ns(child);
	fw_fill_hdr(&e->hdr, FW_EV_FORK, sizeof(*e), child, cgid, now);
	if (is_thread)
		e->hdr.flags = FW_F_THREAD;
	/* The parent the child reports (ppid), which CLONE_PARENT makes the caller's own parent. */
	e->parent_start_ns = fw_task_start_ns(child->real_parent->group_leader);
	stage_commit(st, sizeof(*e), now);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (FW_KO_EMPTY)
		return 0;
	__u64 cgid = task_cgroup_id(p);
	struct fw_cg_counters *c = event_counters(cgid);
	if (c)
		c->execs++;
	if (FW_KO_RECORD || !want_record(cgid, false))
		return 0;

	__u32 zero = 0;
	struct fw_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	__u64 now = bpf_ktime_get_boot_ns();
	fw_fill_hdr(&s->ev.hdr, FW_EV_EXEC, 0, p, cgid, now);
	s->ev.old_tid = old_pid;

	/* Filename, as the kernel resolved it for this exec. */
	const char *fname = bprm->filename;
	long n = bpf_probe_read_kernel_str(s->data, FW_PATH_CAP, fname);
	if (n <= 0) {
		s->data[0] = 0;
		n = 1;
	}
	__u32 flen = n;
	if (flen > FW_PATH_CAP)
		flen = FW_PATH_CAP;
	if (flen == FW_PATH_CAP)
		s->ev.hdr.flags |= FW_F_FILENAME_TRUNC;

	/* argv: the new image's argument area, NUL-separated, within the byte budget. */
	struct mm_struct *mm = p->mm;
	__u64 start = mm->arg_start;
	__u64 end = mm->arg_end;
	__u64 alen = end > start ? end - start : 0;
	__u32 budget = argv_max < FW_ARGV_CAP ? argv_max : FW_ARGV_CAP;
	if (alen > budget) {
		alen = budget;
		s->ev.hdr.flags |= FW_F_ARGV_TRUNC;
	}
	__u32 off = flen & (FW_PATH_CAP - 1);
	if (flen == FW_PATH_CAP)
		off = FW_PATH_CAP;
	__u32 len = alen & (FW_ARGV_CAP - 1);
	if (alen == FW_ARGV_CAP)
		len = FW_ARGV_CAP;
	barrier_var(off);
	if (off > FW_PATH_CAP)
		return 0;
	barrier_var(len);
	if (len > FW_ARGV_CAP)
		return 0;
	if (len && bpf_probe_read_user(s->data + off, len, (void *)start))
		len = 0;

	s->ev.filename_len = off;
	s->ev.argv_len = len;
	__u32 size = sizeof(s->ev) + off + len;
	s->ev.hdr.size = size;
	barrier_var(size);
	if (size > sizeof(*s))
		return 0;
	if (bpf_ringbuf_output(&events, s, size, wake_flag(now, size, 0)))
		count_lost(FW_EV_EXEC);
	return 0;
}

/* A task ends. group_dead: it made do_exit()'s last signal->live decrement, so this is the exit of
 * the process (what wait(2) reports), and every other task's is a thread exit. */
static __always_inline int exit_common(struct task_struct *p, bool group_dead, bool by_link)
{
	if (FW_KO_EMPTY)
		return 0;
	struct signal_struct *sig = p->signal;
	__u64 cgid = exit_cgroup_id(p, by_link);
	__u32 status = 0;

	if (group_dead) {
		/* What wait(2) will report (kernel/exit.c wait_task_zombie). */
		if (sig->flags & FW_SIGNAL_GROUP_EXIT)
			status = sig->group_exit_code;
		else
			status = p->group_leader->exit_code;
	}

	/* One clock read for a process's lifetime and its record. */
	__u64 now = group_dead && !FW_KO_LIFETIME && !FW_KO_CLOCK ? bpf_ktime_get_boot_ns() : 0;
	struct fw_cg_counters *c = event_counters(cgid);
	/* Zeroed whole, and its OOM flag taken into a scalar at once: clang otherwise drops stores to
	 * `who` on paths where no sender was kept, hoists the read of who.flags above the test, and
	 * shares the slot with a spilled pointer; the verifier refuses that fill. */
	struct fw_exit_sender who = {};
	bool has_sender = false;
	bool oom = false;
	if (group_dead && (status & 0x7f)) {
		has_sender = take_sender(p, status & 0x7f, &who);
		oom = has_sender && (who.flags & FW_SENDER_OOM);
	}
	if (c) {
		if (!group_dead)
			c->thread_exits++;
		else if (status & 0x7f)
			count_signaled(c, status & 0x7f, oom);
		else if (status & 0xff00)
			c->exits_failure++;
		else
			c->exits_success++;
		if (group_dead && !FW_KO_LIFETIME)
			count_lifetime(c, p, now);
	}
	if (FW_KO_RECORD || !want_record(cgid, !group_dead))
		return 0;

	/* With a sender, its struct follows the exit record (FW_F_SENDER). */
	__u16 size = has_sender ? sizeof(struct fw_exit_event) + sizeof(struct fw_exit_sender)
				: sizeof(struct fw_exit_event);
	struct fw_stage *st = NULL;
	struct fw_exit_event *e = stage_reserve(&st, size);
	if (!e || !st) {
		count_lost(FW_EV_EXIT);
		return 0;
	}
	if (!now)
		now = bpf_ktime_get_boot_ns();
	fw_fill_hdr(&e->hdr, FW_EV_EXIT, size, p, cgid, now);
	e->status = status;
	e->_pad = 0;
	e->cpu_ns = p->se.sum_exec_runtime;
	if (group_dead)
		e->cpu_ns += sig->sum_sched_runtime;
	else
		e->hdr.flags = FW_F_THREAD;
	if (has_sender) {
		e->hdr.flags = FW_F_SENDER | (oom ? FW_F_OOM : 0);
		__builtin_memcpy((void *)(e + 1), &who, sizeof(who));
	}
	stage_commit(st, size, now);
	return 0;
}

/* v6.16+: the tracepoint passes do_exit()'s own decision (see core_shims.h). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p, bool group_dead)
{
	return exit_common(p, group_dead, true);
}

/* Older kernels: signal->live read here is not do_exit()'s decrement -- every thread that gets here
 * after the last decrement reads 0. Live above 0 is a thread exit for sure; among the threads that
 * read 0 (the last decrementer always does), the first to claim the process ends it. The cgroup is
 * read the usual way here: exit_cgroup_id()'s kfunc is missing before v6.2. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit_claim, struct task_struct *p)
{
	if (p->signal->live.counter != 0)
		return exit_common(p, false, false);
	struct fw_exit_key key = { .tgid = p->tgid, .start_ns = fw_task_start_ns(p->group_leader) };
	__u8 one = 1;
	/* Only -EEXIST means another thread has it: on any other failure count the exit, as a
	 * second count is less harm than a process that never ends. */
	bool mine = bpf_map_update_elem(&exit_claims, &key, &one, BPF_NOEXIST) != -EEXIST;
	struct fw_stats *s = get_stats();
	if (mine && s)
		s->exit_claims++;
	return exit_common(p, mine, false);
}

/* A task is freed. Once a process's leader is, every thread of it has passed the exit tracepoint
 * (the leader is released last), so its claim can go. Loaded with handle_exit_claim only. */
SEC("tp_btf/sched_process_free")
int BPF_PROG(handle_free, struct task_struct *p)
{
	if (p->pid != p->tgid)
		return 0;
	struct fw_exit_key key = { .tgid = p->tgid, .start_ns = fw_task_start_ns(p) };
	struct fw_stats *s = get_stats();
	if (bpf_map_delete_elem(&exit_claims, &key) == 0 && s)
		s->exit_claims_released++;
	return 0;
}

/* A signal is sent. Kept only when it will end its target: SIGKILL, or a signal whose default
 * action kills and whose handler is the default (a fault's forced signal has had its handler reset
 * to the default by then). Kernel-made signals (si_code > 0, or SEND_SIG_PRIV) have no sender. */
SEC("tp_btf/signal_generate")
int BPF_PROG(handle_signal, int signo, struct kernel_siginfo *info, struct task_struct *task,
	     int group, int result)
{
	/* First the test that sends back every signal that never ends a process (a SIGCHLD per exit). */
	if (signo <= 0 || signo >= 32 ||
	    !((1u << signo) & (FW_SIG_FATAL_DEFAULT | 1u << FW_SIGKILL)))
		return 0;
	/* TRACE_SIGNAL_DELIVERED (0) or TRACE_SIGNAL_LOSE_INFO (4): the signal is now pending. */
	if (result != 0 && result != 4)
		return 0;
	if (signo != FW_SIGKILL) {
		/* sighand->action[signo - 1].sa.sa_handler, at an index the verifier cannot bound for a
		 * direct load. */
		void *action = (void *)task->sighand +
			       bpf_core_field_offset(struct sighand_struct, action) +
			       ((signo - 1) & 63) * bpf_core_type_size(struct k_sigaction) +
			       bpf_core_field_offset(struct k_sigaction, sa.sa_handler);
		unsigned long h = 0;
		bpf_probe_read_kernel(&h, sizeof(h), action);
		if (h) /* SIG_DFL is 0 */
			return 0;
	}
	/* SEND_SIG_NOINFO (0) is a user's kill; SEND_SIG_PRIV (1) the kernel's. */
	int code = 0;
	if ((unsigned long)info > 1) /* the verifier holds info a scalar (it may encode an error) */
		bpf_probe_read_kernel(&code, sizeof(code), &info->si_code);
	bool kernel = (unsigned long)info == 1 || code > 0;

	struct fw_proc_key k = proc_key(task);
	struct fw_exit_sender v = { .signal = signo };
	if (kernel) {
		v.flags = FW_SENDER_KERNEL;
	} else {
		struct task_struct *cur = bpf_get_current_task_btf();
		v.pid = cur->tgid;
		v.start_ns = fw_task_start_ns(cur->group_leader);
		v.cgroup_id = task_cgroup_id(cur);
		__u64 *dst = (__u64 *)v.comm;
		dst[0] = *(__u64 *)&cur->comm[0];
		dst[1] = *(__u64 *)&cur->comm[8];
	}
	bpf_map_update_elem(&fatal, &k, &v, BPF_ANY);
	return 0;
}

/* Values above this are memory.max's "max" (PAGE_COUNTER_MAX is LONG_MAX / PAGE_SIZE). */
#define FW_NO_LIMIT_PAGES  (1ULL << 50)
/* A counter whose charge failed holds more than its limit less the charge (at most a PMD-size folio
 * of 512 pages): within this many pages of its limit it is the one that was hit. */
#define FW_OOM_SLACK_PAGES 1024

/* The memory cgroup whose limit the victim's OOM hit: the nearest of its memory cgroup and their
 * ancestors that is at its limit; 0 when none is (an OOM of the whole system). */
static __always_inline __u64 oom_memcg_id(struct task_struct *victim)
{
	__u32 mem = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	struct cgroup_subsys_state *css = NULL;
	void *slot = (void *)BPF_CORE_READ(victim, cgroups) +
		     bpf_core_field_offset(struct css_set, subsys) + (mem & 15) * sizeof(void *);
	bpf_probe_read_kernel(&css, sizeof(css), slot);
	if (!css)
		return 0;
	struct mem_cgroup *memcg = (void *)css; /* css is mem_cgroup's first member */
	struct page_counter *pc = &memcg->memory;
	__u32 off = bpf_core_field_offset(struct mem_cgroup, memory);
	for (int i = 0; i < 16 && pc; i++) {
		__u64 max = BPF_CORE_READ(pc, max);
		__u64 usage = BPF_CORE_READ(pc, usage.counter);
		if (max < FW_NO_LIMIT_PAGES && usage + FW_OOM_SLACK_PAGES >= max) {
			struct mem_cgroup *hit = (void *)pc - off;
			return fw_kernfs_id_read(BPF_CORE_READ(hit, css.cgroup, kn));
		}
		pc = BPF_CORE_READ(pc, parent);
	}
	return 0;
}

/* The OOM killer chose a victim (after sending it SIGKILL). Its kernel-sent SIGKILL is marked as
 * the OOM killer's; a victim already killed by a user keeps that sender. */
SEC("tp_btf/mark_victim")
int BPF_PROG(handle_oom_victim, struct task_struct *task, uid_t uid)
{
	struct fw_proc_key k = proc_key(task);
	struct fw_exit_sender *f = bpf_map_lookup_elem(&fatal, &k);
	if (f && !(f->flags & FW_SENDER_KERNEL))
		return 0;
	struct fw_exit_sender v = {
		.signal = FW_SIGKILL,
		.flags = FW_SENDER_KERNEL | FW_SENDER_OOM,
		.oom_memcg_id = oom_memcg_id(task),
	};
	bpf_map_update_elem(&fatal, &k, &v, BPF_ANY);
	return 0;
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(handle_attach, struct cgroup *dst, const char *path, struct task_struct *task,
	     bool threadgroup)
{
	/* Only moves within the grouping hierarchy matter. */
	if (dst->root->hierarchy_id != (int)cgroup_hierarchy)
		return 0;
	__u64 dst_id = fw_kernfs_id(dst->kn);
	/* The destination gets its row now, so that its release (cgroup_notify_populated) is
	 * counted even if no process forks or exits in it. */
	counters(dst_id);
	struct fw_event_hdr *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost(FW_EV_MIGRATE);
		return 0;
	}
	__u64 now = bpf_ktime_get_boot_ns();
	fw_fill_hdr(e, FW_EV_MIGRATE, sizeof(*e), task, dst_id, now);
	if (threadgroup)
		e->flags = FW_F_THREADGROUP;
	bpf_ringbuf_submit(e, wake_flag(now, sizeof(*e), 0));
	return 0;
}

/* cgroup mkdir / rmdir name every cgroup before any event can refer to it, so a cgroup that is
 * gone by the time user space reads its events is still named. */
static __always_inline int cgroup_record(__u16 type, struct cgroup *cg, const char *path)
{
	int hid = cg->root->hierarchy_id;
	if (hid != (int)cgroup_hierarchy)
		return 0;

	__u32 zero = 0;
	struct fw_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	struct fw_cgroup_event *e = (void *)&s->ev;
	char *data = (char *)(e + 1);
	__u64 now = bpf_ktime_get_boot_ns();
	struct task_struct *t = bpf_get_current_task_btf();

	fw_fill_hdr(&e->hdr, type, 0, t, fw_kernfs_id(cg->kn), now);
	e->hierarchy_id = hid;
	e->_pad = 0;
	long n = bpf_probe_read_kernel_str(data, FW_PATH_CAP, path);
	if (n <= 0) {
		data[0] = 0;
		n = 1;
	}
	__u32 len = n & (FW_PATH_CAP - 1);
	if (n >= FW_PATH_CAP)
		len = FW_PATH_CAP;
	if (n >= FW_TRACE_CGROUP_PATH_LEN)
		e->hdr.flags |= FW_F_PATH_TRUNC;
	e->path_len = len;
	__u32 size = sizeof(*e) + len;
	e->hdr.size = size;
	barrier_var(size);
	if (size > sizeof(*s))
		return 0;
	if (bpf_ringbuf_output(&events, e, size, wake_flag(now, size, 0)))
		count_lost(type);
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(handle_mkdir, struct cgroup *cg, const char *path)
{
	return cgroup_record(FW_EV_CGROUP_MKDIR, cg, path);
}

/* A removed cgroup's direct-mapped rows are folded into its row, and the row marked, before the
 * record: user space retires it whole, and even when the record is lost. Two programs, one loaded
 * (addon/loader.cc ChooseRowLayout): with cg_fast in use the fold's bpf_loop and
 * bpf_map_lookup_percpu_elem (v5.19) are needed, which older kernels' verifiers refuse. */
static __always_inline int rmdir_common(struct cgroup *cg, const char *path, bool fold)
{
	if (cg->root->hierarchy_id == (int)cgroup_hierarchy) {
		__u64 cgid = fw_kernfs_id(cg->kn);
		if (fold)
			fold_rows(cgid);
		struct fw_cg_counters *c = bpf_map_lookup_elem(&cg_counters, &cgid);
		if (c)
			c->removed = 1;
	}
	return cgroup_record(FW_EV_CGROUP_RMDIR, cg, path);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(handle_rmdir, struct cgroup *cg, const char *path)
{
	return rmdir_common(cg, path, false);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(handle_rmdir_fold, struct cgroup *cg, const char *path)
{
	return rmdir_common(cg, path, true);
}

/* On-CPU time per cgroup: at each switch, the outgoing task's runtime since it was switched in,
 * from se.sum_exec_runtime (brought up to date by put_prev_task() before this tracepoint) -- the
 * same clock as cpu.stat's usage_usec, so irq time the kernel does not charge to tasks is not
 * charged here either. The time accrues in the CPU's slot (fw_oncpu.acc_ns) and moves into the
 * cgroup's row only when the CPU switches to a task of another cgroup, or to idle (a CPU about to
 * idle has the time, and a cgroup's time never waits in a slot while the CPU sleeps, where its
 * rmdir could outrun it). User space adds what the slots hold when it reads, the slice still
 * running too (see fw_oncpu). Loaded only for a v1 grouping hierarchy: on v2, cpu.stat has it. */
SEC("tp_btf/sched_switch")
int BPF_PROG(handle_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	if (FW_KO_EMPTY)
		return 0;
	__u32 zero = 0;
	struct fw_oncpu *o = bpf_map_lookup_elem(&oncpu, &zero);
	if (!o)
		return 0;
	__u32 tid = next->pid;
	/* The idle task (pid 0) belongs to no cgroup. */
	__u64 next_cgid = tid ? task_cgroup_id(next) : 0;

	/* Only a slot this program filled for this very task is charged (not the first switch seen). */
	if (o->cgroup_id && o->tid == prev->pid) {
		__u64 runtime = prev->se.sum_exec_runtime;
		if (runtime > o->runtime_ns)
			o->acc_ns += runtime - o->runtime_ns;
	}
	if (o->acc_ns && next_cgid != o->cgroup_id) {
		/* A task's last switch-outs may come after its cgroup's rmdir (and its row's retirement):
		 * an exiting task's time goes to a row that exists, never makes one that nothing would
		 * retire (it is dropped then, as the map being full drops it). */
		struct fw_cg_counters *c =
			prev->flags & FW_PF_EXITING
				? (FW_KO_COUNTERS
					   ? NULL
					   : bpf_map_lookup_elem(&cg_counters, &o->cgroup_id))
				: counters(o->cgroup_id);
		o->seq++;
		if (c)
			c->cpu_ns += o->acc_ns;
		o->acc_ns = 0;
		o->seq++;
	}
	o->since_ns = bpf_ktime_get_ns();
	o->tid = tid;
	o->cgroup_id = next_cgid;
	o->runtime_ns = next->se.sum_exec_runtime;
	return 0;
}

/* A cgroup of the grouping hierarchy became unpopulated: no task left in it or below (its last
 * one exited or moved out). Counted per cgroup as its releases, in a row that exists: a cgroup
 * that held tasks of its own has one (their move or seed made it, or their counts in cg_fast); an ancestor that only
 * held populated children gets none, so a churn of cgroups does not take a row for each parent. */
static __always_inline int populated_common(struct cgroup *cg, int val, bool fast)
{
	if (val || cg->root->hierarchy_id != (int)cgroup_hierarchy)
		return 0;
	__u64 cgid = fw_kernfs_id(cg->kn);
	struct fw_cg_counters *c = bpf_map_lookup_elem(&cg_counters, &cgid);
	/* Its tasks may all have counted in cg_fast: it held tasks of its own, so it gets a row. */
	if (!c && fast && has_fast_rows(cgid))
		c = counters(cgid);
	if (c)
		c->releases++;
	return 0;
}

SEC("tp_btf/cgroup_notify_populated")
int BPF_PROG(handle_populated, struct cgroup *cg, const char *path, int val)
{
	return populated_common(cg, val, false);
}

/* With cg_fast in use (see handle_rmdir_fold). */
SEC("tp_btf/cgroup_notify_populated")
int BPF_PROG(handle_populated_fold, struct cgroup *cg, const char *path, int val)
{
	return populated_common(cg, val, true);
}

/* Run once by the loader after attaching: a row for each cgroup that holds a live process, so that
 * its release is counted (handle_populated counts only in rows that exist). */
SEC("iter/task")
int seed_rows(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	if (!t || t->pid != t->tgid || t->signal->live.counter <= 0)
		return 0;
	counters(task_cgroup_id(t));
	return 0;
}

/* The census, run by user space each time it reads the counters: one fw_census per live process
 * (a leader whose process has a thread that has not passed the exit tracepoint, a leader that
 * ended while its threads run on included), in its leader's cgroup, with its live threads. The
 * kernel keeps each task's cgroup; this reads it at the moment of asking, so the fork, exit and
 * move handlers keep no per-process entry (that entry was over half their cost). A thread moved
 * alone to another cgroup is counted with its process. */
SEC("iter/task")
int census(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	if (!t || t->pid != t->tgid)
		return 0;
	int n = t->signal->live.counter;
	if (n <= 0)
		return 0;
	struct fw_census v = { .cgroup_id = task_cgroup_id(t), .threads = n };
	bpf_seq_write(ctx->meta->seq, &v, sizeof(v));
	return 0;
}
