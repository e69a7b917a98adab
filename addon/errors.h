// Errors that name the step, the object and the errno: "bpf_object__load(proc): Operation not permitted".
#pragma once
#include <napi.h>
#include <string>

namespace fw {

// A failed libbpf or system call, carried from plain C++ to the JS boundary.
struct BpfError {
  std::string step;         // e.g. "bpf_object__load"
  std::string object;       // e.g. "proc", "handle_fork"
  int err;                  // positive errno
  std::string detail = "";  // what was wrong, when the errno alone does not say
};

// The JS Error for a BpfError, with code (EPERM…), errno, step and object properties.
Napi::Error ToJsError(Napi::Env env, const BpfError& e);

}  // namespace fw
