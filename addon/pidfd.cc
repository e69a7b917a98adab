#include "pidfd.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "errors.h"

// Linux 5.3 (pidfd_open) and 5.1 (pidfd_send_signal); the numbers are the same on every
// architecture (syscalls added after 4.20 share one table), for libc headers that predate them.
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace fw {
namespace {

int IntArg(const Napi::CallbackInfo& info, size_t i, const char* usage) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), usage);
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= 2147483647.0) || v != static_cast<double>(static_cast<int>(v)))
    throw Napi::TypeError::New(info.Env(), usage);
  return static_cast<int>(v);
}

}  // namespace

Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  const char* usage = "pidfdOpen(pid) needs a pid > 0";
  int pid = IntArg(info, 0, usage);
  if (pid <= 0) throw Napi::TypeError::New(info.Env(), usage);
  long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) throw ToJsError(info.Env(), BpfError{"pidfd_open", std::to_string(pid), errno});
  return Napi::Number::New(info.Env(), static_cast<double>(fd));
}

Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  const char* usage = "pidfdSendSignal(fd, signal) needs a descriptor and a signal number";
  int fd = IntArg(info, 0, usage);
  int sig = IntArg(info, 1, usage);
  if (syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == ESRCH) return Napi::Boolean::New(info.Env(), false);
  throw ToJsError(info.Env(),
                  BpfError{"pidfd_send_signal", "pidfd " + std::to_string(fd) + " signal " + std::to_string(sig), errno});
}

}  // namespace fw
