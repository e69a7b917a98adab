/* Spins until it has used argv[1] seconds of CPU (default 2), however busy the machine is, then
 * prints the CPU it used as getrusage(RUSAGE_SELF) reports it (user + system, ns): "cpu_ns N". */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

int main(int argc, char **argv) {
  double want = argc > 1 ? atof(argv[1]) : 2.0;
  struct timespec ts;
  volatile unsigned long n = 0;
  do {
    for (int i = 0; i < 100000; i++) n++;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  } while (ts.tv_sec + ts.tv_nsec / 1e9 < want);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  long long ns = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
  printf("cpu_ns %lld\n", ns);
  return 0;
}
