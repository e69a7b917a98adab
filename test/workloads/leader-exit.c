/*
 * leader-exit N: starts N-1 threads that idle, says "ready", then its leader thread ends
 * (pthread_exit): the process lives on, a zombie leader and N-1 threads, until killed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *idle(void *arg) {
  for (;;) pause();
  return arg;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 3;
  for (int i = 1; i < n; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, idle, NULL) != 0) return 1;
  }
  printf("ready\n");
  fflush(stdout);
  pthread_exit(NULL);
}
