#include "object_check.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "errors.h"

namespace fw {
namespace {

struct ObjectClose {
  void operator()(bpf_object* o) const { bpf_object__close(o); }
};
using Object = std::unique_ptr<bpf_object, ObjectClose>;

// The ABI of bpf/proc.h and the sections the skeleton maps into memory.
const char* const kRecords[] = {"fw_event_hdr",   "fw_fork_event", "fw_exec_event", "fw_exit_event", "fw_cgroup_event",
                                "fw_cg_counters", "fw_cg_fast",    "fw_stats",      "fw_oncpu"};
const char* const kSections[] = {".rodata", ".bss", ".data"};

Object Open(const void* data, size_t size, const std::string& path) {
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "proc");
  bpf_object* obj = bpf_object__open_mem(data, size, &opts);
  if (!obj) throw BpfError{"bpf_object__open", path, errno ? errno : EINVAL};
  return Object(obj);
}

// "name off size, ..." of a data section's variables; empty when the section is absent.
std::string SectionVars(const btf* b, const char* section) {
  std::string out;
  int id = b ? btf__find_by_name_kind(b, section, BTF_KIND_DATASEC) : -1;
  if (id < 0) return out;
  const btf_type* t = btf__type_by_id(b, id);
  const btf_var_secinfo* v = btf_var_secinfos(t);
  for (int i = 0; i < btf_vlen(t); i++, v++) {
    const btf_type* var = btf__type_by_id(b, v->type);
    out += std::string(btf__name_by_offset(b, var->name_off)) + " " + std::to_string(v->offset) + " " + std::to_string(v->size) +
           ", ";
  }
  return out;
}

long RecordSize(const btf* b, const char* name) {
  int id = b ? btf__find_by_name_kind(b, name, BTF_KIND_STRUCT) : -1;
  return id < 0 ? -1 : btf__resolve_size(b, id);
}

// What differs between the reference object and the candidate, or "" when nothing the agent relies on.
std::string Difference(const bpf_object* want, const bpf_object* got) {
  bpf_program* p;
  bpf_object__for_each_program(p, want) {
    const bpf_program* q = bpf_object__find_program_by_name(got, bpf_program__name(p));
    if (!q) return std::string("no program ") + bpf_program__name(p);
    if (strcmp(bpf_program__section_name(p), bpf_program__section_name(q)) != 0)
      return std::string("program ") + bpf_program__name(p) + " is in section " + bpf_program__section_name(q) + ", not " +
             bpf_program__section_name(p);
  }
  bpf_map* m;
  bpf_object__for_each_map(m, want) {
    const bpf_map* n = bpf_object__find_map_by_name(got, bpf_map__name(m));
    if (!n) return std::string("no map ") + bpf_map__name(m);
    if (bpf_map__type(m) != bpf_map__type(n) || bpf_map__key_size(m) != bpf_map__key_size(n) ||
        bpf_map__value_size(m) != bpf_map__value_size(n))
      return std::string("map ") + bpf_map__name(m) + " has another type, key or value size";
  }
  const btf* wb = bpf_object__btf(want);
  const btf* gb = bpf_object__btf(got);
  if (!gb) return "no BTF";
  for (const char* sec : kSections) {
    if (SectionVars(wb, sec) != SectionVars(gb, sec)) return std::string("the variables of ") + sec + " differ";
  }
  for (const char* rec : kRecords) {
    if (RecordSize(wb, rec) != RecordSize(gb, rec)) return std::string("struct ") + rec + " has another size";
  }
  return "";
}

}  // namespace

std::vector<uint8_t> ReadObjectFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw BpfError{"open", path, errno};
  std::vector<uint8_t> out;
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      throw BpfError{"read", path, err};
    }
    if (n == 0) break;
    if (out.size() + n > (64u << 20)) {  // far above any build of proc.bpf.c: not one
      close(fd);
      throw BpfError{"read", path, EFBIG};
    }
    out.insert(out.end(), buf, buf + n);
  }
  close(fd);
  return out;
}

void CheckSameObject(const void* reference, size_t reference_size, const std::vector<uint8_t>& bytes, const std::string& path) {
  Object want = Open(reference, reference_size, "proc");
  Object got = Open(bytes.data(), bytes.size(), path);
  std::string diff = Difference(want.get(), got.get());
  if (!diff.empty()) throw BpfError{"bpf_object__open", path, EINVAL, diff + ": not a build of bpf/proc.bpf.c"};
}

}  // namespace fw
