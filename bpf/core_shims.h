/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Kernel differences, in one place. Each shim names the kernel change that made it necessary;
 * everything else in proc.bpf.c reads the current layout through CO-RE.
 */
#ifndef FORKWATCH_CORE_SHIMS_H
#define FORKWATCH_CORE_SHIMS_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

/* Before v5.5 ("kernfs: use 64bit inos if ino_t is 64bit", 67c0496e87d1) kernfs ids were a union. */
union kernfs_node_id___old {
	struct {
		u32 ino;
		u32 generation;
	};
	u64 id;
};

struct kernfs_node___old {
	union kernfs_node_id___old id;
};

static __always_inline __u64 fw_kernfs_id(struct kernfs_node *kn)
{
	if (bpf_core_type_exists(union kernfs_node_id___old))
		return BPF_CORE_READ((struct kernfs_node___old *)kn, id.ino);
	return kn->id;
}

/* The same, for a node reached through BPF_CORE_READ (a plain value, not a BTF pointer the
 * verifier lets us load from directly). */
static __always_inline __u64 fw_kernfs_id_read(struct kernfs_node *kn)
{
	if (bpf_core_type_exists(union kernfs_node_id___old))
		return BPF_CORE_READ((struct kernfs_node___old *)kn, id.ino);
	return BPF_CORE_READ(kn, id);
}

/* v5.5 renamed task_struct.real_start_time to start_boottime ("time: Rename tsk->real_start_time
 * to ->start_boottime", cf25e24db61c); both count CLOCK_BOOTTIME nanoseconds. */
struct task_struct___old {
	u64 real_start_time;
};

static __always_inline __u64 fw_task_start_ns(struct task_struct *t)
{
	if (bpf_core_field_exists(t->start_boottime))
		return t->start_boottime;
	return BPF_CORE_READ((struct task_struct___old *)t, real_start_time);
}

/* signal_struct.flags bit set once the whole thread group is exiting (include/linux/sched/signal.h).
 * Since v6.0 synchronize_group_exit() sets it for a plain exit of the last thread too; before, only
 * exit_group() and fatal signals set it, and wait(2) reports the leader's exit_code instead. */
#define FW_SIGNAL_GROUP_EXIT 0x00000004

/* task_struct.flags bit set by exit_signals() at the start of do_exit() (include/linux/sched.h). */
#define FW_PF_EXITING 0x00000004

/* v6.16 ("exit: move and extend sched_process_exit() tracepoint") passes do_exit()'s own group_dead
 * -- whether this task made the last signal->live decrement -- as the tracepoint's second argument.
 * Before, nothing at the tracepoint says so (every thread that gets there after the last decrement
 * reads live == 0), and proc.bpf.c claims the exit per process instead. Which program runs is
 * chosen before load, from the tracepoint's prototype in the kernel's BTF (addon/loader.cc,
 * ExitPassesGroupDead): bpf_core_type_matches() could tell in the program, but needs clang 15,
 * and the program that reads the second argument must not even be loaded where it is missing. */

#endif /* FORKWATCH_CORE_SHIMS_H */
