#include "spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "errors.h"
#include "options.h"

namespace fw {
namespace {

// The kernel's struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2); spelled out here so
// that the build does not depend on how new the host's linux/sched.h is.
struct CloneArgs {
  uint64_t flags;
  uint64_t pidfd;
  uint64_t child_tid;
  uint64_t parent_tid;
  uint64_t exit_signal;
  uint64_t stack;
  uint64_t stack_size;
  uint64_t tls;
  uint64_t set_tid;
  uint64_t set_tid_size;
  uint64_t cgroup;
};
static_assert(sizeof(CloneArgs) == 88, "CLONE_ARGS_SIZE_VER2");

constexpr uint64_t kCloneVm = 0x00000100;
constexpr uint64_t kCloneVfork = 0x00004000;
constexpr uint64_t kClonePidfd = 0x00001000;
constexpr uint64_t kCloneIntoCgroup = 0x200000000ULL;  // Linux 5.7
constexpr unsigned kCloseRangeCloexec = 1u << 2;       // Linux 5.11
constexpr int kPidfdIdtype = 3;                        // P_PIDFD, Linux 5.4
constexpr size_t kChildStack = 64 * 1024;

// struct sigaction as the rt_sigaction system call takes it (x86-64 and arm64 alike). The raw
// call, not glibc's, so that glibc's own signals (32, 33) are reset too.
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

}  // namespace
}  // namespace fw

// clone3 with the child on a stack of its own: the child calls fn(arg) there and exits with its
// result; the parent gets the pid or -errno. glibc has no public clone3 wrapper, and a child
// sharing the parent's memory cannot return through syscall() (that would write over the
// suspended parent's stack), hence the few lines of assembly, as in glibc's own clone3.S.
extern "C" long fw_clone3_run(fw::CloneArgs* args, size_t size, int (*fn)(void*), void* arg);
#if defined(__x86_64__)
#define FW_HAVE_CLONE3_RUN 1
asm(R"(
  .text
  .globl fw_clone3_run
  .hidden fw_clone3_run
  .type fw_clone3_run, @function
fw_clone3_run:
  mov %rdx, %r8
  mov %rcx, %r9
  mov $435, %eax
  syscall
  test %rax, %rax
  jnz 1f
  xor %ebp, %ebp
  and $-16, %rsp
  mov %r9, %rdi
  call *%r8
  mov %eax, %edi
  mov $231, %eax
  syscall
  hlt
1:
  ret
  .size fw_clone3_run, .-fw_clone3_run
)");
#elif defined(__aarch64__)
#define FW_HAVE_CLONE3_RUN 1
asm(R"(
  .text
  .globl fw_clone3_run
  .hidden fw_clone3_run
  .type fw_clone3_run, %function
fw_clone3_run:
  mov x10, x2
  mov x11, x3
  mov x8, #435
  svc #0
  cbnz x0, 1f
  mov x29, xzr
  mov x30, xzr
  mov x0, x11
  blr x10
  mov x8, #94
  svc #0
  brk #0
1:
  ret
  .size fw_clone3_run, .-fw_clone3_run
)");
#else
#define FW_HAVE_CLONE3_RUN 0
extern "C" long fw_clone3_run(fw::CloneArgs*, size_t, int (*)(void*), void*) { return -ENOSYS; }
#endif

namespace fw {
namespace {

// The child's steps, in order; a failure names one.
enum Step : int { kOk = 0, kSigaction, kSigmask, kSetsid, kDup, kCloseRange, kChdir, kSetgroups, kSetgid, kSetuid, kExecve };

struct ChildFailure {
  int step;
  int err;
};

// Everything the child needs, prepared by the parent: the child allocates nothing.
struct ChildArgs {
  const char* file;
  char* const* argv;
  char* const* envp;
  char* const* sh_argv;  // /bin/sh FILE ARGS...: a script without #! (ENOEXEC), as execvp does
  const char* cwd;       // nullptr: stay
  const gid_t* groups;
  size_t ngroups;
  bool set_groups;
  long uid, gid;  // -1: keep
  bool setsid;
  int stdin_fd, stdout_fd, stderr_fd;  // all >= 3
  int report_fd;                       // -1 under CLONE_VM: the failure goes to *failure
  long max_fd;                         // the close loop's end on kernels without close_range (< 5.9)
  ChildFailure* failure;
};

[[noreturn]] void ChildFail(ChildArgs* a, int step, int err) {
  if (a->report_fd >= 0) {
    ChildFailure f{step, err};
    while (write(a->report_fd, &f, sizeof f) < 0 && errno == EINTR) {
    }
  } else {
    a->failure->step = step;
    a->failure->err = err;
  }
  syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

// The child, until exec. Only system calls: under CLONE_VM it runs in the agent's memory, with
// the agent's thread suspended, so no lock, no allocation, and none of glibc's setxid machinery
// (which would signal the agent's other threads): raw setres[ug]id, not setuid(3).
__attribute__((noinline)) int ChildMain(void* arg) noexcept {
  auto* a = static_cast<ChildArgs*>(arg);
  // Every disposition to default, so that none of the agent's handlers runs here and nothing it
  // ignores stays ignored in the program; except SIGPIPE, ignored on purpose (systemd's
  // IgnoreSIGPIPE: a program left running after the agent exits must not die of its next log
  // line), and an ignored disposition survives exec. Then the mask the parent set (all blocked)
  // becomes empty.
  KernelSigaction sa{};
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sa.handler = sig == SIGPIPE ? SIG_IGN : SIG_DFL;
    if (syscall(SYS_rt_sigaction, sig, &sa, nullptr, sizeof sa.mask) < 0) ChildFail(a, kSigaction, errno);
  }
  uint64_t none = 0;
  if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof none) < 0) ChildFail(a, kSigmask, errno);
  if (a->setsid && syscall(SYS_setsid) < 0) ChildFail(a, kSetsid, errno);
  // dup3 clears O_CLOEXEC on the copy; the originals are >= 3, so never the same number.
  if (syscall(SYS_dup3, a->stdin_fd, 0, 0) < 0 || syscall(SYS_dup3, a->stdout_fd, 1, 0) < 0 ||
      syscall(SYS_dup3, a->stderr_fd, 2, 0) < 0)
    ChildFail(a, kDup, errno);
  // No agent descriptor reaches the program, with O_CLOEXEC or not. The report pipe must live
  // until exec, so with one the rest are only marked close-on-exec.
  unsigned flags = a->report_fd >= 0 ? kCloseRangeCloexec : 0;
  if (syscall(SYS_close_range, 3u, ~0u, flags) < 0) {
    if (errno != ENOSYS && errno != EINVAL) ChildFail(a, kCloseRange, errno);
    for (long fd = 3; fd < a->max_fd; fd++)
      if (fd != a->report_fd) syscall(SYS_close, fd);
  }
  if (a->cwd && syscall(SYS_chdir, a->cwd) < 0) ChildFail(a, kChdir, errno);
  if (a->set_groups && syscall(SYS_setgroups, a->ngroups, a->groups) < 0) ChildFail(a, kSetgroups, errno);
  if (a->gid >= 0 && syscall(SYS_setresgid, a->gid, a->gid, a->gid) < 0) ChildFail(a, kSetgid, errno);
  if (a->uid >= 0 && syscall(SYS_setresuid, a->uid, a->uid, a->uid) < 0) ChildFail(a, kSetuid, errno);
  syscall(SYS_execve, a->file, a->argv, a->envp);
  int err = errno;
  if (err == ENOEXEC) {
    syscall(SYS_execve, "/bin/sh", a->sh_argv, a->envp);
    err = errno;
  }
  ChildFail(a, kExecve, err);
}

// A descriptor closed when it goes out of scope, unless released.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// Moves a descriptor to 3 or above, so the child's dup3 onto 0-2 never meets one of its own
// sources (an agent started with a closed stdin gets pipes at 0).
int AboveStdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int err = errno;
  close(fd);
  errno = err;
  return moved;
}

void Pipe(Fd& r, Fd& w, const char* name) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) throw BpfError{"pipe2", name, errno};
  r.Reset(p[0]);
  w.Reset(p[1]);
  r.Reset(AboveStdio(r.release()));
  if (r.get() < 0) throw BpfError{"fcntl", name, errno};
  w.Reset(AboveStdio(w.release()));
  if (w.get() < 0) throw BpfError{"fcntl", name, errno};
}

std::vector<char*> CStrings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const std::string& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

const char* StepName(int step) {
  switch (step) {
    case kSigaction: return "rt_sigaction";
    case kSigmask: return "rt_sigprocmask";
    case kSetsid: return "setsid";
    case kDup: return "dup3";
    case kCloseRange: return "close_range";
    case kChdir: return "chdir";
    case kSetgroups: return "setgroups";
    case kSetgid: return "setgid";
    case kSetuid: return "setuid";
    case kExecve: return "execve";
    default: return "child";
  }
}

std::string StepObject(int step, const SpawnSpec& s) {
  switch (step) {
    case kChdir: return s.cwd;
    case kExecve: return s.file;
    case kSetuid: return std::to_string(s.uid);
    case kSetgid: return std::to_string(s.gid);
    case kSetgroups: {
      std::string list;
      for (uint32_t g : s.groups) list += (list.empty() ? "" : ",") + std::to_string(g);
      return list.empty() ? "(none)" : list;
    }
    case kDup: return "stdio";
    case kCloseRange: return "fds";
    case kSetsid: return "session";
    default: return "signals";
  }
}

// The child's stack under CLONE_VM, with a guard page below it.
class ChildStack {
 public:
  ChildStack() {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_ = kChildStack + page;
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (p == MAP_FAILED) throw BpfError{"mmap", "child stack", errno};
    base_ = static_cast<char*>(p);
    mprotect(base_, page, PROT_NONE);
    low_ = base_ + page;
  }
  ~ChildStack() { munmap(base_, size_); }
  ChildStack(const ChildStack&) = delete;
  ChildStack& operator=(const ChildStack&) = delete;
  uint64_t low() const { return reinterpret_cast<uint64_t>(low_); }

 private:
  char* base_;
  char* low_;
  size_t size_;
};

}  // namespace

Spawned SpawnInCgroup(const SpawnSpec& s) {
  bool vm = s.vfork && FW_HAVE_CLONE3_RUN;
  std::vector<char*> argv = CStrings(s.argv);
  std::vector<char*> envp = CStrings(s.envp);
  std::vector<std::string> sh_words{"/bin/sh", s.file};
  sh_words.insert(sh_words.end(), s.argv.size() > 1 ? s.argv.begin() + 1 : s.argv.end(), s.argv.end());
  std::vector<char*> sh_argv = CStrings(sh_words);
  std::vector<gid_t> groups(s.groups.begin(), s.groups.end());

  Fd cgroup(open(s.cgroup_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (cgroup.get() < 0) throw BpfError{"open", s.cgroup_dir, errno};
  Fd devnull(AboveStdio(open("/dev/null", O_RDONLY | O_CLOEXEC)));
  if (devnull.get() < 0) throw BpfError{"open", "/dev/null", errno};
  Fd out_r, out_w, err_r, err_w, report_r, report_w;
  Pipe(out_r, out_w, "stdout");
  Pipe(err_r, err_w, "stderr");
  if (!vm) Pipe(report_r, report_w, "exec report");
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);

  ChildFailure failure{kOk, 0};
  ChildArgs a{};
  a.file = s.file.c_str();
  a.argv = argv.data();
  a.envp = envp.data();
  a.sh_argv = sh_argv.data();
  a.cwd = s.cwd.empty() ? nullptr : s.cwd.c_str();
  a.groups = groups.data();
  a.ngroups = groups.size();
  a.set_groups = s.set_groups;
  a.uid = s.uid;
  a.gid = s.gid;
  a.setsid = s.setsid;
  a.stdin_fd = devnull.get();
  a.stdout_fd = out_w.get();
  a.stderr_fd = err_w.get();
  a.report_fd = vm ? -1 : report_w.get();
  a.max_fd = nofile.rlim_cur == RLIM_INFINITY || nofile.rlim_cur > (1u << 20) ? (1 << 20) : static_cast<long>(nofile.rlim_cur);
  a.failure = &failure;

  int pidfd = -1;
  CloneArgs ca{};
  ca.flags = kClonePidfd | kCloneIntoCgroup | (vm ? kCloneVm | kCloneVfork : 0);
  ca.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  ca.exit_signal = SIGCHLD;
  ca.cgroup = static_cast<uint64_t>(cgroup.get());
  std::unique_ptr<ChildStack> stack;
  if (vm) {
    stack = std::make_unique<ChildStack>();
    ca.stack = stack->low();
    ca.stack_size = kChildStack;
  }

  // All signals blocked across the clone: until the child has reset its dispositions, a signal
  // must not run one of the agent's handlers in it (under CLONE_VM, on the agent's memory).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  long pid;
  if (vm) {
    pid = fw_clone3_run(&ca, sizeof ca, ChildMain, &a);
  } else {
    pid = syscall(SYS_clone3, &ca, sizeof ca);
    if (pid == 0) syscall(SYS_exit_group, ChildMain(&a));  // ChildMain does not return
    if (pid < 0) pid = -errno;
  }
  int clone_err = pid < 0 ? static_cast<int>(-pid) : 0;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  asm volatile("" ::: "memory");  // the child wrote `failure` behind the compiler's back
  if (clone_err) throw BpfError{"clone3", s.cgroup_dir, clone_err};

  out_w.Reset();
  err_w.Reset();
  if (!vm) {
    // EOF: the child exec'd (the pipe is close-on-exec); a record: a step failed.
    report_w.Reset();
    ssize_t n;
    while ((n = read(report_r.get(), &failure, sizeof failure)) < 0 && errno == EINTR) {
    }
    if (n != static_cast<ssize_t>(sizeof failure)) failure = ChildFailure{kOk, 0};
  }
  if (failure.step != kOk) {
    siginfo_t info{};
    while (syscall(SYS_waitid, kPidfdIdtype, pidfd, &info, WEXITED, nullptr) < 0 && errno == EINTR) {
    }
    close(pidfd);
    throw BpfError{StepName(failure.step), StepObject(failure.step, s), failure.err};
  }
  return Spawned{static_cast<int>(pid), pidfd, out_r.release(), err_r.release()};
}

// --- the JS object ---------------------------------------------------------------------------

namespace {

std::string StringOption(const Napi::Object& o, const char* key, bool required) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && !required) return "";
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos)
    throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " contains a NUL byte");
  return s;
}

std::vector<std::string> StringsOption(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be an array of strings");
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value e = arr.Get(i);
    if (!e.IsString()) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be an array of strings");
    out.push_back(e.As<Napi::String>().Utf8Value());
    if (out.back().find('\0') != std::string::npos)
      throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " contains a NUL byte");
  }
  return out;
}

bool IsId(const Napi::Value& v) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  return d >= 0 && d < 4294967295.0 && d == static_cast<double>(static_cast<uint32_t>(d));
}

int64_t IdOption(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return -1;
  if (!IsId(v)) throw Napi::TypeError::New(o.Env(), std::string("option ") + key + " must be a uid/gid number");
  return static_cast<int64_t>(v.As<Napi::Number>().DoubleValue());
}

SpawnSpec ParseSpec(const Napi::Object& o) {
  SpawnSpec s;
  s.file = StringOption(o, "file", true);
  s.argv = StringsOption(o, "argv");
  if (s.argv.empty()) throw Napi::TypeError::New(o.Env(), "option argv must hold at least argv[0]");
  s.envp = StringsOption(o, "envp");
  s.cwd = StringOption(o, "cwd", false);
  s.cgroup_dir = StringOption(o, "cgroupDir", true);
  s.uid = IdOption(o, "uid");
  s.gid = IdOption(o, "gid");
  Napi::Value groups = o.Get("groups");
  if (!groups.IsUndefined()) {
    if (!groups.IsArray()) throw Napi::TypeError::New(o.Env(), "option groups must be an array of gid numbers");
    s.set_groups = true;
    Napi::Array arr = groups.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value g = arr.Get(i);
      if (!IsId(g)) throw Napi::TypeError::New(o.Env(), "option groups must be an array of gid numbers");
      s.groups.push_back(static_cast<uint32_t>(g.As<Napi::Number>().DoubleValue()));
    }
  }
  s.setsid = OptBool(o, "setsid", true);
  s.vfork = OptBool(o, "vfork", true);
  return s;
}

}  // namespace

Napi::Function SpawnedChild::Define(Napi::Env env) {
  return DefineClass(env, "SpawnedChild",
                     {InstanceMethod("ref", &SpawnedChild::JsRef), InstanceMethod("unref", &SpawnedChild::JsUnref),
                      InstanceMethod("kill", &SpawnedChild::Kill)});
}

// new SpawnedChild(options, onExit): starts the program and watches its pidfd.
SpawnedChild::SpawnedChild(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SpawnedChild>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction())
    throw Napi::TypeError::New(env, "spawnInCgroup(options, onExit) needs an options object and a function");
  SpawnSpec spec = ParseSpec(info[0].As<Napi::Object>());
  Spawned child{};
  try {
    child = SpawnInCgroup(spec);
  } catch (const BpfError& e) {
    throw ToJsError(env, e);
  }
  pidfd_ = child.pidfd;
  Napi::Object self = info.This().As<Napi::Object>();
  self.Set("pid", child.pid);
  self.Set("stdoutFd", child.stdout_fd);
  self.Set("stderrFd", child.stderr_fd);

  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  int err = uv_poll_init(loop, poll_, pidfd_);
  if (err == 0) err = uv_poll_start(poll_, UV_READABLE, &SpawnedChild::OnPoll);
  if (err) {
    // Not watchable: the program runs, but its exit would never be reported. Unlikely enough
    // (an epoll without pidfd support is older than clone3) to stop it rather than limp on.
    syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
    siginfo_t si{};
    syscall(SYS_waitid, kPidfdIdtype, pidfd_, &si, WEXITED, nullptr);
    StopWatching();
    close(child.stdout_fd);
    close(child.stderr_fd);
    throw ToJsError(env, BpfError{"uv_poll_start", "pidfd " + std::to_string(child.pid), -err});
  }
  poll_->data = this;
  on_exit_ = Napi::Persistent(info[1].As<Napi::Function>());
  Ref();  // not collected while its exit is awaited
}

SpawnedChild::~SpawnedChild() { StopWatching(); }

void SpawnedChild::StopWatching() {
  if (poll_) {
    uv_poll_stop(poll_);
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (pidfd_ >= 0) close(pidfd_);
  pidfd_ = -1;
}

void SpawnedChild::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<SpawnedChild*>(handle->data);
  if (self) self->OnExit();
}

void SpawnedChild::OnExit() {
  siginfo_t si{};
  long r;
  while ((r = syscall(SYS_waitid, kPidfdIdtype, pidfd_, &si, WEXITED | WNOHANG, nullptr)) < 0 && errno == EINTR) {
  }
  // Readable, yet not exited (libuv made the pidfd O_NONBLOCK, hence EAGAIN): wait for the next
  // wake-up.
  if ((r < 0 && errno == EAGAIN) || (r == 0 && si.si_pid == 0)) return;
  Napi::Env env = env_;
  Napi::HandleScope scope(env);
  Napi::Object exit = Napi::Object::New(env);
  exit.Set("code", env.Null());
  exit.Set("signal", env.Null());
  // r < 0 (ECHILD): someone else reaped it; the status is lost, the exit is not.
  if (r == 0 && si.si_code == CLD_EXITED) {
    exit.Set("code", si.si_status);
  } else if (r == 0 && (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)) {
    const char* abbrev = sigabbrev_np(si.si_status);
    exit.Set("signal", abbrev ? std::string("SIG") + abbrev : std::to_string(si.si_status));
  }
  StopWatching();
  Napi::FunctionReference callback = std::move(on_exit_);
  try {
    callback.MakeCallback(env.Global(), {exit});
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());  // the callback threw: an uncaught exception, as in JS
  }
  Unref();  // last: JS may drop the object during the callback
}

// ref() / unref(): whether the exit watch keeps the event loop alive (as ChildProcess.ref).
Napi::Value SpawnedChild::JsRef(const Napi::CallbackInfo& info) {
  if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

Napi::Value SpawnedChild::JsUnref(const Napi::CallbackInfo& info) {
  if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  return info.Env().Undefined();
}

// kill(signal): pidfd_send_signal, so never another process that got the pid; false once exited.
Napi::Value SpawnedChild::Kill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "kill(signal) needs a signal number");
  if (pidfd_ < 0) return Napi::Boolean::New(env, false);
  int sig = info[0].As<Napi::Number>().Int32Value();
  if (syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0) == 0) return Napi::Boolean::New(env, true);
  if (errno == ESRCH) return Napi::Boolean::New(env, false);
  throw ToJsError(env, BpfError{"pidfd_send_signal", std::to_string(sig), errno});
}

Napi::Function SpawnFunction(Napi::Env env) {
  auto* ctor = new Napi::FunctionReference(Napi::Persistent(SpawnedChild::Define(env)));
  env.AddCleanupHook([ctor]() { delete ctor; });
  return Napi::Function::New(
      env,
      [](const Napi::CallbackInfo& info) -> Napi::Value {
        auto* ctor = static_cast<Napi::FunctionReference*>(info.Data());
        return ctor->New({info[0], info[1]});
      },
      "spawnInCgroup", ctor);
}

}  // namespace fw
