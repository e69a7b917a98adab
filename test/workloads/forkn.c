/*
 * forkn N [RATE]: N short-lived children one after the other (fork, _exit(0), reaped before the
 * next), at most RATE a second when given. Each is one fork and one exit record: 2N events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000;
  double rate = argc > 2 ? atof(argv[2]) : 0;
  double start = now();
  for (long i = 0; i < n; i++) {
    if (rate > 0) {
      double due = start + i / rate;
      double wait = due - now();
      if (wait > 0) usleep((useconds_t)(wait * 1e6));
    }
    pid_t p = fork();
    if (p < 0) {
      perror("fork");
      return 1;
    }
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
  }
  printf("forked %ld in %.3fs\n", n, now() - start);
  return 0;
}
