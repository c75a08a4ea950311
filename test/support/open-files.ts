// Open file descriptors of a process we started, counted in /proc/PID/fd,
// and a sampler that keeps the peak while an attack runs (the descriptor
// twin of process-memory.ts). A proxy that leaks a socket per client shows
// up here long before it runs out of descriptors.

import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { samplePeak, type PeakSampler } from './peak-sampler.js';

/** Descriptors `pid` holds open; 0 once the process is gone. */
export function openFileCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** The lowest descriptor count of `pid` over `ms`: filters out short connections (a probe's) from a count at rest. */
export async function settledOpenFileCount(pid: number, ms = 500): Promise<number> {
  let lowest = openFileCount(pid);
  for (let waited = 0; waited < ms; waited += 50) {
    await sleep(50);
    lowest = Math.min(lowest, openFileCount(pid));
  }
  return lowest;
}

export type OpenFileSampler = PeakSampler;

/** Samples `pid`'s descriptor count every `intervalMs` until stopped; stop() returns the peak. */
export function sampleOpenFiles(pid: number, intervalMs = 100): OpenFileSampler {
  return samplePeak(() => openFileCount(pid), intervalMs);
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
