// The JS face of one loaded proc object: a Loader, its RingReader and the map reads.
#pragma once
#include <napi.h>

#include <memory>

#include "loader.h"
#include "ring_reader.h"

namespace fw {

class Probe : public Napi::ObjectWrap<Probe> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Probe(const Napi::CallbackInfo& info);
  ~Probe() override;

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Drain(const Napi::CallbackInfo& info);
  Napi::Value ReadCounters(const Napi::CallbackInfo& info);
  Napi::Value TakeCounters(const Napi::CallbackInfo& info);
  Napi::Value Census(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Oncpu(const Napi::CallbackInfo& info);
  Napi::Value ProgStats(const Napi::CallbackInfo& info);
  Napi::Value SetInterest(const Napi::CallbackInfo& info);
  Napi::Value SetWatched(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  void Deliver(const uint8_t* data, size_t len, size_t records);
  void FlushLog(Napi::Env env);
  void Release();
  void CheckOpen(Napi::Env env) const;

  std::unique_ptr<Loader> loader_;
  std::unique_ptr<RingReader> reader_;
  Napi::FunctionReference on_batch_;
  Napi::Reference<Napi::Buffer<uint8_t>> out_;  // the batch buffer handed to onBatch
  size_t out_cap_ = 0;
  Napi::FunctionReference log_;
  uint64_t drain_ns_ = 0;
  uint32_t stage_gap_us_ = 0;
  int stats_fd_ = -1;
};

}  // namespace fw
