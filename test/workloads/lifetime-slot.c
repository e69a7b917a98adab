/* The kernel's lifetime slot (bpf/lifetime.h) on the host, for
 * test/groups/lifetime-slot.test.ts: reads lifetimes in ns, one per line, and
 * prints for each the slot bpf/lifetime.h gives and the slot by the plain
 * division (the bit length of the whole ms, capped at the +Inf slot). */
#include <linux/types.h>
#include <stdio.h>

#include "../../bpf/lifetime.h"

int main(void) {
  unsigned long long ns;
  while (scanf("%llu", &ns) == 1) {
    __u64 ms = ns / 1000000;
    __u32 bits = 0;
    while (ms) {
      bits++;
      ms >>= 1;
    }
    printf("%u %u\n", fw_lifetime_slot(ns),
           bits < FW_LIFETIME_SLOTS - 1 ? bits : FW_LIFETIME_SLOTS - 1);
  }
  return 0;
}
