// Resident memory of a process we started, read from /proc/PID/status
// (VmRSS), and a sampler that keeps the peak while an attack runs. Every
// adversarial case measures the programs' memory this way and bounds it.

import { readFileSync } from 'node:fs';
import { samplePeak } from './peak-sampler.js';

/** VmRSS of `pid` in MiB; 0 once the process is gone. */
export function rssMiB(pid: number): number {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return 0;
  }
  const line = status.split('\n').find((l) => l.startsWith('VmRSS:')) ?? '';
  return Number(/(\d+)/.exec(line)?.[1] ?? 0) / 1024;
}

export interface MemorySampler {
  /** RSS when sampling started, MiB. */
  readonly baseline: number;
  /** Highest RSS seen so far, MiB. */
  peak(): number;
  /** Stops sampling; returns the peak growth over the baseline, MiB. */
  stop(): number;
}

/** Samples `pid`'s RSS every `intervalMs` until stopped. */
export function sampleMemory(pid: number, intervalMs = 100): MemorySampler {
  const sampler = samplePeak(() => rssMiB(pid), intervalMs);
  return { baseline: sampler.baseline, peak: () => sampler.peak(), stop: () => sampler.stop() - sampler.baseline };
}
