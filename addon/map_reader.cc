#include "map_reader.h"

#include <bpf/bpf.h>

#include <sched.h>

#include <cerrno>
#include <unordered_map>

#include "errors.h"

namespace fw {
namespace {

int PossibleCpus() {
  static int n = libbpf_num_possible_cpus();
  return n > 0 ? n : 1;
}

// Adds one value to another field by field (every field is a __u64).
template <typename T>
void AddTo(const T& value, T* out) {
  constexpr size_t kFields = sizeof(T) / sizeof(uint64_t);
  static_assert(sizeof(T) % sizeof(uint64_t) == 0, "u64 fields only");
  auto* dst = reinterpret_cast<uint64_t*>(out);
  auto* src = reinterpret_cast<const uint64_t*>(&value);
  for (size_t i = 0; i < kFields; i++) dst[i] += src[i];
}

// Per-CPU values: one slot per possible CPU, summed.
template <typename T>
void SumSlots(const std::vector<T>& slots, T* out) {
  for (const T& slot : slots) AddTo(slot, out);
}

std::vector<CgroupCounters> ReadRows(const bpf_map* map) {
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

// Adds each CPU's copy of each cg_fast slot to its owner's row (a row made for an owner without
// one). The whole array in one BPF_MAP_LOOKUP_BATCH: slots times possible CPUs copies.
void AddFastRows(const bpf_map* fast, std::vector<CgroupCounters>* rows) {
  uint32_t slots = bpf_map__max_entries(fast);
  size_t cpus = static_cast<size_t>(PossibleCpus());
  std::vector<uint32_t> keys(slots);
  std::vector<fw_cg_fast> copies(static_cast<size_t>(slots) * cpus);
  uint32_t out_batch = 0, count = slots;
  int err = bpf_map_lookup_batch(bpf_map__fd(fast), nullptr, &out_batch, keys.data(), copies.data(), &count, nullptr);
  if (err && errno != ENOENT) throw BpfError{"bpf_map_lookup_batch", "cg_fast", errno};
  std::unordered_map<uint64_t, size_t> at;
  for (size_t i = 0; i < rows->size(); i++) at[(*rows)[i].cgroup_id] = i;
  for (size_t i = 0; i < static_cast<size_t>(count) * cpus; i++) {
    const fw_cg_fast& copy = copies[i];
    if (!copy.owner) continue;
    auto [it, made] = at.try_emplace(copy.owner, rows->size());
    if (made) rows->push_back(CgroupCounters{copy.owner, {}});
    AddTo(copy.c, &(*rows)[it->second].c);
  }
}

}  // namespace

std::vector<CgroupCounters> ReadCounters(const bpf_map* rows, const bpf_map* fast, const volatile __u64* fold_seq) {
  // A seqlock read: a fold between reading the rows and the copies would count what it moved
  // twice or not at all. Folds are one per cgroup rmdir and take microseconds; after 64 tries in a
  // storm of them, the last read stands (off by what one fold moved, until the next read).
  std::vector<CgroupCounters> out;
  for (int attempt = 0;; attempt++) {
    uint64_t before = __atomic_load_n(fold_seq, __ATOMIC_ACQUIRE);
    if (before & 1 && attempt < 64) {
      sched_yield();
      continue;
    }
    out = ReadRows(rows);
    AddFastRows(fast, &out);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(fold_seq, __ATOMIC_ACQUIRE) == before || attempt >= 64) return out;
  }
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
