// bench/ring-layout.mjs's loader and reader for probe.bpf.c: loads one build, makes a ring per CPU
// when the build writes to them, attaches, drains every 100 ms until SIGTERM or SIGINT, then prints
// "records N lost M" (M: records the programs could not reserve). A `stage` build's records are
// written in place and not read: it prints "records 0 lost 0".
//
// usage: probe OBJECT.bpf.o shared|percpu|stage    (env RING_KIB: each CPU's ring, 4096)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;
static unsigned long long records;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	records++;
	return 0;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "probe: %s: %s\n", what, strerror(err < 0 ? -err : err));
	return 1;
}

int main(int argc, char **argv)
{
	const char *kind = argc == 3 ? argv[2] : "";
	if (strcmp(kind, "shared") && strcmp(kind, "percpu") && strcmp(kind, "stage")) {
		fprintf(stderr, "usage: probe OBJECT.bpf.o shared|percpu|stage\n");
		return 2;
	}
	int percpu = !strcmp(kind, "percpu");
	long kib = getenv("RING_KIB") ? atol(getenv("RING_KIB")) : 4096;
	if (kib < 4 || (kib & (kib - 1))) {
		fprintf(stderr, "probe: RING_KIB must be a power of two, at least 4\n");
		return 2;
	}
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu < 1)
		return fail("libbpf_num_possible_cpus", ncpu);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj)
		return fail("open", errno);
	struct bpf_map *outer = bpf_object__find_map_by_name(obj, "rings");
	struct bpf_map *shared = bpf_object__find_map_by_name(obj, "shared");
	struct bpf_map *lost = bpf_object__find_map_by_name(obj, "lost");
	if (!outer || !shared || !lost)
		return fail("maps", ENOENT);
	int err = bpf_map__set_max_entries(outer, ncpu);
	if (err)
		return fail("set_max_entries", err);
	err = bpf_object__load(obj);
	if (err)
		return fail("load", err);

	struct ring_buffer *rb = NULL;
	if (!strcmp(kind, "stage")) {
		/* nothing reads the staging areas */
	} else if (percpu) {
		for (int i = 0; i < ncpu; i++) {
			int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, NULL, 0, 0, kib << 10, NULL);
			if (fd < 0)
				return fail("ring", errno);
			if (bpf_map_update_elem(bpf_map__fd(outer), &i, &fd, BPF_ANY))
				return fail("rings[cpu]", errno);
			err = rb ? ring_buffer__add(rb, fd, on_record, NULL) : 0;
			if (!rb)
				rb = ring_buffer__new(fd, on_record, NULL, NULL);
			if (!rb || err)
				return fail("ring_buffer", rb ? err : errno);
		}
	} else {
		rb = ring_buffer__new(bpf_map__fd(shared), on_record, NULL, NULL);
		if (!rb)
			return fail("ring_buffer", errno);
	}

	struct bpf_program *prog;
	bpf_object__for_each_program(prog, obj)
	{
		if (!bpf_program__attach(prog))
			return fail(bpf_program__name(prog), errno);
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	fprintf(stderr, "probe: attached (%s, %d CPUs)\n", kind, ncpu);
	struct timespec period = { 0, 100 * 1000 * 1000 };
	while (!stop) {
		nanosleep(&period, NULL);
		if (rb)
			ring_buffer__consume(rb);
	}
	if (rb)
		ring_buffer__consume(rb);

	unsigned long long *per = calloc(ncpu, sizeof(*per)), n = 0;
	__u32 zero = 0;
	if (per && !bpf_map_lookup_elem(bpf_map__fd(lost), &zero, per))
		for (int i = 0; i < ncpu; i++)
			n += per[i];
	printf("records %llu lost %llu\n", records, n);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
