#include "interest_map.h"

#include <bpf/bpf.h>

#include <cerrno>

#include "errors.h"
#include "proc.h"

namespace fw {

void WriteInterest(const bpf_map* map, bool all, bool threads) {
  uint32_t key = 0;
  fw_interest v{};
  v.all = all ? 1 : 0;
  v.threads = threads ? 1 : 0;
  if (bpf_map_update_elem(bpf_map__fd(map), &key, &v, BPF_ANY) != 0) throw BpfError{"bpf_map_update_elem", "interest", errno};
}

size_t WriteWatched(const bpf_map* map, const std::vector<uint64_t>& ids, uint32_t flags) {
  int fd = bpf_map__fd(map);
  size_t full = 0;
  for (uint64_t id : ids) {
    if (flags == 0) {
      if (bpf_map_delete_elem(fd, &id) != 0 && errno != ENOENT) throw BpfError{"bpf_map_delete_elem", "watched", errno};
      continue;
    }
    if (bpf_map_update_elem(fd, &id, &flags, BPF_ANY) == 0) continue;
    if (errno == E2BIG) {
      full++;
      continue;
    }
    throw BpfError{"bpf_map_update_elem", "watched", errno};
  }
  return full;
}

}  // namespace fw
