/* Cgroup churn: N times, make <parent>/c<i>, run a child inside it that exits at once, remove it
 * (after GAP_US microseconds, 0 unless given: a reader then has time to see the exit before the rmdir).
 * Prints each cgroup's id (its directory's inode), one a line.
 * usage: cgchurn PARENT_DIR N [GAP_US] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int n = atoi(argv[2]);
  int gap_us = argc > 3 ? atoi(argv[3]) : 0;
  char dir[4096], procs[4200];
  for (int i = 0; i < n; i++) {
    snprintf(dir, sizeof(dir), "%s/c%d", argv[1], i);
    struct stat st;
    if (mkdir(dir, 0755) != 0 || stat(dir, &st) != 0) { perror(dir); return 1; }
    printf("%llu\n", (unsigned long long)st.st_ino);
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open(procs, O_WRONLY);
      if (fd < 0 || write(fd, "0", 1) != 1) _exit(1);
      _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    if (gap_us > 0) usleep(gap_us);
    while (rmdir(dir) != 0) usleep(100);  /* the exiting child may linger a moment */
  }
  return 0;
}
