/*
 * idle-threads N: holds N threads (itself and N-1 more, on 64 KiB stacks) until killed; says
 * "ready" once all exist.
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
  int n = argc > 1 ? atoi(argv[1]) : 2;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  for (int i = 1; i < n; i++) {
    pthread_t t;
    if (pthread_create(&t, &attr, idle, NULL) != 0) return 1;
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
