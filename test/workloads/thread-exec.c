/*
 * thread-exec N: starts N-1 more threads that idle; once all exist, says "ready", then one of them
 * (not the leader) execs "/bin/sleep 1000". The kernel's de_thread ends the other threads and the
 * process goes on, one thread, under the same pid and start time.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_barrier_t all;

static void *idle(void *arg) {
  pthread_barrier_wait(&all);
  for (;;) pause();
  return arg;
}

static void *execer(void *arg) {
  pthread_barrier_wait(&all);
  printf("ready\n");
  fflush(stdout);
  execl("/bin/sleep", "sleep", "1000", (char *)NULL);
  return arg;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 3;
  if (n < 2) n = 2;
  pthread_barrier_init(&all, NULL, n);
  pthread_t t;
  for (int i = 2; i < n; i++)
    if (pthread_create(&t, NULL, idle, NULL) != 0) return 1;
  if (pthread_create(&t, NULL, execer, NULL) != 0) return 1;
  pthread_barrier_wait(&all);
  for (;;) pause();
}
