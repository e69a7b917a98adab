/* thread create + join: each thread returns at once, its creator joins it before the next one.
 * usage: fw-threads COUNT [LOOPS [RATE]]
 * LOOPS > 1 runs that many creator threads in parallel, COUNT split between them; RATE paces the
 * total to that many threads/s. */
#include "common.h"
#include <pthread.h>

struct loop {
	long count;
	double rate;
	uint64_t start;
	long done;
	int tid;
	struct pid_log log;
};

/* The thread's one job: say who it was, for the pid log. */
static void *nothing(void *arg)
{
	*(int *)arg = gettid();
	return NULL;
}

static void *run_loop(void *arg)
{
	struct loop *l = arg;
	l->tid = gettid();
	for (long i = 0; i < l->count; i++) {
		pthread_t t;
		int tid = 0;
		pace(l->start, i, l->rate);
		int err = pthread_create(&t, NULL, nothing, &tid);
		if (err) {
			errno = err;
			die("pthread_create");
		}
		pthread_join(t, NULL);
		pid_log_add(&l->log, tid);
		l->done++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long n = arg_long(argc, argv, 1, 20000, "COUNT");
	long loops = arg_long(argc, argv, 2, 1, "LOOPS");
	double rate = (double)arg_long(argc, argv, 3, 0, "RATE");
	if (loops < 1 || loops > 64) {
		fprintf(stderr, "fw-threads: LOOPS must be 1..64\n");
		return 2;
	}
	struct loop l[64];
	pthread_t workers[64];
	uint64_t c0 = cpu_ns();
	uint64_t t0 = now_ns();
	long done = 0;

	for (long w = 0; w < loops; w++) {
		l[w] = (struct loop){ .count = n / loops + (w < n % loops), .rate = rate / loops, .start = t0 };
		pid_log_init(&l[w].log, l[w].count + 1);
		if (loops == 1)
			run_loop(&l[w]);
		else if (pthread_create(&workers[w], NULL, run_loop, &l[w]))
			die("pthread_create");
	}
	for (long w = 0; w < loops; w++) {
		if (loops > 1)
			pthread_join(workers[w], NULL);
		done += l[w].done;
	}
	uint64_t ns = now_ns() - t0;
	uint64_t cpu = cpu_ns() - c0;
	for (long w = 0; w < loops; w++) {
		if (loops > 1)
			pid_log_add(&l[w].log, l[w].tid);
		pid_log_flush(&l[w].log);
	}
	long extra = loops > 1 ? loops : 0;
	report("threads", done, done + extra, 0, done + extra, ns, cpu);
	return 0;
}
