/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The ABI between proc.bpf.c, the addon and src/events/layout.ts.
 * Fixed-width fields only, explicit padding, every record starts with fw_event_hdr.
 * test/events/layout.test.ts checks the TypeScript offsets against this file's BTF.
 */
#ifndef FORKWATCH_PROC_H
#define FORKWATCH_PROC_H

#define FW_COMM_LEN 16
/* Largest filename / cgroup path a record carries (bytes, NUL included). */
#define FW_PATH_CAP 4096
/* Largest argv budget a user may set (power of two, used as a verifier mask). */
#define FW_ARGV_CAP 16384

enum fw_event_type {
	FW_EV_FORK = 1,
	FW_EV_EXEC = 2,
	FW_EV_EXIT = 3,
	FW_EV_MIGRATE = 4,
	FW_EV_CGROUP_MKDIR = 5,
	FW_EV_CGROUP_RMDIR = 6,
	FW_EV_TYPE_MAX = 7,
};

enum fw_event_flags {
	FW_F_THREAD = 1, /* fork: a thread was created; exit: a thread (not the process) ended */
	FW_F_ARGV_TRUNC = 2,     /* exec: argv did not fit the budget */
	FW_F_FILENAME_TRUNC = 4, /* exec: filename longer than FW_PATH_CAP */
	FW_F_THREADGROUP = 8, /* migrate: the whole process moved (cgroup.procs), not one thread */
	FW_F_PATH_TRUNC = 16, /* cgroup mkdir / rmdir: the path filled the kernel's buffer (cut) */
	FW_F_OOM = 32,        /* exit: the OOM killer chose this process (its SIGKILL ended it) */
	FW_F_SENDER = 64,     /* exit: a struct fw_exit_sender follows the exit record */
};

/* The kernel formats the cgroup tracepoints' path into a buffer this long (TRACE_CGROUP_PATH_LEN,
 * kernel/cgroup/cgroup-internal.h), cutting longer paths: a path that fills it may be a prefix. */
#define FW_TRACE_CGROUP_PATH_LEN 1024

struct fw_event_hdr {
	__u16 type;      /* enum fw_event_type */
	__u16 size;      /* whole record, bytes */
	__u32 flags;     /* enum fw_event_flags */
	__u64 ts_ns;     /* CLOCK_BOOTTIME */
	__u64 cgroup_id; /* cgroup of the task in the grouping hierarchy (v2 unless set) */
	__u64 start_ns;  /* process (group leader) start, CLOCK_BOOTTIME */
	__u32 pid;       /* host tgid */
	__u32 tid;       /* host tid */
	__u32 ppid;      /* real parent's tgid */
	__u32 uid;       /* real uid */
	__u32 ns_pid;    /* tgid inside the task's own pid namespace */
	__u32 cpu;
	char comm[FW_COMM_LEN];
};

struct fw_fork_event {
	struct fw_event_hdr hdr; /* describes the child */
	__u64 parent_start_ns;
};

struct fw_exec_event {
	struct fw_event_hdr hdr;
	__u32 old_tid;      /* tid before exec (differs when a non-leader thread exec'd) */
	__u16 filename_len; /* bytes of filename that follow, NUL included */
	__u16 argv_len;     /* bytes of NUL-separated argv after the filename */
			    /* char filename[filename_len]; char argv[argv_len]; */
};

struct fw_exit_event {
	struct fw_event_hdr hdr;
	__u32 status; /* as wait(2) reports it: code << 8, or signal | 0x80 if core dumped */
	__u32 _pad;
	__u64 cpu_ns; /* user + system CPU of the whole process (of the thread, for thread exits) */
};

/* Who sent the signal that ended a process, seen when it was sent (signal_generate, fatal signals
 * only) or when the OOM killer chose it (mark_victim). Follows fw_exit_event when FW_F_SENDER. */
struct fw_exit_sender {
	__u64 cgroup_id;    /* sender's cgroup in the grouping hierarchy (0: the kernel) */
	__u64 start_ns;     /* sender process's start (with pid, its identity) */
	__u64 oom_memcg_id; /* FW_F_OOM: the memory cgroup whose limit was hit; 0: the whole system */
	__u32 pid;          /* sender tgid; 0: the kernel sent it (a fault, the OOM killer) */
	__u32 signal;       /* the signal sent: the one that ended the process */
	__u32 flags;        /* FW_SENDER_* */
	__u32 _pad;
	char comm[FW_COMM_LEN];
};

#define FW_SENDER_KERNEL 1u /* si_code > 0 (SI_KERNEL, a fault) or SEND_SIG_PRIV: no user sender */
#define FW_SENDER_OOM    2u /* mark_victim: the OOM killer's SIGKILL */

struct fw_cgroup_event {
	struct fw_event_hdr hdr; /* hdr.cgroup_id is the cgroup made or removed */
	__u32 hierarchy_id;      /* 0 for cgroup v2 */
	__u16 path_len;          /* bytes of path that follow, NUL included */
	__u16 _pad;
	/* char path[path_len]; */
};

/* Lifetime histogram: FW_LIFETIME_SLOTS - 1 log2 buckets of milliseconds (< 1, 2, 4, ... 2^27 ms,
 * about 37 hours), then +Inf. */
#define FW_LIFETIME_SLOTS 29

/* Exits by signal are counted per signal number below this; real-time signals in slot 0. */
#define FW_SIGNAL_SLOTS 32

/* Exact per-cgroup counters, one per-CPU slot each; summed in user space at read time. The fields
 * a fork and a plain exit write come first and together (the sum and the short lifetimes' slots
 * beside the exit counters), so an exit touches one or two cache lines of its row, not three: a
 * row is cold again after the kernel work between two events, and each line is a miss. */
struct fw_cg_counters {
	__u64 forks;   /* processes created */
	__u64 threads; /* threads created (not processes) */
	__u64 execs;
	__u64 exits_success; /* process exits with status 0 */
	__u64 exits_failure; /* non-zero exit status */
	__u64 thread_exits;  /* threads that ended while their process lived on */
	__u64 lifetime_sum_ns;
	/* Process lifetimes at exit: slot i counts lifetimes under 2^i ms, the last one the rest. */
	__u64 lifetime[FW_LIFETIME_SLOTS];
	__u64 exits_signaled; /* killed by a signal */
	__u64 oom_kills;      /* process exits by the OOM killer's SIGKILL */
	__u64 cpu_ns;         /* on-CPU time, from sched_switch (when CPU accounting is on) */
	__u64 removed;        /* set by cgroup_rmdir: the row is final, for user space to retire */
	__u64 releases; /* times the cgroup, having held tasks, became unpopulated (none in it or below) */
	/* exits_signaled by signal: slot n for signal n < FW_SIGNAL_SLOTS, slot 0 for the others */
	__u64 signals[FW_SIGNAL_SLOTS];
};

/* A direct-mapped counter row (proc.bpf.c `cg_fast`): one CPU's copy of an array slot, holding the
 * counts of the cgroup it names (owner) on that CPU. 0: free. */
struct fw_cg_fast {
	__u64 owner;
	struct fw_cg_counters c;
};

/* What runs on a CPU now, per CPU: lets user space add the time not yet in cg_counters. The CPU
 * keeps its cgroup's time here (acc_ns) and moves it into the cgroup's row only when it switches to
 * another cgroup (idle included), so a CPU running one cgroup's tasks updates no hash per switch. */
struct fw_oncpu {
	__u64 since_ns;   /* CLOCK_MONOTONIC of the last switch on this CPU */
	__u64 cgroup_id;  /* cgroup of the task switched in (0: idle); acc_ns is its time */
	__u64 runtime_ns; /* its se.sum_exec_runtime when it was switched in */
	__u32 tid;        /* the task switched in */
	__u32 seq;    /* +1 before and after acc_ns moves into cg_counters: odd while it moves */
	__u64 acc_ns; /* on-CPU time of cgroup_id's tasks, charged at switches, not yet in its row */
};

/* Agent health, one per-CPU slot. */
struct fw_stats {
	__u64 lost[FW_EV_TYPE_MAX]; /* records that could not be reserved, by type */
	__u64 counter_full;         /* cgroup counter map was full */
	__u64 wakeups;              /* forced ring buffer wake-ups */
	__u64 exit_claims;          /* process exits decided by a claim (kernels before v6.16) */
	__u64 exit_claims_released; /* claims dropped when their process's leader was freed */
};

/* A CPU's staging area (the `stage` map, one element per possible CPU, mmapped by the reader):
 * fork and exit records are written in place here by the CPU's own handlers, which never nest
 * (process-context tracepoints, preemption off), so no lock and one atomic per record. Positions
 * count bytes from the start and only grow; a record sits at data[pos & mask], contiguous: one that
 * crosses the end goes on into FW_STAGE_SLACK bytes past it. The reader merges the CPUs' records
 * (and the ring's) by time (addon/ring_reader.cc). */
#define FW_STAGE_SLACK 256 /* largest staged record: an exit with its sender (128) fits */
struct fw_stage {
	__u64 head; /* bytes written; advanced by the writer with a full barrier after the record */
	__u64 _pad0[7];
	__u64 tail; /* bytes the reader has taken: written by the reader only */
	__u64 _pad1[7];
	/* __u8 data[stage_mask + 1 + FW_STAGE_SLACK]; */
};

/* Keys a process across pid reuse: its tgid and its leader's start. */
struct fw_proc_key {
	__u32 tgid;
	__u32 _pad;
	__u64 start_ns; /* the leader's start: the same across a non-leader exec (de_thread copies it) */
};

/* The census (iter/task, run by user space when it reads the counters): one line per live process,
 * the cgroup of its leader and its live threads. The kernel keeps which cgroup each task is in; the
 * census reads that at the moment of asking, so no handler keeps a per-process entry. */
struct fw_census {
	__u64 cgroup_id;
	__u32 threads; /* signal->live: threads that have not passed the exit tracepoint */
	__u32 _pad;
};

/* ---- records on demand (interest) ----
 * Which events become records, set by user space at run time (src/agent/interest.ts): every
 * one (all), or only those of the cgroups in the `watched` map. Counters count either way. */
struct fw_interest {
	__u32 all;      /* records of every cgroup */
	__u32 threads;  /* thread create / exit records, where records flow */
	__u32 watching; /* cgroups in the watched map (kept by the addon): 0 skips its lookup */
	__u32 _pad;
};

/* Flags of a watched cgroup (the `watched` map's value). */
#define FW_WATCH_RECORDS 1u /* fork, exec, exit records */
#define FW_WATCH_THREADS 2u /* thread records too, whatever fw_interest.threads says */

#endif /* FORKWATCH_PROC_H */
