/* Spins until it has used argv[1] seconds of CPU (default 2), however busy the machine is. */
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
  double want = argc > 1 ? atof(argv[1]) : 2.0;
  struct timespec ts;
  volatile unsigned long n = 0;
  do {
    for (int i = 0; i < 100000; i++) n++;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  } while (ts.tv_sec + ts.tv_nsec / 1e9 < want);
  return 0;
}
