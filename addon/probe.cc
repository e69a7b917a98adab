#include "probe.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "errors.h"
#include "interest_map.h"
#include "libbpf_log.h"
#include "map_reader.h"
#include "options.h"
#include "proc.h"  // record types named in the skeleton's .bss
#include "proc.skel.h"

namespace fw {

Napi::Function Probe::Define(Napi::Env env) {
  return DefineClass(
      env, "Probe",
      {InstanceMethod("start", &Probe::Start), InstanceMethod("drain", &Probe::Drain),
       InstanceMethod("readCounters", &Probe::ReadCounters), InstanceMethod("takeCounters", &Probe::TakeCounters),
       InstanceMethod("census", &Probe::Census), InstanceMethod("stats", &Probe::Stats), InstanceMethod("oncpu", &Probe::Oncpu),
       InstanceMethod("progStats", &Probe::ProgStats), InstanceMethod("setInterest", &Probe::SetInterest),
       InstanceMethod("setWatched", &Probe::SetWatched), InstanceMethod("close", &Probe::Close)});
}

// new Probe(options, log?): loads and attaches; throws an Error naming step, object and errno.
Probe::Probe(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Probe>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "Probe(options, log?) needs an options object");
  if (info.Length() > 1 && info[1].IsFunction()) log_ = Napi::Persistent(info[1].As<Napi::Function>());
  Napi::Object o = info[0].As<Napi::Object>();

  LoaderOptions opts;
  opts.ring_bytes = OptU64Req(o, "ringBytes");
  opts.counter_entries = OptU64Req(o, "counterEntries");
  opts.fast_rows = static_cast<uint32_t>(std::min<uint64_t>(OptU64Req(o, "fastRows"), 1u << 20));
  opts.cgroup_hierarchy = OptU64Req(o, "cgroupHierarchy");
  opts.argv_max = OptU64Req(o, "argvMax");
  opts.thread_events = OptBoolReq(o, "threadEvents");
  opts.record_all = OptBoolReq(o, "recordAll");
  opts.watched_entries = OptU64Req(o, "watchedEntries");
  if (opts.watched_entries == 0) throw Napi::TypeError::New(env, "option watchedEntries must be at least 1");
  opts.wakeup_bytes = OptU64Req(o, "wakeupBytes");
  opts.wakeup_ns = OptU64Req(o, "wakeupNs");
  opts.cpu_accounting = OptBoolReq(o, "cpuAccounting");
  opts.exit_claim = OptBoolReq(o, "exitClaim");
  opts.object_path = OptString(o, "objectPath", opts.object_path);
  stage_gap_us_ = static_cast<uint32_t>(std::min<uint64_t>(OptU64Req(o, "stageGapUs"), 1000000));
  drain_ns_ = opts.wakeup_ns;
  bool bpf_stats = OptBoolReq(o, "bpfStats");

  InstallLibbpfLog();
  try {
    loader_ = std::make_unique<Loader>(opts);
  } catch (const BpfError& e) {
    FlushLog(env);
    throw ToJsError(env, e);
  }
  FlushLog(env);
  if (bpf_stats) stats_fd_ = bpf_enable_stats(BPF_STATS_RUN_TIME);  // best effort: -1 leaves stats as they are

  Napi::Array attached = Napi::Array::New(env);
  for (size_t i = 0; i < loader_->attached().size(); i++) attached[i] = loader_->attached()[i];
  Napi::Array skipped = Napi::Array::New(env);
  for (size_t i = 0; i < loader_->skipped().size(); i++) skipped[i] = loader_->skipped()[i];
  info.This().As<Napi::Object>().Set("attached", attached);
  info.This().As<Napi::Object>().Set("skipped", skipped);
  info.This().As<Napi::Object>().Set("exitDecision", loader_->exit_decision());
  info.This().As<Napi::Object>().Set("fastRows", Napi::Number::New(env, loader_->fast_rows()));
}

Probe::~Probe() { Release(); }

void Probe::Release() {
  if (reader_) reader_->Close();
  reader_.reset();
  if (loader_) loader_->Close();
  loader_.reset();
  if (stats_fd_ >= 0) close(stats_fd_);
  stats_fd_ = -1;
}

void Probe::CheckOpen(Napi::Env env) const {
  if (!loader_) throw Napi::Error::New(env, "the probe is closed");
}

void Probe::FlushLog(Napi::Env env) {
  auto lines = TakeLibbpfLog();
  if (log_.IsEmpty()) return;
  for (auto& [level, msg] : lines) log_.Call({Napi::String::New(env, level), Napi::String::New(env, msg)});
}

// start(onBatch): onBatch(buffer, records, bytes) once per wake-up, on the main loop.
Napi::Value Probe::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "start(onBatch) needs a function");
  if (reader_) throw Napi::Error::New(env, "the probe is already started");
  on_batch_ = Napi::Persistent(info[0].As<Napi::Function>());
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  try {
    RingReader::Stages stages{bpf_map__fd(loader_->skel()->maps.stage), loader_->stage_cpus(), loader_->stage_bytes()};
    reader_ = std::make_unique<RingReader>(
        bpf_map__fd(loader_->skel()->maps.events), stages, loop, drain_ns_,
        [this](const uint8_t* d, size_t n, size_t r) { Deliver(d, n, r); }, &loader_->skel()->bss->reader_on_timer,
        stage_gap_us_);
    reader_->Start();
  } catch (const BpfError& e) {
    reader_.reset();
    throw ToJsError(env, e);
  }
  return env.Undefined();
}

// The batch goes to JavaScript in one Buffer kept across calls (no allocation per wake-up):
// onBatch(buffer, records, bytes) may read buffer[0, bytes) during the call, and must copy what
// it keeps. A storm's larger buffer is let go once batches are small again.
void Probe::Deliver(const uint8_t* data, size_t len, size_t records) {
  Napi::Env env = on_batch_.Env();
  Napi::HandleScope scope(env);
  if (out_cap_ > (4u << 20) && len < (64u << 10)) {
    out_.Reset();
    out_cap_ = 0;
  }
  if (len > out_cap_) {
    size_t cap = 64u << 10;
    while (cap < len) cap *= 2;
    out_ = Napi::Persistent(Napi::Buffer<uint8_t>::New(env, cap));
    out_cap_ = cap;
  }
  Napi::Buffer<uint8_t> buf = out_.Value();
  std::memcpy(buf.Data(), data, len);
  try {
    on_batch_.MakeCallback(env.Global(), {buf, Napi::Number::New(env, static_cast<double>(records)),
                                          Napi::Number::New(env, static_cast<double>(len))});
  } catch (const Napi::Error& e) {
    // A throw in onBatch has no JavaScript caller here (this runs from the loop): hand it to
    // process 'uncaughtException' as Node does for its own callbacks, rather than abort.
    napi_fatal_exception(env, e.Value());
  }
}

// drain(): deliver what is in the ring now (also used at close, so nothing read is lost).
Napi::Value Probe::Drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  size_t n = reader_ ? reader_->Drain() : 0;
  return Napi::Number::New(env, static_cast<double>(n));
}

// readCounters(): Buffer of records { u64 cgroup_id; struct fw_cg_counters } summed over CPUs.
Napi::Value Probe::ReadCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  try {
    proc* skel = loader_->skel();
    std::vector<CgroupCounters> rows = fw::ReadCounters(skel->maps.cg_counters, skel->maps.cg_fast, &skel->bss->fold_seq);
    return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(rows.data()), rows.size() * sizeof(CgroupCounters));
  } catch (const BpfError& e) {
    throw ToJsError(env, e);
  }
}

// takeCounters(ids: BigUint64Array): removes the rows of cgroups that are gone; returns their last
// counts, as readCounters() lays them out.
Napi::Value Probe::TakeCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array)
    throw Napi::TypeError::New(env, "takeCounters(ids) needs a BigUint64Array");
  auto arr = info[0].As<Napi::TypedArrayOf<uint64_t>>();
  std::vector<CgroupCounters> rows =
      fw::TakeCounters(loader_->skel()->maps.cg_counters, std::vector<uint64_t>(arr.Data(), arr.Data() + arr.ElementLength()));
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(rows.data()), rows.size() * sizeof(CgroupCounters));
}

// census(): Buffer of struct fw_census, one per live process, read now (proc.bpf.c, census).
Napi::Value Probe::Census(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  try {
    std::vector<uint8_t> v = loader_->Census();
    return Napi::Buffer<uint8_t>::Copy(env, v.data(), v.size());
  } catch (const BpfError& e) {
    throw ToJsError(env, e);
  }
}

// stats(): Buffer holding struct fw_stats summed over CPUs.
Napi::Value Probe::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  try {
    fw_stats s = ReadStats(loader_->skel()->maps.stats);
    return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(&s), sizeof(s));
  } catch (const BpfError& e) {
    throw ToJsError(env, e);
  }
}

// oncpu(): Buffer of struct fw_oncpu, one per possible CPU: what runs where since when.
Napi::Value Probe::Oncpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  try {
    std::vector<fw_oncpu> v = ReadOncpu(loader_->skel()->maps.oncpu);
    return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(fw_oncpu));
  } catch (const BpfError& e) {
    throw ToJsError(env, e);
  }
}

// progStats(): [{ name, runTimeNs, runCount, recursionMisses }] (zeros unless BPF stats are on).
Napi::Value Probe::ProgStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto& p : ReadProgStats(loader_->skel()->obj)) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", p.name);
    o.Set("runTimeNs", static_cast<double>(p.run_time_ns));
    o.Set("runCount", static_cast<double>(p.run_cnt));
    o.Set("recursionMisses", static_cast<double>(p.recursion_misses));
    out[i++] = o;
  }
  return out;
}

// setInterest(all, threads): records of every cgroup or of the watched ones; thread records or not.
Napi::Value Probe::SetInterest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (info.Length() < 2 || !info[0].IsBoolean() || !info[1].IsBoolean())
    throw Napi::TypeError::New(env, "setInterest(all, threads) needs two booleans");
  try {
    WriteInterest(loader_->skel()->maps.interest, info[0].As<Napi::Boolean>(), info[1].As<Napi::Boolean>());
  } catch (const BpfError& e) {
    throw ToJsError(env, e);
  }
  return env.Undefined();
}

// setWatched(ids: BigUint64Array, flags): watch these cgroups with FW_WATCH_* flags, or stop
// watching them (flags 0). Returns how many the full map could not take.
Napi::Value Probe::SetWatched(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (info.Length() < 2 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array ||
      !info[1].IsNumber())
    throw Napi::TypeError::New(env, "setWatched(ids, flags) needs a BigUint64Array and a number");
  auto arr = info[0].As<Napi::TypedArrayOf<uint64_t>>();
  uint32_t flags = info[1].As<Napi::Number>().Uint32Value();
  try {
    size_t full = WriteWatched(loader_->skel()->maps.watched, loader_->skel()->maps.interest,
                               std::vector<uint64_t>(arr.Data(), arr.Data() + arr.ElementLength()), flags);
    return Napi::Number::New(env, static_cast<double>(full));
  } catch (const BpfError& e) {
    throw ToJsError(env, e);
  }
}

// close(): detach every link, free the ring buffer, close the libuv handles. Idempotent.
Napi::Value Probe::Close(const Napi::CallbackInfo& info) {
  Release();
  on_batch_.Reset();
  return info.Env().Undefined();
}

}  // namespace fw
