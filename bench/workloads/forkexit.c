/* fork + exit: each child exits at once, the parent waits for it before the next fork.
 * usage: fw-forkexit COUNT */
#include "common.h"
#include <sys/wait.h>

int main(int argc, char **argv)
{
	long n = arg_long(argc, argv, 1, 20000, "COUNT");
	long done = 0;
	struct pid_log log;
	pid_log_init(&log, n);
	uint64_t c0 = cpu_ns();
	uint64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		pid_t p = fork();
		if (p < 0)
			die("fork");
		if (p == 0)
			_exit(0);
		if (waitpid(p, NULL, 0) != p)
			die("waitpid");
		pid_log_add(&log, p);
		done++;
	}
	uint64_t ns = now_ns() - t0;
	uint64_t cpu = cpu_ns() - c0;
	pid_log_flush(&log);
	report("forkexit", done, done, 0, done, ns, cpu);
	return 0;
}
