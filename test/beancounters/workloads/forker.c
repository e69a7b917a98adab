/*
 * Tries N forks (argv[1]) without retrying, as a fork bomb would, and prints "forked F refused R
 * first K": the refusals are exactly the kernel's pids.max refusals (EAGAIN), K the number of the
 * first refused fork (0: none). Children wait for SIGKILL; they are
 * killed and reaped before exit.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 10;
  pid_t kids[4096];
  int forked = 0, refused = 0, first = 0;
  if (n > 4096) n = 4096;
  for (int i = 0; i < n; i++) {
    pid_t p = fork();
    if (p == 0) {
      for (;;) pause();
    }
    if (p < 0) {
      if (errno != EAGAIN) {
        perror("fork");
        return 1;
      }
      if (refused++ == 0) first = i + 1;
    } else {
      kids[forked++] = p;
    }
  }
  printf("forked %d refused %d first %d\n", forked, refused, first);
  fflush(stdout);
  for (int i = 0; i < forked; i++) kill(kids[i], SIGKILL);
  for (int i = 0; i < forked; i++) waitpid(kids[i], NULL, 0);
  return 0;
}
