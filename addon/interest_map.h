// Records on demand: writes the interest map (records for all cgroups or for watched ones, thread
// records or not) and the watched cgroup map that bpf/proc.bpf.c's want_record() reads.
#pragma once
#include <bpf/libbpf.h>

#include <cstdint>
#include <vector>

namespace fw {

void WriteInterest(const bpf_map* map, bool all, bool threads);  // keeps `watching`; throws BpfError

// Sets these cgroups' watch flags (FW_WATCH_*); flags 0 removes them. Keeps the interest map's
// count of watched cgroups. Returns how many could not be added because the map is full; any other
// failure throws BpfError.
size_t WriteWatched(const bpf_map* map, const bpf_map* interest, const std::vector<uint64_t>& ids, uint32_t flags);

}  // namespace fw
