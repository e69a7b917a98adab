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

struct fw_cgroup_event {
	struct fw_event_hdr hdr; /* hdr.cgroup_id is the cgroup made or removed */
	__u32 hierarchy_id;      /* 0 for cgroup v2 */
	__u16 path_len;          /* bytes of path that follow, NUL included */
	__u16 _pad;
	/* char path[path_len]; */
};

/* Exact per-cgroup counters, one per-CPU slot each; summed in user space at read time. */
struct fw_cg_counters {
	__u64 forks;   /* processes created */
	__u64 threads; /* threads created (not processes) */
	__u64 execs;
	__u64 exits_success;  /* process exits with status 0 */
	__u64 exits_failure;  /* non-zero exit status */
	__u64 exits_signaled; /* killed by a signal */
	__u64 thread_exits;   /* threads that ended while their process lived on */
	__u64 cpu_ns;         /* on-CPU time, from sched_switch (when CPU accounting is on) */
	__u64 removed;        /* set by cgroup_rmdir: the row is final, for user space to retire */
};

/* What runs on a CPU now, per CPU: lets user space add the time not yet charged at a switch. */
struct fw_oncpu {
	__u64 since_ns;   /* CLOCK_MONOTONIC of the last switch on this CPU */
	__u64 cgroup_id;  /* cgroup of the task switched in (0: idle) */
	__u64 runtime_ns; /* its se.sum_exec_runtime when it was switched in */
	__u32 tid;        /* the task switched in */
	__u32 _pad;
};

/* Agent health, one per-CPU slot. */
struct fw_stats {
	__u64 lost[FW_EV_TYPE_MAX]; /* records that could not be reserved, by type */
	__u64 counter_full;         /* cgroup counter map was full */
	__u64 wakeups;              /* forced ring buffer wake-ups */
	__u64 exit_claims;          /* process exits decided by a claim (kernels before v6.16) */
	__u64 exit_claims_released; /* claims dropped when their process's leader was freed */
};

/* ---- records on demand (interest) ----
 * Which events become records, set by user space at run time (src/agent/interest.ts): every
 * one (all), or only those of the cgroups in the `watched` map. Counters count either way. */
struct fw_interest {
	__u32 all;     /* records of every cgroup */
	__u32 threads; /* thread create / exit records, where records flow */
};

/* Flags of a watched cgroup (the `watched` map's value). */
#define FW_WATCH_RECORDS 1u /* fork, exec, exit records */
#define FW_WATCH_THREADS 2u /* thread records too, whatever fw_interest.threads says */

#endif /* FORKWATCH_PROC_H */
