/* Spins until its loop has used argv[1] seconds of CPU (default 2), however busy the machine is,
 * then prints the CPU the loop used, from main's start (user + system, ns): "cpu_ns N". From
 * main's start, not the process's: a test's shell moves itself into its cgroup after fork, and
 * what the process spent before (the exec that tears down the forked copy of a large parent, seen
 * at 10 ms under load) is in getrusage but in no cgroup of the test. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  double want = argc > 1 ? atof(argv[1]) : 2.0;
  double start = cpu_now(), now;
  volatile unsigned long n = 0;
  do {
    for (int i = 0; i < 100000; i++) n++;
    now = cpu_now();
  } while (now - start < want);
  printf("cpu_ns %lld\n", (long long)((now - start) * 1e9));
  return 0;
}
