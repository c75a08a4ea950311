// The host process: wiring only. Config errors exit 78 (EX_CONFIG), start-up
// errors exit 1, a graceful stop exits 0.

import { HostConfigError, loadHostConfig, type HostConfig } from './config.js';
import { createLogger } from './log.js';
import { describeStartupError, runHost, type HostHandle } from './run.js';

/** sysexits.h EX_CONFIG. */
const EXIT_CONFIG = 78;

let config: HostConfig;
try {
  config = loadHostConfig(process.env);
} catch (error) {
  process.stderr.write(`host: ${error instanceof HostConfigError ? error.message : 'cannot load config'}\n`);
  process.exit(EXIT_CONFIG);
}
const logger = createLogger({ level: config.logLevel });
// Node 20 opens the inspector on SIGUSR1 unless a handler exists (K6).
process.on('SIGUSR1', () => logger.warn('SIGUSR1 ignored'));

// Signal handlers go in before start-up, so a SIGTERM that arrives while the
// listeners are opening (or right after "host listening") still drains and
// exits 0 instead of killing the process.
let handle: HostHandle | undefined;
let stopping = false;
const closeAndExit = (running: HostHandle): void => {
  void running.close().then(() => process.exit(0));
};
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) {
    logger.warn('second signal; exiting now', { signal });
    process.exit(1);
  }
  stopping = true;
  logger.info('stopping', { signal, drainTimeoutMs: config.drainTimeoutMs });
  if (handle !== undefined) closeAndExit(handle);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

handle = await runHost(config, {
  logger,
  onFatalError: (error) => {
    process.stderr.write(`host: ${error.message}\n`);
    process.exit(1);
  },
}).catch((error: unknown) => {
  process.stderr.write(`host: ${describeStartupError(error)}\n`);
  process.exit(1);
});
if (stopping) closeAndExit(handle);
