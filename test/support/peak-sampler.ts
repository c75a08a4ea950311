// Samples a reading (a process's RSS, its descriptor count) every
// `intervalMs` and keeps the peak while an attack runs.

export interface PeakSampler {
  /** The reading when sampling started. */
  readonly baseline: number;
  /** Highest reading so far. */
  peak(): number;
  /** Stops sampling (one last reading); returns the peak. */
  stop(): number;
}

export function samplePeak(read: () => number, intervalMs: number): PeakSampler {
  const baseline = read();
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, read());
  }, intervalMs);
  timer.unref();
  return {
    baseline,
    peak: () => peak,
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, read());
      return peak;
    },
  };
}
