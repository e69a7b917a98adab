/**
 * Byte layout of the records in bpf/proc.h, mirrored for the decoder. test/events/layout.test.ts
 * checks every offset and size here against the BTF of the compiled BPF object, so the two cannot
 * drift apart silently.
 */

export const EventType = {
  FORK: 1,
  EXEC: 2,
  EXIT: 3,
  MIGRATE: 4,
  CGROUP_MKDIR: 5,
  CGROUP_RMDIR: 6,
} as const;
export const EVENT_TYPE_MAX = 7;

export const Flags = {
  THREAD: 1,
  ARGV_TRUNC: 2,
  FILENAME_TRUNC: 4,
  THREADGROUP: 8,
  /** cgroup mkdir / rmdir: the kernel cut the path (it filled TRACE_CGROUP_PATH_LEN). */
  PATH_TRUNC: 16,
  /** exit: the OOM killer chose the process; its SIGKILL ended it. */
  OOM: 32,
  /** exit: a fw_exit_sender (who sent the fatal signal) follows the exit record. */
  SENDER: 64,
} as const;

/** fw_exit_sender.flags (FW_SENDER_* in bpf/proc.h). */
export const SenderFlags = {
  KERNEL: 1,
  OOM: 2,
} as const;

/** A watched cgroup's flags (FW_WATCH_* in bpf/proc.h): which of its events become records. */
export const Watch = {
  RECORDS: 1,
  THREADS: 2,
} as const;

/** struct name -> field -> [byte offset, byte size]. */
export const LAYOUT = {
  fw_event_hdr: {
    size: 72,
    fields: {
      type: [0, 2],
      size: [2, 2],
      flags: [4, 4],
      ts_ns: [8, 8],
      cgroup_id: [16, 8],
      start_ns: [24, 8],
      pid: [32, 4],
      tid: [36, 4],
      ppid: [40, 4],
      uid: [44, 4],
      ns_pid: [48, 4],
      cpu: [52, 4],
      comm: [56, 16],
    },
  },
  fw_fork_event: { size: 80, fields: { hdr: [0, 72], parent_start_ns: [72, 8] } },
  fw_exec_event: { size: 80, fields: { hdr: [0, 72], old_tid: [72, 4], filename_len: [76, 2], argv_len: [78, 2] } },
  fw_exit_event: { size: 88, fields: { hdr: [0, 72], status: [72, 4], _pad: [76, 4], cpu_ns: [80, 8] } },
  fw_exit_sender: {
    size: 56,
    fields: { cgroup_id: [0, 8], start_ns: [8, 8], oom_memcg_id: [16, 8], pid: [24, 4], signal: [28, 4], flags: [32, 4], _pad: [36, 4], comm: [40, 16] },
  },
  fw_cgroup_event: { size: 80, fields: { hdr: [0, 72], hierarchy_id: [72, 4], path_len: [76, 2], _pad: [78, 2] } },
  fw_cg_counters: {
    size: 584,
    fields: {
      forks: [0, 8],
      threads: [8, 8],
      execs: [16, 8],
      exits_success: [24, 8],
      exits_failure: [32, 8],
      thread_exits: [40, 8],
      lifetime_sum_ns: [48, 8],
      lifetime: [56, 8 * 29],
      exits_signaled: [288, 8],
      oom_kills: [296, 8],
      cpu_ns: [304, 8],
      removed: [312, 8],
      releases: [320, 8],
      signals: [328, 8 * 32],
    },
  },
  fw_stats: {
    size: 88,
    fields: {
      lost: [0, 56],
      counter_full: [56, 8],
      wakeups: [64, 8],
      exit_claims: [72, 8],
      exit_claims_released: [80, 8],
    },
  },
  fw_census: { size: 16, fields: { cgroup_id: [0, 8], threads: [8, 4], _pad: [12, 4] } },
  fw_oncpu: { size: 40, fields: { since_ns: [0, 8], cgroup_id: [8, 8], runtime_ns: [16, 8], tid: [24, 4], seq: [28, 4], acc_ns: [32, 8] } },
} as const;

/** Offsets the decoder reads, named once. */
export const HDR = LAYOUT.fw_event_hdr.fields;
export const HDR_SIZE = LAYOUT.fw_event_hdr.size;
export const COUNTERS = LAYOUT.fw_cg_counters;
/** Each row of NativeProbe.readCounters(): u64 cgroup id, then fw_cg_counters. */
export const COUNTER_ROW_SIZE = 8 + COUNTERS.size;
/** Slots of the lifetime histogram (FW_LIFETIME_SLOTS): slot i counts lifetimes under 2^i ms, the last the rest. */
export const LIFETIME_SLOTS = 29;
/** Slots of exits by signal (FW_SIGNAL_SLOTS): slot n for signal n, slot 0 for signals from 32 (real-time). */
export const SIGNAL_SLOTS = 32;
