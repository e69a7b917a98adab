// Module entry: exports Probe and a few free functions. Argument checks here; no business rules.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <napi.h>
#include <time.h>

#include "pidfd.h"
#include "probe.h"
#include "proc.h"
#include "spawn.h"

namespace {

// clocks(): [CLOCK_REALTIME ns, CLOCK_BOOTTIME ns] read back to back, to place kernel timestamps.
Napi::Value Clocks(const Napi::CallbackInfo& info) {
  timespec rt{}, bt{};
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_BOOTTIME, &bt);
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out[0u] = Napi::BigInt::New(info.Env(), static_cast<uint64_t>(rt.tv_sec * 1000000000ll + rt.tv_nsec));
  out[1u] = Napi::BigInt::New(info.Env(), static_cast<uint64_t>(bt.tv_sec * 1000000000ll + bt.tv_nsec));
  return out;
}

// features(tracepoints: string[]): what this kernel offers, for `forkwatch doctor`.
Napi::Value Features(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "features(tracepoints) needs an array");
  Napi::Object out = Napi::Object::New(env);
  btf* vmlinux = btf__load_vmlinux_btf();
  out.Set("btf", vmlinux != nullptr);
  out.Set("ringbuf", libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1);
  Napi::Object tps = Napi::Object::New(env);
  Napi::Array names = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < names.Length(); i++) {
    std::string name = names.Get(i).ToString();
    bool present = vmlinux && btf__find_by_name_kind(vmlinux, ("btf_trace_" + name).c_str(), BTF_KIND_TYPEDEF) >= 0;
    tps.Set(name, present);
  }
  out.Set("tracepoints", tps);
  btf__free(vmlinux);
  return out;
}

// sizes(): C struct sizes, so the TypeScript layout can be checked against the compiler's.
Napi::Value Sizes(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("fw_event_hdr", sizeof(fw_event_hdr));
  out.Set("fw_fork_event", sizeof(fw_fork_event));
  out.Set("fw_exec_event", sizeof(fw_exec_event));
  out.Set("fw_exit_event", sizeof(fw_exit_event));
  out.Set("fw_exit_sender", sizeof(fw_exit_sender));
  out.Set("fw_cgroup_event", sizeof(fw_cgroup_event));
  out.Set("fw_cg_counters", sizeof(fw_cg_counters));
  out.Set("fw_stats", sizeof(fw_stats));
  out.Set("fw_oncpu", sizeof(fw_oncpu));
  out.Set("fw_census", sizeof(fw_census));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Probe", fw::Probe::Define(env));
  exports.Set("clocks", Napi::Function::New(env, Clocks));
  exports.Set("features", Napi::Function::New(env, Features));
  exports.Set("sizes", Napi::Function::New(env, Sizes));
  exports.Set("spawnInCgroup", fw::SpawnFunction(env));
  exports.Set("pidfdOpen", Napi::Function::New(env, fw::PidfdOpen));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, fw::PidfdSendSignal));
  exports.Set("libbpfVersion", Napi::String::New(env, libbpf_version_string()));
  return exports;
}

}  // namespace

NODE_API_MODULE(forkwatch, Init)
