/* Starts N threads (argv[1], default 8) that each return at once, joins them, exits 0. */
#include <pthread.h>
#include <stdlib.h>

static void *noop(void *arg) { return arg; }

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 8;
  pthread_t t[256];
  if (n > 256) n = 256;
  for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, noop, NULL);
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
  return 0;
}
