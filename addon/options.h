// Reading an options object from JavaScript: a wrong type is a TypeError naming the key. Shared by
// the Probe and spawnInCgroup. The Probe's options are required (OptU64Req, OptBoolReq): their
// defaults live in src/config/default.ts only, so a key left out is an error, never a default here.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

namespace fw {

inline uint64_t OptU64(const Napi::Object& o, const char* key, uint64_t def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  // NaN, an infinity or anything past 2^64 has no uint64_t (the cast would be undefined behaviour).
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d < 18446744073709551616.0))
    throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be a non-negative number");
  return static_cast<uint64_t>(d);
}

inline bool OptBool(const Napi::Object& o, const char* key, bool def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  if (!v.IsBoolean()) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

inline std::string OptString(const Napi::Object& o, const char* key, const std::string& def) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

inline uint64_t OptU64Req(const Napi::Object& o, const char* key) {
  if (o.Get(key).IsUndefined())
    throw Napi::TypeError::New(
        o.Env(), std::string("option ") + key + " is missing; the caller passes every option (defaults: src/config/default.ts)");
  return OptU64(o, key, 0);
}

inline bool OptBoolReq(const Napi::Object& o, const char* key) {
  if (o.Get(key).IsUndefined())
    throw Napi::TypeError::New(
        o.Env(), std::string("option ") + key + " is missing; the caller passes every option (defaults: src/config/default.ts)");
  return OptBool(o, key, false);
}

}  // namespace fw
