#include "map_reader.h"

#include <bpf/bpf.h>

#include <cerrno>

#include "errors.h"

namespace fw {
namespace {

int PossibleCpus() {
  static int n = libbpf_num_possible_cpus();
  return n > 0 ? n : 1;
}

// Per-CPU values: one slot per possible CPU, summed field by field (every field is a __u64).
template <typename T>
void SumSlots(const std::vector<T>& slots, T* out) {
  constexpr size_t kFields = sizeof(T) / sizeof(uint64_t);
  static_assert(sizeof(T) % sizeof(uint64_t) == 0, "u64 fields only");
  auto* dst = reinterpret_cast<uint64_t*>(out);
  for (const T& slot : slots) {
    auto* src = reinterpret_cast<const uint64_t*>(&slot);
    for (size_t i = 0; i < kFields; i++) dst[i] += src[i];
  }
}

}  // namespace

std::vector<CgroupCounters> ReadCounters(const bpf_map* map) {
  int fd = bpf_map__fd(map);
  std::vector<CgroupCounters> out;
  std::vector<fw_cg_counters> slots(PossibleCpus());
  uint64_t key = 0, next = 0;
  uint64_t* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(fd, &key, slots.data()) != 0) {
      if (errno == ENOENT) continue;  // removed between the two calls
      throw BpfError{"bpf_map_lookup_elem", "cg_counters", errno};
    }
    CgroupCounters entry{key, {}};
    SumSlots(slots, &entry.c);
    out.push_back(entry);
  }
  return out;
}

// One BPF_MAP_LOOKUP_AND_DELETE_ELEM per row: what is read is what goes, with no increment in
// between. Hash maps take it since v5.14 ("bpf: Add lookup_and_delete_elem support to hashtab");
// before, a lookup then a delete.
std::vector<CgroupCounters> TakeCounters(const bpf_map* map, const std::vector<uint64_t>& ids) {
  int fd = bpf_map__fd(map);
  std::vector<CgroupCounters> out;
  std::vector<fw_cg_counters> slots(PossibleCpus());
  for (uint64_t id : ids) {
    int err = bpf_map_lookup_and_delete_elem(fd, &id, slots.data());
    if (err && errno != ENOENT) {
      err = bpf_map_lookup_elem(fd, &id, slots.data());
      if (err == 0) bpf_map_delete_elem(fd, &id);
    }
    if (err) continue;  // no row: the cgroup never counted anything, or it was taken already
    CgroupCounters entry{id, {}};
    SumSlots(slots, &entry.c);
    out.push_back(entry);
  }
  return out;
}

fw_stats ReadStats(const bpf_map* map) {
  std::vector<fw_stats> slots(PossibleCpus());
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(map), &zero, slots.data()) != 0) throw BpfError{"bpf_map_lookup_elem", "stats", errno};
  fw_stats total{};
  SumSlots(slots, &total);
  return total;
}

std::vector<fw_oncpu> ReadOncpu(const bpf_map* map) {
  std::vector<fw_oncpu> slots(PossibleCpus());
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(map), &zero, slots.data()) != 0) throw BpfError{"bpf_map_lookup_elem", "oncpu", errno};
  return slots;
}

std::vector<ProgStats> ReadProgStats(bpf_object* obj) {
  std::vector<ProgStats> out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    int fd = bpf_program__fd(prog);
    if (fd < 0) continue;
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
    out.push_back({bpf_program__name(prog), info.run_time_ns, info.run_cnt, info.recursion_misses});
  }
  return out;
}

}  // namespace fw
