/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A process lifetime's slot in the histogram the kernel keeps (fw_cg_counters.lifetime, proc.h),
 * for proc.bpf.c's exits. Plain C on fixed-width types, so test/groups/lifetime-slot.test.ts
 * compiles it on the host and holds it to the division and to src/groups/registry.ts lifetimeSlot.
 */
#ifndef FORKWATCH_LIFETIME_H
#define FORKWATCH_LIFETIME_H

#include "proc.h"

/* The bit length of the lifetime's whole ms, capped at the +Inf slot: slot i counts lifetimes under
 * 2^i ms. Found without a division (a 64-bit divide is tens of cycles on every process exit): the
 * whole ms are at least 2^s exactly when ns >> s is at least a million, and the whole ms of ns >> s
 * are those of ns, shifted by s. */
static inline __attribute__((always_inline)) __u32 fw_lifetime_slot(__u64 ns)
{
	const __u64 ms = 1000000;
	__u32 n = 0;
	if ((ns >> 32) >= ms) {
		n += 32;
		ns >>= 32;
	}
	if ((ns >> 16) >= ms) {
		n += 16;
		ns >>= 16;
	}
	if ((ns >> 8) >= ms) {
		n += 8;
		ns >>= 8;
	}
	if ((ns >> 4) >= ms) {
		n += 4;
		ns >>= 4;
	}
	if ((ns >> 2) >= ms) {
		n += 2;
		ns >>= 2;
	}
	if ((ns >> 1) >= ms) {
		n += 1;
		ns >>= 1;
	}
	n += ns >= ms;
	return n < FW_LIFETIME_SLOTS - 1 ? n : FW_LIFETIME_SLOTS - 1;
}

#endif /* FORKWATCH_LIFETIME_H */
