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

std::vector<CgroupCounters> ReadCounters(const bpf_map* map);  // throws BpfError
// Removes these cgroups' rows and returns what they held last (rows already gone are left out).
std::vector<CgroupCounters> TakeCounters(const bpf_map* map, const std::vector<uint64_t>& ids);
fw_stats ReadStats(const bpf_map* map);               // throws BpfError
std::vector<fw_oncpu> ReadOncpu(const bpf_map* map);  // one per possible CPU
std::vector<ProgStats> ReadProgStats(bpf_object* obj);

}  // namespace fw
