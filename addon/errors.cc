#include "errors.h"

#include <cstring>

namespace fw {

Napi::Error ToJsError(Napi::Env env, const BpfError& e) {
  const char* name = strerrorname_np(e.err);
  std::string msg = e.step + "(" + e.object + "): " + std::strerror(e.err);
  Napi::Error error = Napi::Error::New(env, msg);
  error.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  error.Set("errno", Napi::Number::New(env, e.err));
  error.Set("step", Napi::String::New(env, e.step));
  error.Set("object", Napi::String::New(env, e.object));
  return error;
}

}  // namespace fw
