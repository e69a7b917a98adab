/* Shared by the bench workloads: argument parsing, a monotonic clock, optional pacing, and the
 * one result line every workload prints (parsed by bench/lib/workload.mjs):
 *
 *   workload=NAME pid=PID ops=N tasks=T execs=E exits=X elapsed_ns=NS cpu_ns=CPU
 *
 * elapsed_ns: wall time of the timed loop; cpu_ns: user + system CPU the run and its (waited-for)
 * children used in it. The BPF programs run in the forking and exiting tasks, so their cost lands
 * in cpu_ns; a busy machine stretches elapsed_ns far more than cpu_ns.
 * tasks: processes or threads this run created (workers included); execs: successful execs;
 * exits: tasks that ended, the workload's own main task not counted. A tracer that saw every event
 * reports exactly these numbers for the tree rooted at PID.
 *
 * With FW_BENCH_PIDS=FILE in the environment, a run also appends the pid (tid, for threads) of
 * every task it created to FILE, one a line, after the timed part: the ground truth a tracer's
 * output is checked against, even when the tracer gets a task's parent wrong. */
#ifndef FW_BENCH_COMMON_H
#define FW_BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t tv_ns(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000ull;
}

/* CPU used so far by this process (all threads) and its waited-for children. */
static inline uint64_t cpu_ns(void)
{
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	return tv_ns(self.ru_utime) + tv_ns(self.ru_stime) + tv_ns(kids.ru_utime) + tv_ns(kids.ru_stime);
}

/* A positive integer argument, or exit 2 naming it. */
static inline long arg_long(int argc, char **argv, int i, long dflt, const char *what)
{
	if (i >= argc)
		return dflt;
	char *end;
	errno = 0;
	long v = strtol(argv[i], &end, 10);
	if (errno || *end || v < 0) {
		fprintf(stderr, "%s: %s must be a non-negative integer, got '%s'\n", argv[0], what, argv[i]);
		exit(2);
	}
	return v;
}

/* Pacing: op i of a loop running at `rate` ops/s is due at start + i/rate. Sleeping only when more
 * than 1 ms ahead keeps the loop from adding a context switch per op; a loop that cannot keep up
 * runs flat out. rate 0: no pacing. */
static inline void pace(uint64_t start, long i, double rate)
{
	if (rate <= 0)
		return;
	uint64_t due = start + (uint64_t)((double)i * 1e9 / rate);
	uint64_t now = now_ns();
	if (due > now + 1000000) {
		struct timespec ts = { .tv_sec = due / 1000000000ull, .tv_nsec = due % 1000000000ull };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
}

static inline void report(const char *name, long ops, long tasks, long execs, long exits, uint64_t ns,
			  uint64_t cpu)
{
	printf("workload=%s pid=%d ops=%ld tasks=%ld execs=%ld exits=%ld elapsed_ns=%llu cpu_ns=%llu\n",
	       name, (int)getpid(), ops, tasks, execs, exits, (unsigned long long)ns,
	       (unsigned long long)cpu);
	fflush(stdout);
}

static inline void die(const char *what)
{
	perror(what);
	exit(1);
}

/* The created tasks' ids, kept in memory while timing and written once at the end. */
struct pid_log {
	int *ids;
	long n, cap;
};

static inline void pid_log_init(struct pid_log *l, long cap)
{
	l->n = 0;
	l->cap = getenv("FW_BENCH_PIDS") ? cap : 0;
	l->ids = l->cap ? malloc(sizeof(int) * (size_t)cap) : NULL;
	if (l->cap && !l->ids)
		die("malloc");
}

static inline void pid_log_add(struct pid_log *l, int id)
{
	if (l->n < l->cap)
		l->ids[l->n++] = id;
}

/* One O_APPEND write per 4 KiB block, so parallel workers can share the file. */
static inline void pid_log_flush(struct pid_log *l)
{
	const char *path = getenv("FW_BENCH_PIDS");
	if (!path || !l->cap)
		return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0)
		die(path);
	char buf[4096];
	size_t used = 0;
	for (long i = 0; i < l->n; i++) {
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%d\n", l->ids[i]);
		if (sizeof(buf) - used < 16 || i == l->n - 1) {
			if (write(fd, buf, used) != (ssize_t)used)
				die("write pid log");
			used = 0;
		}
	}
	close(fd);
	free(l->ids);
	l->ids = NULL;
	l->cap = 0;
}

#endif
