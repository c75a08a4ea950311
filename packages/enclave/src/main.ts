// The enclave program: wires the process around runEnclave (config from the
// environment, signals, exit codes). Exit 78 = configuration error, 1 = could
// not start, 0 = stopped by a signal after draining.

import { formatTransportAddress } from '@http-enclave/protocol';
import { EnclaveConfigError, loadEnclaveConfig, PRODUCTION_REFUSAL_SUFFIX } from './config.js';
import { earlySignalWindow, findDebuggerExposure } from './debugger-guard.js';
import { createLogger } from './log.js';
import { startEnclaveTelemetry } from './telemetry/enclave-telemetry.js';
import { runEnclave, type EnclaveHandle } from './run.js';

const EXIT_CONFIG = 78;

// Node 20 opens the V8 inspector on SIGUSR1, which would let anyone who can
// signal this process read its memory. A handler of our own disables that.
process.on('SIGUSR1', () => {});

function fail(line: string, code: number): never {
  failLines([line], code);
}

function failLines(lines: readonly string[], code: number): never {
  process.stderr.write(lines.map((line) => `enclave: ${line}\n`).join(''));
  process.exit(code);
}

/** Codes of a failed key release (keys/obtain-keyring.ts): the enclave serves nothing without its keys. */
const KEY_RELEASE_CODES = new Set(['KMS_REQUEST_FAILED', 'KMS_ENVELOPE_INVALID', 'KEYRING_INVALID', 'KEYRING_CONFLICT', 'STORAGE_UNAVAILABLE', 'STORAGE_BAD_REPLY', 'AWS_CREDENTIALS_UNAVAILABLE', 'ATTESTATION_FAILED']);

// Before anything reads a key: no debugger in production (debugger-guard.ts).
const debuggerExposure = findDebuggerExposure(process.env);
const productionMode = (process.env['ENCLAVE_MODE'] ?? '').trim().toLowerCase() === 'production';
if (productionMode && debuggerExposure.length > 0) {
  failLines(debuggerExposure.map((problem) => `refused in production mode: ${problem}`), EXIT_CONFIG);
}

let config;
try {
  config = loadEnclaveConfig(process.env);
} catch (error) {
  // Every bad variable on one line; each development choice that production
  // mode refuses on a line of its own (config.ts, listDevelopmentChoices).
  if (error instanceof EnclaveConfigError) {
    const refusals = error.problems.filter((problem) => problem.endsWith(PRODUCTION_REFUSAL_SUFFIX));
    const others = error.problems.filter((problem) => !problem.endsWith(PRODUCTION_REFUSAL_SUFFIX));
    failLines([...(others.length > 0 ? [others.join('; ')] : []), ...refusals].map((line) => `configuration error: ${line}`), EXIT_CONFIG);
  }
  throw error;
}
// The key now lives in the keyring only; keep it out of any child's environment.
delete process.env['ENCLAVE_KEY_BASE64'];

// Logs and metrics to the host (TELEMETRY_ADDR): a Nitro enclave has no console.
const telemetry = config.telemetryAddress === undefined ? undefined : startEnclaveTelemetry(config.telemetryAddress);
const logger = createLogger(config.logLevel, undefined, telemetry?.logSink);
for (const problem of debuggerExposure) logger.warn(`development mode: ${problem}`);
const signalWindow = earlySignalWindow();
if (productionMode && signalWindow !== undefined) logger.warn(`production mode: ${signalWindow}`);

// Signal handlers go in before start-up, so a SIGTERM that arrives while the
// server is opening (or right after "enclave listening") still drains and
// exits 0 instead of killing the process.
let handle: EnclaveHandle | undefined;
let stopping = false;
const closeAndExit = (running: EnclaveHandle): void => {
  void running.close().then(async () => {
    logger.info('stopped');
    await telemetry?.close(); // the last lines reach the host (at most 500 ms)
    process.exit(0);
  });
};
const stop = (signal: string): void => {
  if (stopping) {
    logger.warn('second signal: exiting now', { signal });
    process.exit(1);
  }
  stopping = true;
  logger.info('draining', { signal });
  if (handle !== undefined) closeAndExit(handle);
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

try {
  handle = await runEnclave(config, { logger });
} catch (error) {
  const code = (error as { code?: unknown }).code;
  const where = `ENCLAVE_LISTEN=${formatTransportAddress(config.listen)}`;
  if (code === 'CONFIG_INVALID') fail(`configuration error: ${(error as Error).message}`, EXIT_CONFIG);
  if (typeof code === 'string' && KEY_RELEASE_CODES.has(code)) {
    const reason = (error as { reason?: unknown }).reason;
    fail(`cannot obtain the master keyring (${code}${typeof reason === 'string' ? `/${reason}` : ''}, KEY_SOURCE=${config.keySource}): ${(error as Error).message}`, 1);
  }
  if (code === 'ATTESTATION_UNAVAILABLE') fail(`cannot start attestation (ATTESTATION_UNAVAILABLE): ATTESTATION_PROVIDER=${config.attestationProvider}: ${(error as Error).message}`, 1);
  if (code === 'EADDRINUSE') fail(`cannot listen on ${where}: address already in use; set ENCLAVE_PORT or ENCLAVE_LISTEN to a free address`, 1);
  if (code === 'EACCES') fail(`cannot listen on ${where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`, 1);
  if (code === 'TRANSPORT_UNSUPPORTED') fail(`cannot listen on ${where}: ${(error as Error).message}`, 1);
  fail(`could not start: ${typeof code === 'string' ? code : (error as Error).name}`, 1);
}

if (stopping) closeAndExit(handle);
