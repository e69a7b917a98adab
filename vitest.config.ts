import { defineConfig } from 'vitest/config';

// Kernel tests load real BPF programs and drive real processes: one file at a time keeps them
// from seeing each other's workloads and keeps timings sane on a 2-core machine.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
