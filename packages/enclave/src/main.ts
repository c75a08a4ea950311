// The enclave program: runEnclave inside runProgram (@http-enclave/program:
// signals, exit codes, stderr lines). Exit 78 = configuration error, 1 =
// could not start, 0 = stopped by a signal after draining. What is the
// enclave's own: the debugger guard before any configuration (or key) is
// read, the key removed from the environment once parsed, telemetry to the
// host, and the words of its start-up errors.

import { formatTransportAddress } from '@http-enclave/protocol';
import { ConfigInvalidError, runProgram } from '@http-enclave/program';
import { loadEnclaveConfig, PRODUCTION_REFUSAL_SUFFIX, type EnclaveConfig } from './config.js';
import { earlySignalWindow, findDebuggerExposure } from './debugger-guard.js';
import { createLogger } from './log.js';
import { startEnclaveTelemetry } from './telemetry/enclave-telemetry.js';
import { runEnclave, type EnclaveHandle } from './run.js';

/** Codes of a failed key release (keys/obtain-keyring.ts): the enclave serves nothing without its keys. */
const KEY_RELEASE_CODES = new Set(['KMS_REQUEST_FAILED', 'KMS_ENVELOPE_INVALID', 'KEYRING_INVALID', 'KEYRING_CONFLICT', 'STORAGE_UNAVAILABLE', 'STORAGE_BAD_REPLY', 'AWS_CREDENTIALS_UNAVAILABLE', 'ATTESTATION_FAILED']);

const productionMode = (): boolean => (process.env['ENCLAVE_MODE'] ?? '').trim().toLowerCase() === 'production';
let debuggerExposure: readonly string[] = [];

/**
 * Every bad variable on one line; each development choice that production
 * mode refuses on a line of its own (config.ts, listDevelopmentChoices).
 * Other CONFIG_INVALID errors (TLS files, found at start-up) are one line.
 */
function describeConfigError(error: Error): readonly string[] {
  if (!(error instanceof ConfigInvalidError)) return [`configuration error: ${error.message}`];
  const lines = error.problems.map((p) => `${p.variable}: ${p.problem}`);
  const refusals = lines.filter((line) => line.endsWith(PRODUCTION_REFUSAL_SUFFIX));
  const others = lines.filter((line) => !line.endsWith(PRODUCTION_REFUSAL_SUFFIX));
  return [...(others.length > 0 ? [others.join('; ')] : []), ...refusals].map((line) => `configuration error: ${line}`);
}

function describeStartupError(error: unknown, config: EnclaveConfig): string {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  const where = `ENCLAVE_LISTEN=${formatTransportAddress(config.listen)}`;
  if (typeof code === 'string' && KEY_RELEASE_CODES.has(code)) {
    const reason = (error as { reason?: unknown }).reason;
    return `cannot obtain the master keyring (${code}${typeof reason === 'string' ? `/${reason}` : ''}, KEY_SOURCE=${config.keySource}): ${message}`;
  }
  if (code === 'ATTESTATION_UNAVAILABLE') return `cannot start attestation (ATTESTATION_UNAVAILABLE): ATTESTATION_PROVIDER=${config.attestationProvider}: ${message}`;
  if (code === 'EADDRINUSE') return `cannot listen on ${where}: address already in use; set ENCLAVE_PORT or ENCLAVE_LISTEN to a free address`;
  if (code === 'EACCES') return `cannot listen on ${where}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)`;
  if (code === 'TRANSPORT_UNSUPPORTED') return `cannot listen on ${where}: ${message}`;
  return `could not start: ${typeof code === 'string' ? code : error instanceof Error ? error.name : typeof error}`;
}

await runProgram<EnclaveConfig, EnclaveHandle>({
  name: 'enclave',
  // Before anything reads a key: no debugger in production (debugger-guard.ts).
  preflight: () => {
    debuggerExposure = findDebuggerExposure(process.env);
    return productionMode() ? debuggerExposure.map((problem) => `refused in production mode: ${problem}`) : [];
  },
  loadConfig: () => loadEnclaveConfig(process.env),
  describeConfigError,
  setUp: (config) => {
    // The key now lives in the keyring only; keep it out of any child's environment.
    delete process.env['ENCLAVE_KEY_BASE64'];
    // Logs and metrics to the host (TELEMETRY_ADDR): a Nitro enclave has no console.
    const telemetry = config.telemetryAddress === undefined ? undefined : startEnclaveTelemetry(config.telemetryAddress);
    const logger = createLogger(config.logLevel, undefined, telemetry?.logSink);
    for (const problem of debuggerExposure) logger.warn(`development mode: ${problem}`);
    const signalWindow = earlySignalWindow();
    if (productionMode() && signalWindow !== undefined) logger.warn(`production mode: ${signalWindow}`);
    return {
      start: () => runEnclave(config, { logger }),
      describeStartupError: (error) => describeStartupError(error, config),
      onStopSignal: (signal) => logger.info('draining', { signal }),
      onSecondSignal: (signal) => logger.warn('second signal: exiting now', { signal }),
      afterStop: async () => {
        logger.info('stopped');
        await telemetry?.close(); // the last lines reach the host (at most 500 ms)
      },
    };
  },
});
