/*
 * fwbs-crasher: the supervised program of bench/supervisor/run.sh.
 *
 *   fwbs-crasher crash FILE MIN_MS MAX_MS   append "start <ns>", live a random MIN_MS..MAX_MS,
 *                                           append "exit <ns>", exit 1
 *   fwbs-crasher idle TAG                   sleep until killed (TAG only marks the command line)
 *
 * Times are CLOCK_MONOTONIC nanoseconds, one clock for every process on the host, so the gap
 * between one run's "exit" and the next run's "start" is the restart latency as the program
 * itself sees it: from just before its exit to its next main(). Each line is one write() on an
 * O_APPEND descriptor, so lines from successive runs never interleave. Static, so that starting
 * it costs an exec and no dynamic linking.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void stamp(int fd, const char *what, long long ns) {
  char line[64];
  int n = snprintf(line, sizeof line, "%s %lld %d\n", what, ns, (int)getpid());
  if (write(fd, line, (size_t)n) != n) _exit(2);
}

int main(int argc, char **argv) {
  long long started = now_ns();
  if (argc == 3 && strcmp(argv[1], "idle") == 0) {
    for (;;) pause();
  }
  if (argc != 5 || strcmp(argv[1], "crash") != 0) {
    fprintf(stderr, "usage: fwbs-crasher crash FILE MIN_MS MAX_MS | fwbs-crasher idle TAG\n");
    return 64;
  }
  int fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    perror(argv[2]);
    return 2;
  }
  stamp(fd, "start", started);
  long min = atol(argv[3]), max = atol(argv[4]);
  srand((unsigned)(started ^ getpid()));
  long ms = max > min ? min + rand() % (max - min) : min;
  struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&d, NULL);
  stamp(fd, "exit", now_ns());
  _exit(1);
}
