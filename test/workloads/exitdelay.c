/*
 * exitdelay OBJ: loads and attaches the test-only exitdelay.bpf.o, prints "ready", and
 * keeps it attached until stdin closes (its links go with this process).
 */
#include <bpf/libbpf.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
  if (!obj) { perror("bpf_object__open_file"); return 1; }
  if (bpf_object__load(obj)) { perror("bpf_object__load"); return 1; }
  struct bpf_program *prog;
  bpf_object__for_each_program(prog, obj) {
    if (!bpf_program__attach(prog)) { perror("bpf_program__attach"); return 1; }
  }
  printf("ready\n");
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof(buf)) > 0) {}
  return 0;
}
