// Process file descriptors for signalling a process that cannot be confused with a later one
// that got the same pid: pidfd_open(2) and pidfd_send_signal(2). Node has no API for them.
#pragma once
#include <napi.h>

namespace fw {

// pidfdOpen(pid) -> fd (close-on-exec; the caller closes it with fs.closeSync).
Napi::Value PidfdOpen(const Napi::CallbackInfo& info);

// pidfdSendSignal(fd, signal) -> true when sent, false when the process has exited (ESRCH).
Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info);

}  // namespace fw
