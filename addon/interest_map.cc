#include "interest_map.h"

#include <bpf/bpf.h>

#include <cerrno>

#include "errors.h"
#include "proc.h"

namespace fw {

namespace {

fw_interest ReadInterest(int fd) {
  uint32_t key = 0;
  fw_interest v{};
  if (bpf_map_lookup_elem(fd, &key, &v) != 0) throw BpfError{"bpf_map_lookup_elem", "interest", errno};
  return v;
}

void Write(int fd, const fw_interest& v) {
  uint32_t key = 0;
  if (bpf_map_update_elem(fd, &key, &v, BPF_ANY) != 0) throw BpfError{"bpf_map_update_elem", "interest", errno};
}

}  // namespace

void WriteInterest(const bpf_map* map, bool all, bool threads) {
  int fd = bpf_map__fd(map);
  fw_interest v = ReadInterest(fd);  // keeps `watching`
  v.all = all ? 1 : 0;
  v.threads = threads ? 1 : 0;
  Write(fd, v);
}

// `watching` counts the map's entries (this is the only writer), written once they are in or out:
// a cgroup just added may miss records until then, as it may before its own insert; the caller
// reads its processes from /proc after watching it (src/agent/interest.ts).
size_t WriteWatched(const bpf_map* map, const bpf_map* interest, const std::vector<uint64_t>& ids, uint32_t flags) {
  int fd = bpf_map__fd(map);
  int ifd = bpf_map__fd(interest);
  fw_interest in = ReadInterest(ifd);
  const uint32_t was = in.watching;
  size_t full = 0;
  for (uint64_t id : ids) {
    if (flags == 0) {
      if (bpf_map_delete_elem(fd, &id) == 0) {
        if (in.watching > 0) in.watching--;
      } else if (errno != ENOENT) {
        throw BpfError{"bpf_map_delete_elem", "watched", errno};
      }
      continue;
    }
    if (bpf_map_update_elem(fd, &id, &flags, BPF_NOEXIST) == 0) {
      in.watching++;
      continue;
    }
    if (errno == EEXIST && bpf_map_update_elem(fd, &id, &flags, BPF_EXIST) == 0) continue;
    if (errno == E2BIG) {
      full++;
      continue;
    }
    throw BpfError{"bpf_map_update_elem", "watched", errno};
  }
  if (in.watching != was) Write(ifd, in);
  return full;
}

}  // namespace fw
