#!/usr/bin/env node
// The KMS double as a process (TEST ONLY, for end-to-end tests and the local
// demo): configuration from the environment (kms-double-config.ts), one JSON
// line on stdout, stops on SIGTERM / SIGINT.
import { readKmsDoubleConfig } from './kms-double-config.js';
import { runKmsDouble } from './run-kms-double.js';

const running = await runKmsDouble(readKmsDoubleConfig(process.env)).catch((error: unknown) => {
  process.stderr.write(`kms-double: ${error instanceof Error ? error.message : 'failed to start'}\n`);
  process.exit(1);
});
process.stdout.write(`${running.announcement}\n`);
process.stderr.write('kms-double: TEST ONLY KMS double listening (not AWS; keys die with the process)\n');
const stop = (): void => {
  running.handle.close().then(() => process.exit(0), () => process.exit(1));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
