// stdout for log lines that survives a broken pipe: a closed stdout (EPIPE,
// or no console at all in a Nitro enclave) must cost log lines, never the
// process. After the first error every later line is dropped here.

let stdoutBroken = false;

/** Writes `line` to stdout unless stdout has failed before. */
export function writeStdout(line: string): void {
  if (stdoutBroken) return;
  if (process.stdout.listenerCount('error') === 0) {
    process.stdout.on('error', () => {
      stdoutBroken = true;
    });
  }
  process.stdout.write(line);
}
