// The host process: runHost inside runProgram (@http-enclave/program:
// signals, exit codes, stderr lines). Config errors exit 78 (EX_CONFIG),
// start-up errors exit 1, a graceful stop exits 0.

import { runProgram } from '@http-enclave/program';
import { loadHostConfig, type HostConfig } from './config.js';
import { createLogger } from './log.js';
import { describeStartupError, runHost, type HostHandle } from './run.js';

await runProgram<HostConfig, HostHandle>({
  name: 'host',
  loadConfig: () => loadHostConfig(process.env),
  setUp: (config) => {
    const logger = createLogger({ level: config.logLevel });
    return {
      start: (control) => runHost(config, { logger, onFatalError: (error) => control.fail(error.message) }),
      describeStartupError,
      onStopSignal: (signal) => logger.info('stopping', { signal, drainTimeoutMs: config.drainTimeoutMs }),
      onSecondSignal: (signal) => logger.warn('second signal; exiting now', { signal }),
    };
  },
});
