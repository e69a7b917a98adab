/*
 * exitrace PROCS THREADS MODE [CGROUP_DIR]: the thread-exit race. PROCS processes, one after the
 * other (each reaped before the next), each with THREADS threads besides its main one. When every
 * thread is running, all of them end the process at once, as MODE says:
 *   group    every thread calls exit_group (glibc's _exit)
 *   threads  every thread calls exit(2) on itself; the last one ends the process
 *   main     the main thread calls exit_group while the others call exit(2)
 *   leader   the main thread calls exit(2) while the others call exit_group
 *   kill     every thread sends SIGKILL to its own process
 * Process i ends with code i % 250 + 1 (SIGKILL in kill mode). With CGROUP_DIR, each process is
 * created inside that cgroup (clone3 CLONE_INTO_CGROUP), so it is alone there while it lives.
 * Prints "<pid> <wait status>" per process.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum mode { GROUP, THREADS, MAIN, LEADER, KILL };

static atomic_int arrived;
static int total, code;
static enum mode mode;

static void end(int is_main) {
  atomic_fetch_add(&arrived, 1);
  while (atomic_load(&arrived) < total) sched_yield();
  int group = mode == GROUP || (mode == MAIN && is_main) || (mode == LEADER && !is_main);
  if (mode == KILL) syscall(SYS_kill, getpid(), SIGKILL);
  else if (group) syscall(SYS_exit_group, code);
  else syscall(SYS_exit, code);
  for (;;) pause(); /* SIGKILL is on its way */
}

static void *thread_main(void *arg) {
  (void)arg;
  end(0);
  return NULL;
}

static void child(int threads) {
  pthread_t t;
  for (int i = 0; i < threads; i++)
    if (pthread_create(&t, NULL, thread_main, NULL) != 0) _exit(125);
  end(1);
}

static pid_t spawn(int cgroup_fd) {
  if (cgroup_fd < 0) return fork();
  struct clone_args args;
  memset(&args, 0, sizeof(args));
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = (uint64_t)cgroup_fd;
  return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: exitrace PROCS THREADS group|threads|main|leader|kill [CGROUP_DIR]\n");
    return 2;
  }
  int procs = atoi(argv[1]), threads = atoi(argv[2]);
  const char *names[] = {"group", "threads", "main", "leader", "kill"};
  int m = -1;
  for (int i = 0; i < 5; i++)
    if (strcmp(argv[3], names[i]) == 0) m = i;
  if (m < 0 || threads < 1 || procs < 1) return 2;
  mode = (enum mode)m;
  total = threads + 1;
  int cgroup_fd = -1;
  if (argc > 4 && (cgroup_fd = open(argv[4], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
    perror(argv[4]);
    return 1;
  }
  for (int i = 0; i < procs; i++) {
    code = i % 250 + 1;
    pid_t pid = spawn(cgroup_fd);
    if (pid < 0) {
      perror("clone");
      return 1;
    }
    if (pid == 0) child(threads);
    int status;
    if (waitpid(pid, &status, 0) != pid) {
      perror("waitpid");
      return 1;
    }
    printf("%d %d\n", pid, status);
  }
  return 0;
}
