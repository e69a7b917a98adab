/* fork + exec: each child execs a program (default /bin/true), the parent waits for it.
 * usage: fw-forkexec COUNT [PROGRAM] */
#include "common.h"
#include <sys/wait.h>

int main(int argc, char **argv)
{
	long n = arg_long(argc, argv, 1, 5000, "COUNT");
	const char *prog = argc > 2 ? argv[2] : "/bin/true";
	long done = 0, ok = 0;
	struct pid_log log;
	pid_log_init(&log, n);
	uint64_t c0 = cpu_ns();
	uint64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		pid_t p = fork();
		if (p < 0)
			die("fork");
		if (p == 0) {
			execl(prog, prog, (char *)NULL);
			_exit(127);
		}
		int status;
		if (waitpid(p, &status, 0) != p)
			die("waitpid");
		pid_log_add(&log, p);
		done++;
		if (WIFEXITED(status) && WEXITSTATUS(status) != 127)
			ok++;
	}
	uint64_t ns = now_ns() - t0;
	uint64_t cpu = cpu_ns() - c0;
	pid_log_flush(&log);
	report("forkexec", done, done, ok, done, ns, cpu);
	if (ok != done) {
		fprintf(stderr, "fw-forkexec: %ld of %ld execs of %s failed\n", done - ok, done, prog);
		return 1;
	}
	return 0;
}
