// Starting a supervised program straight into its cgroup: clone3(CLONE_INTO_CGROUP | CLONE_PIDFD),
// posix_spawn style (CLONE_VM | CLONE_VFORK on a stack of its own), so the child is in the
// program's cgroup from its first instruction and the agent's page tables are not copied. The
// exit is seen through the pidfd in a uv_poll_t on the main loop (no thread) and reaped with
// waitid(P_PIDFD); nothing else reaps it, since libuv waits only for the pids it spawned.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fw {

// What to start and how; filled from the JS options object.
struct SpawnSpec {
  std::string file;  // absolute path, as execve wants it (no PATH search in the child)
  std::vector<std::string> argv;
  std::vector<std::string> envp;  // "NAME=value"
  std::string cwd;
  std::string cgroup_dir;
  int64_t uid = -1;  // -1: keep the agent's
  int64_t gid = -1;
  bool set_groups = false;  // groups given (empty clears them)
  std::vector<uint32_t> groups;
  bool setsid = true;
  // false: plain clone3 without CLONE_VM (the child gets a copy of the agent's page tables);
  // kept for bench/supervisor/spawn-cost.mjs, which measures what that copy costs.
  bool vfork = true;
};

// The pids, pipes and descriptors of a started program.
struct Spawned {
  int pid;
  int pidfd;
  int stdout_fd;  // read ends, O_CLOEXEC, owned by the caller
  int stderr_fd;
};

// Starts the program; throws BpfError naming the step ("clone3", "execve", "setuid"...). Blocks only until the child has exec'd
// (or failed to).
Spawned SpawnInCgroup(const SpawnSpec& spec);

// The JS object returned by spawnInCgroup(): pid and pipe fds, and the exit watch on the pidfd.
class SpawnedChild : public Napi::ObjectWrap<SpawnedChild> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit SpawnedChild(const Napi::CallbackInfo& info);
  ~SpawnedChild() override;

 private:
  Napi::Value JsRef(const Napi::CallbackInfo& info);
  Napi::Value JsUnref(const Napi::CallbackInfo& info);
  Napi::Value Kill(const Napi::CallbackInfo& info);
  static void OnPoll(uv_poll_t* handle, int status, int events);
  void OnExit();
  void StopWatching();

  int pidfd_ = -1;
  uv_poll_t* poll_ = nullptr;
  Napi::Env env_;
  Napi::FunctionReference on_exit_;
};

// spawnInCgroup(options, onExit): the exported function (it constructs a SpawnedChild).
Napi::Function SpawnFunction(Napi::Env env);

}  // namespace fw
