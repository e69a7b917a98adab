#include "loader.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>

#include "errors.h"
#include "interest_map.h"
#include "object_check.h"
#include "proc.h"  // record types named in the skeleton's .bss
#include "proc.skel.h"

namespace fw {
namespace {

// Programs the agent cannot do without; the others are skipped where the kernel lacks them.
bool Required(const char* name) {
  return !strcmp(name, "handle_fork") || !strcmp(name, "handle_exec") || !strcmp(name, "handle_exit") ||
         !strcmp(name, "handle_exit_claim");
}

// The number of arguments of a tracepoint's BTF prototype (the first is the tracepoint's own data
// pointer), or -1 when the kernel's BTF lacks it.
int TracepointArgs(const btf* vmlinux, const char* tracepoint) {
  if (!vmlinux) return -1;
  std::string name = std::string("btf_trace_") + tracepoint;
  int id = btf__find_by_name_kind(vmlinux, name.c_str(), BTF_KIND_TYPEDEF);
  if (id < 0) return -1;
  const btf_type* t = btf__type_by_id(vmlinux, btf__type_by_id(vmlinux, id)->type);  // the pointer
  if (!t || !btf_is_ptr(t)) return -1;
  t = btf__type_by_id(vmlinux, t->type);
  return t && btf_is_func_proto(t) ? btf_vlen(t) : -1;
}

// Whether sched_process_exit passes group_dead: v6.16's "exit: move and extend
// sched_process_exit() tracepoint" made its prototype (void *, struct task_struct *, bool).
bool ExitPassesGroupDead(const btf* vmlinux) { return TracepointArgs(vmlinux, "sched_process_exit") == 3; }

// Whether mark_victim passes the victim's task: v6.8's "mm: oom: add uid to mark_victim
// tracepoint" era made it (void *, struct task_struct *, uid_t); before, it passed a pid only, which
// handle_oom_victim cannot use.
bool MarkVictimPassesTask(const btf* vmlinux) { return TracepointArgs(vmlinux, "mark_victim") == 3; }

// Whether the kernel has this BPF helper: its BPF_FUNC_* value is in enum bpf_func_id of its BTF.
bool HasHelper(const btf* vmlinux, const char* func) {
  int id = vmlinux ? btf__find_by_name_kind(vmlinux, "bpf_func_id", BTF_KIND_ENUM) : -1;
  if (id < 0) return false;
  const btf_type* t = btf__type_by_id(vmlinux, id);
  const struct btf_enum* e = btf_enum(t);
  for (int i = 0; i < btf_vlen(t); i++, e++)
    if (!strcmp(btf__name_by_offset(vmlinux, e->name_off), func)) return true;
  return false;
}

// The possible CPUs, which size the per-CPU maps (`map` names the one sized, for the error).
uint32_t PossibleCpus(const char* map) {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) throw BpfError{"libbpf_num_possible_cpus", map, cpus < 0 ? -cpus : EINVAL};
  return static_cast<uint32_t>(cpus);
}

struct BtfFree {
  void operator()(btf* b) const { btf__free(b); }
};

int Errno(long ret) { return ret < 0 ? static_cast<int>(-ret) : (errno ? errno : EINVAL); }

}  // namespace

Loader::Loader(const LoaderOptions& opts) {
  // CO-RE relocations against vmlinux's BTF only: the programs touch core kernel types alone, and
  // without a path of its own libbpf also walks the modules' BTF when a type is missing (as the
  // ___old shims' types are), and listing BTF objects (BPF_BTF_GET_NEXT_ID) needs CAP_SYS_ADMIN
  // on top of CAP_BPF and CAP_PERFMON.
  const char* vmlinux_btf = "/sys/kernel/btf/vmlinux";
  LIBBPF_OPTS(bpf_object_open_opts, open_opts);
  if (access(vmlinux_btf, R_OK) == 0) open_opts.btf_custom_path = vmlinux_btf;
  Open(opts, &open_opts);
  try {
    int err = bpf_map__set_max_entries(skel_->maps.events, opts.ring_bytes);
    if (err) throw BpfError{"bpf_map__set_max_entries", "events", Errno(err)};
    SizeStages(opts.ring_bytes);
    err = bpf_map__set_max_entries(skel_->maps.cg_counters, opts.counter_entries);
    if (err) throw BpfError{"bpf_map__set_max_entries", "cg_counters", Errno(err)};
    err = bpf_map__set_max_entries(skel_->maps.watched, opts.watched_entries);
    if (err) throw BpfError{"bpf_map__set_max_entries", "watched", Errno(err)};

    skel_->rodata->cgroup_hierarchy = opts.cgroup_hierarchy;
    skel_->rodata->argv_max = opts.argv_max;
    skel_->rodata->wakeup_bytes = opts.wakeup_bytes;
    skel_->rodata->wakeup_ns = opts.wakeup_ns;
    std::unique_ptr<btf, BtfFree> vmlinux(btf__load_vmlinux_btf());
    ChooseExitDecision(vmlinux.get(), opts.exit_claim);
    ChooseRowLayout(vmlinux.get(), opts.fast_rows);
    if (!MarkVictimPassesTask(vmlinux.get())) {
      bpf_program__set_autoload(skel_->progs.handle_oom_victim, false);
      skipped_.push_back("handle_oom_victim");
    }
    SkipMissingTracepoints(vmlinux.get(), opts.cpu_accounting);

    err = proc__load(skel_);
    if (err) throw BpfError{"bpf_object__load", "proc", Errno(err)};
    // Before the first attach, so the first event already follows it.
    WriteInterest(skel_->maps.interest, opts.record_all, opts.thread_events);

    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) {
      if (!bpf_program__autoload(prog) || IsIterator(prog)) continue;
      bpf_link* link = bpf_program__attach(prog);
      if (!link) throw BpfError{"bpf_program__attach", bpf_program__name(prog), Errno(0)};
      links_.push_back(link);
      attached_.push_back(bpf_program__name(prog));
    }
    Seed();
  } catch (...) {
    Close();
    throw;
  }
}

Loader::~Loader() { Close(); }

// The skeleton over the object built into the addon, or over another build of it read from
// objectPath (checked first: the skeleton and the decoder rely on its maps, globals and records).
void Loader::Open(const LoaderOptions& opts, const bpf_object_open_opts* open_opts) {
  if (opts.object_path.empty()) {
    skel_ = proc__open_opts(open_opts);
    if (!skel_) throw BpfError{"bpf_object__open", "proc", Errno(0)};
    return;
  }
  object_ = ReadObjectFile(opts.object_path);
  size_t builtin_size = 0;
  const void* builtin = proc__elf_bytes(&builtin_size);
  CheckSameObject(builtin, builtin_size, object_, opts.object_path);
  skel_ = static_cast<proc*>(calloc(1, sizeof(proc)));
  if (!skel_) throw BpfError{"calloc", "proc", ENOMEM};
  int err = proc__create_skeleton(skel_);
  if (!err) {
    skel_->skeleton->data = object_.data();
    skel_->skeleton->data_sz = object_.size();
    err = bpf_object__open_skeleton(skel_->skeleton, open_opts);
  }
  if (err) {
    proc__destroy(skel_);
    skel_ = nullptr;
    throw BpfError{"bpf_object__open_skeleton", opts.object_path, Errno(err)};
  }
}

bool Loader::IsIterator(const bpf_program* prog) const { return prog == skel_->progs.seed_rows || prog == skel_->progs.census; }

// One pass of a task iterator, read to its end; its output appended to *out (nullptr: dropped).
void Loader::RunIter(bpf_program* prog, bpf_link** link, std::vector<uint8_t>* out) {
  if (!*link) {
    *link = bpf_program__attach_iter(prog, nullptr);
    if (!*link) throw BpfError{"bpf_program__attach_iter", bpf_program__name(prog), Errno(0)};
  }
  int fd = bpf_iter_create(bpf_link__fd(*link));
  int err = fd < 0 ? errno : 0;
  uint8_t buf[16384];
  while (!err) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n > 0) {
      if (out) out->insert(out->end(), buf, buf + n);
    } else if (errno != EINTR && errno != EAGAIN) {
      err = errno;
    }
  }
  if (fd >= 0) close(fd);
  if (err) throw BpfError{"bpf_iter_create/read", bpf_program__name(prog), err};
}

// Gives every cgroup that holds a live process its counter row (proc.bpf.c, seed_rows), so its
// release is counted; from here on the handlers make rows.
void Loader::Seed() {
  bpf_link* link = nullptr;
  try {
    RunIter(skel_->progs.seed_rows, &link, nullptr);
  } catch (...) {
    bpf_link__destroy(link);
    throw;
  }
  bpf_link__destroy(link);
}

// The live processes now, as struct fw_census lines (proc.bpf.c, census).
std::vector<uint8_t> Loader::Census() {
  std::vector<uint8_t> out;
  RunIter(skel_->progs.census, &census_link_, &out);
  return out;
}

// One staging area per possible CPU (struct fw_stage, proc.h), each a power of two of data bytes:
// the ring's size shared among the CPUs, between 4 KiB and 2 MiB (so a small ring, which a config
// may ask for to bound memory, makes small staging areas too). 2 MiB holds about 25,000 fork and
// exit records: on 2 CPUs a storm of forks on both starves the reader for longer than 1 MiB lasted
// (test/export/file.test.ts lost records to it). An array's value may be up to KMALLOC_MAX_SIZE.
void Loader::SizeStages(uint32_t ring_bytes) {
  uint32_t cpus = PossibleCpus("stage");
  uint64_t share = ring_bytes / cpus;
  uint64_t bytes = 4u << 10;
  while (bytes < (2u << 20) && bytes * 2 <= share) bytes *= 2;
  stage_cpus_ = cpus;
  stage_bytes_ = bytes;
  int err = bpf_map__set_max_entries(skel_->maps.stage, stage_cpus_);
  if (!err) err = bpf_map__set_value_size(skel_->maps.stage, sizeof(fw_stage) + bytes + FW_STAGE_SLACK);
  if (err) throw BpfError{"bpf_map__set_value_size", "stage", Errno(err)};
  skel_->rodata->stage_mask = bytes - 1;
}

// The direct-mapped counter rows (proc.bpf.c cg_fast): a power of two of slots, at most `rows`, and
// at most kFastRowBudget bytes over all possible CPUs (each slot has a copy per CPU, all read at every
// scrape): 1024 slots on 2 CPUs take 1.2 MiB, and 64 CPUs get 64 slots. None when `rows` is 0 or the
// kernel lacks what the fold at rmdir needs (bpf_loop, v5.17; bpf_map_lookup_percpu_elem, v5.19):
// then every row is in the hash, and the rmdir and populated programs without the fold are loaded.
void Loader::ChooseRowLayout(const btf* vmlinux, uint32_t rows) {
  constexpr uint64_t kFastRowBudget = 4u << 20;
  uint32_t cpus = PossibleCpus("cg_fast");
  bool on = rows > 0 && HasHelper(vmlinux, "BPF_FUNC_loop") && HasHelper(vmlinux, "BPF_FUNC_map_lookup_percpu_elem");
  uint64_t fit = kFastRowBudget / (sizeof(fw_cg_fast) * cpus);
  uint64_t slots = 1;
  while (on && slots * 2 <= rows && slots * 2 <= fit) slots *= 2;
  int err = bpf_map__set_max_entries(skel_->maps.cg_fast, static_cast<uint32_t>(slots));
  if (err) throw BpfError{"bpf_map__set_max_entries", "cg_fast", Errno(err)};
  skel_->rodata->fast_rows = on;
  skel_->rodata->fast_mask = static_cast<uint32_t>(slots - 1);
  skel_->rodata->nr_cpus = cpus;
  bpf_program__set_autoload(skel_->progs.handle_rmdir, !on);
  bpf_program__set_autoload(skel_->progs.handle_rmdir_fold, on);
  bpf_program__set_autoload(skel_->progs.handle_populated, !on);
  bpf_program__set_autoload(skel_->progs.handle_populated_fold, on);
}

uint32_t Loader::fast_rows() const { return skel_ && skel_->rodata->fast_rows ? bpf_map__max_entries(skel_->maps.cg_fast) : 0; }

// tp_btf programs need the tracepoint's btf_trace_<name> type in the kernel's BTF.
void Loader::SkipMissingTracepoints(const btf* vmlinux, bool cpu_accounting) {
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel_->obj) {
    if (!bpf_program__autoload(prog)) continue;  // not this kernel's choice (ChooseExitDecision, ChooseRowLayout)
    if (IsIterator(prog)) continue;              // run by Seed() and Census(), not attached
    const char* name = bpf_program__name(prog);
    bool wanted = cpu_accounting || strcmp(name, "handle_switch") != 0;
    const char* sec = bpf_program__section_name(prog);
    const char* tp = strchr(sec, '/');
    bool present = true;
    if (vmlinux && tp) {
      std::string type = std::string("btf_trace_") + (tp + 1);
      present = btf__find_by_name_kind(vmlinux, type.c_str(), BTF_KIND_TYPEDEF) >= 0;
    }
    if (!present && Required(name)) {
      throw BpfError{"btf__find_by_name_kind", std::string("btf_trace_") + (tp + 1), ENOENT};
    }
    if (!wanted || !present) {
      bpf_program__set_autoload(prog, false);
      if (wanted) skipped_.push_back(name);
    }
  }
}

// One exit program: the tracepoint's own group_dead where it has one, else the claim, which needs
// its map sized and the leader's free to drop claims. The other is not loaded (handle_exit would
// not pass the verifier where the argument is missing).
void Loader::ChooseExitDecision(const btf* vmlinux, bool force_claim) {
  exit_claim_ = force_claim || !ExitPassesGroupDead(vmlinux);
  bpf_program__set_autoload(skel_->progs.handle_exit, !exit_claim_);
  bpf_program__set_autoload(skel_->progs.handle_exit_claim, exit_claim_);
  bpf_program__set_autoload(skel_->progs.handle_free, exit_claim_);
  if (!exit_claim_) {
    int err = bpf_map__set_max_entries(skel_->maps.exit_claims, 1);
    if (err) throw BpfError{"bpf_map__set_max_entries", "exit_claims", Errno(err)};
  }
}

void Loader::Close() {
  for (bpf_link* link : links_) bpf_link__destroy(link);
  links_.clear();
  bpf_link__destroy(census_link_);
  census_link_ = nullptr;
  if (skel_) proc__destroy(skel_);
  skel_ = nullptr;
}

}  // namespace fw
