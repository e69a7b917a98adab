/*
 * The crossings of the beancounter latency benchmark: CYCLES times, fork N children (each waits
 * for SIGKILL), hold them for HOLD_MS, then kill and reap them and stay idle for IDLE_MS. A group
 * with a tasks barrier just under N + 1 crosses it once per cycle, a few forks before the end
 * of the burst, as a runaway fork loop would.
 *
 *   cycler CYCLES N HOLD_MS IDLE_MS
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void nap(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: cycler CYCLES N HOLD_MS IDLE_MS\n");
    return 2;
  }
  int cycles = atoi(argv[1]), n = atoi(argv[2]);
  long hold = atol(argv[3]), idle = atol(argv[4]);
  pid_t *kids = calloc((size_t)n, sizeof(pid_t));
  for (int c = 0; c < cycles; c++) {
    int made = 0;
    for (int i = 0; i < n; i++) {
      pid_t p = fork();
      if (p == 0) {
        for (;;) pause();
      }
      if (p > 0) kids[made++] = p;
    }
    nap(hold);
    for (int i = 0; i < made; i++) kill(kids[i], SIGKILL);
    for (int i = 0; i < made; i++) waitpid(kids[i], NULL, 0);
    nap(idle);
  }
  return 0;
}
