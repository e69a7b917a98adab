// Reads the kernel's exact counters: per-cgroup counters and agent health, summed over CPUs,
// and the programs' own run time from the kernel's BPF statistics.
#pragma once
#include <bpf/libbpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "proc.h"

namespace fw {

struct CgroupCounters {
  uint64_t cgroup_id;
  fw_cg_counters c;
};

struct ProgStats {
  std::string name;
  uint64_t run_time_ns;
  uint64_t run_cnt;
  uint64_t recursion_misses;
};

// Every cgroup's counts: its cg_counters row plus the cg_fast copies it owns, read again while the
// kernel folds a removed cgroup's copies into its row (fold_seq: bpf/proc.bpf.c).
std::vector<CgroupCounters> ReadCounters(const bpf_map* rows, const bpf_map* fast,
                                         const volatile __u64* fold_seq);  // throws BpfError
// Removes these cgroups' rows and returns what they held last (rows already gone are left out).
std::vector<CgroupCounters> TakeCounters(const bpf_map* map, const std::vector<uint64_t>& ids);
fw_stats ReadStats(const bpf_map* map);               // throws BpfError
std::vector<fw_oncpu> ReadOncpu(const bpf_map* map);  // one per possible CPU
std::vector<ProgStats> ReadProgStats(bpf_object* obj);

}  // namespace fw
