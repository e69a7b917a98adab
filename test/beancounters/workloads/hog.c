/* Allocates and touches N MiB (argv[1]), says "ready", then sleeps S seconds (argv[2]). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
  int secs = argc > 2 ? atoi(argv[2]) : 5;
  char *p = malloc(mib << 20);
  if (p == NULL) return 1;
  memset(p, 1, mib << 20);
  printf("ready\n");
  fflush(stdout);
  sleep(secs);
  return p[4096] == 1 ? 0 : 2;
}
