// Opens, configures, loads and attaches the proc BPF object; detaches and frees it on Close().
#pragma once
#include <bpf/libbpf.h>
#include <cstdint>
#include <string>
#include <vector>

struct proc;

namespace fw {

// Every field is set from the Probe's options (their defaults: src/config/default.ts); zero here.
struct LoaderOptions {
  uint32_t ring_bytes = 0;
  uint32_t counter_entries = 0;
  uint32_t fast_rows = 0;  // at most; ChooseRowLayout() rounds it down; 0: every row in the hash
  uint32_t cgroup_hierarchy = 0;
  uint32_t argv_max = 0;
  bool thread_events = false;    // record_threads at start (records on demand: interest_map.h)
  bool record_all = false;       // records of every cgroup at start, until user space narrows them
  uint32_t watched_entries = 0;  // cgroups the watched map can hold
  uint64_t wakeup_bytes = 0;
  uint64_t wakeup_ns = 0;
  bool cpu_accounting = false;
  // Claim process exits even where the exit tracepoint passes group_dead: the older kernels' path,
  // for tests on a new kernel.
  bool exit_claim = false;
  // Another build of the same object (bench/bpf-attrib.mjs's knockout variants); empty: the one
  // built into the addon.
  std::string object_path;
};

class Loader {
 public:
  // Throws BpfError naming the step and object that failed; nothing stays loaded then.
  explicit Loader(const LoaderOptions& opts);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  void Close();
  // The live processes now: struct fw_census lines from one pass of the census iterator.
  std::vector<uint8_t> Census();
  bool closed() const { return skel_ == nullptr; }
  struct proc* skel() const {
    return skel_;
  }
  // Programs attached, and programs left out because this kernel lacks their tracepoint.
  const std::vector<std::string>& attached() const { return attached_; }
  const std::vector<std::string>& skipped() const { return skipped_; }
  // The staging areas (proc.bpf.c `stage`): one per possible CPU, of stage_bytes() data bytes each.
  uint32_t stage_cpus() const { return stage_cpus_; }
  uint64_t stage_bytes() const { return stage_bytes_; }
  // How a process's exit is told from its threads': "group_dead" or "claim" (see proc.bpf.c).
  const char* exit_decision() const { return exit_claim_ ? "claim" : "group_dead"; }
  // Direct-mapped counter rows in use (proc.bpf.c cg_fast): their slots, or 0 (every row in the hash).
  uint32_t fast_rows() const;

 private:
  void SkipMissingTracepoints(const btf* vmlinux, bool cpu_accounting);
  void ChooseExitDecision(const btf* vmlinux, bool force_claim);
  void Open(const LoaderOptions& opts, const bpf_object_open_opts* open_opts);
  void Seed();
  void SizeStages(uint32_t ring_bytes);
  void ChooseRowLayout(const btf* vmlinux, uint32_t rows);
  uint32_t stage_cpus_ = 0;
  uint64_t stage_bytes_ = 0;
  bool IsIterator(const bpf_program* prog) const;
  void RunIter(bpf_program* prog, bpf_link** link, std::vector<uint8_t>* out);
  bpf_link* census_link_ = nullptr;  // made at the first Census(), kept until Close()
  struct proc* skel_ = nullptr;
  std::vector<uint8_t> object_;  // objectPath's bytes: libbpf reads them until the load
  bool exit_claim_ = false;
  std::vector<bpf_link*> links_;
  std::vector<std::string> attached_;
  std::vector<std::string> skipped_;
};

}  // namespace fw
