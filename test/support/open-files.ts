// Open file descriptors of a process we started, counted in /proc/PID/fd,
// and a sampler that keeps the peak while an attack runs (the descriptor
// twin of process-memory.ts). A proxy that leaks a socket per client shows
// up here long before it runs out of descriptors.

import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Descriptors `pid` holds open; 0 once the process is gone. */
export function openFileCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

export interface OpenFileSampler {
  /** Count when sampling started. */
  readonly baseline: number;
  /** Highest count seen so far. */
  peak(): number;
  /** Stops sampling; returns the peak. */
  stop(): number;
}

/** Samples `pid`'s descriptor count every `intervalMs` until stopped. */
export function sampleOpenFiles(pid: number, intervalMs = 100): OpenFileSampler {
  const baseline = openFileCount(pid);
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, openFileCount(pid));
  }, intervalMs);
  timer.unref();
  return {
    baseline,
    peak: () => peak,
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, openFileCount(pid));
      return peak;
    },
  };
}

/** Waits (at most `withinMs`) until `pid` holds at most `limit` descriptors; returns the last count seen. */
export async function waitForOpenFilesAtMost(pid: number, limit: number, withinMs: number): Promise<number> {
  const deadline = Date.now() + withinMs;
  let count = openFileCount(pid);
  while (count > limit && Date.now() < deadline) {
    await sleep(100);
    count = openFileCount(pid);
  }
  return count;
}
