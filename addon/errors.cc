#include "errors.h"

#include <bpf/libbpf.h>

#include <cstring>

namespace fw {

Napi::Error ToJsError(Napi::Env env, const BpfError& e) {
  // libbpf's own codes (LIBBPF_ERRNO__*, from 4000: "Invalid ELF format"...) have no errno name.
  bool libbpf_code = e.err >= __LIBBPF_ERRNO__START && e.err < __LIBBPF_ERRNO__END;
  char text[128] = "";
  if (libbpf_code) libbpf_strerror(e.err, text, sizeof(text));
  const char* name = libbpf_code ? "ELIBBPF" : strerrorname_np(e.err);
  std::string msg = e.step + "(" + e.object + "): " + (libbpf_code ? text : std::strerror(e.err));
  if (!e.detail.empty()) msg += ": " + e.detail;
  Napi::Error error = Napi::Error::New(env, msg);
  error.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
  error.Set("errno", Napi::Number::New(env, e.err));
  error.Set("step", Napi::String::New(env, e.step));
  error.Set("object", Napi::String::New(env, e.object));
  return error;
}

}  // namespace fw
