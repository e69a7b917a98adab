/*
 * setname HEX: names itself (prctl PR_SET_NAME, what the kernel reports as comm) with the bytes
 * HEX spells, so a test can give a process any name a hostile one could pick (escape sequences,
 * newlines, C1 bytes); then forks one child that exits 0, reaps it, and exits 0. The child's fork
 * and exit and this process's exit all carry the name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  char name[16] = {0};
  const char *hex = argc > 1 ? argv[1] : "";
  size_t n = strlen(hex) / 2;
  if (n > sizeof name - 1) n = sizeof name - 1;
  for (size_t i = 0; i < n; i++) {
    unsigned int byte;
    if (sscanf(hex + 2 * i, "%2x", &byte) != 1) return 2;
    name[i] = (char)byte;
  }
  if (prctl(PR_SET_NAME, name, 0, 0, 0) != 0) return 3;
  pid_t pid = fork();
  if (pid < 0) return 4;
  if (pid == 0) _exit(0);
  int status;
  waitpid(pid, &status, 0);
  return 0;
}
