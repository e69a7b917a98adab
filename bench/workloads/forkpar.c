/* Parallel fork + exit loops: LOOPS worker processes (default 2, one per core here) each run the
 * fork + exit + wait loop on their share of COUNT; the machine's maximum fork rate.
 * usage: fw-forkpar COUNT [LOOPS [RATE]]   RATE paces the total to that many forks/s. */
#include "common.h"
#include <sys/wait.h>

static long worker(long count, double rate, uint64_t start)
{
	long done = 0;
	struct pid_log log;
	pid_log_init(&log, count);
	for (long i = 0; i < count; i++) {
		pace(start, i, rate);
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
	pid_log_flush(&log);
	return done;
}

int main(int argc, char **argv)
{
	long n = arg_long(argc, argv, 1, 20000, "COUNT");
	long loops = arg_long(argc, argv, 2, 2, "LOOPS");
	double rate = (double)arg_long(argc, argv, 3, 0, "RATE");
	if (loops < 1 || loops > 64) {
		fprintf(stderr, "fw-forkpar: LOOPS must be 1..64\n");
		return 2;
	}
	struct pid_log log;
	pid_log_init(&log, loops);
	uint64_t c0 = cpu_ns();
	uint64_t t0 = now_ns();
	long done = 0;

	for (long w = 0; w < loops; w++) {
		long share = n / loops + (w < n % loops);
		pid_t p = fork();
		if (p < 0)
			die("fork");
		if (p == 0)
			/* The exit status carries nothing useful past 255: a short worker is reported as 1. */
			_exit(worker(share, rate / loops, t0) == share ? 0 : 1);
		pid_log_add(&log, p);
	}
	int failed = 0;
	for (long w = 0; w < loops; w++) {
		int status;
		if (wait(&status) < 0)
			die("wait");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	if (failed) {
		fprintf(stderr, "fw-forkpar: a worker failed\n");
		return 1;
	}
	uint64_t ns = now_ns() - t0;
	uint64_t cpu = cpu_ns() - c0;
	done = n;
	pid_log_flush(&log);
	report("forkpar", done, done + loops, 0, done + loops, ns, cpu);
	return 0;
}
