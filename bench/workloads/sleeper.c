/* Sleeps COUNT times for MS milliseconds each: the CPU a process spends per wake-up from a timed
 * sleep (bench/wake-cost.mjs puts it beside a node process doing the same on a timer).
 * usage: fw-sleeper COUNT MS */
#include "common.h"

int main(int argc, char **argv)
{
	long n = arg_long(argc, argv, 1, 100, "COUNT");
	long ms = arg_long(argc, argv, 2, 50, "MS");
	uint64_t c0 = cpu_ns();
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	report("sleeper", n, 0, 0, 0, now_ns() - t0, cpu_ns() - c0);
	return 0;
}
