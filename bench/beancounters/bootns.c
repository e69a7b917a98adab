/* The hook of the latency benchmark: prints CLOCK_BOOTTIME ns, the clock of kernel timestamps. */
#include <stdio.h>
#include <time.h>

int main(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  printf("started %lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
  return 0;
}
