// Wires the enclave from a validated config: keyring, TLS identity,
// attestation provider, storage client, documents, HTTP(S) server on the configured transport address.
// Returns a handle; main.ts owns the process (signals, exit codes).

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { formatTransportAddress, type TransportAddress } from '@http-enclave/protocol';
import { listenOn, listeningAddress } from '@http-enclave/transport';
import type { AttestationProvider } from './attest/attestation-provider.js';
import { createAttestationProvider } from './attest/create-attestation-provider.js';
import type { EnclaveConfig } from './config.js';
import { createApiHandler } from './http/api-handler.js';
import { BodyMemoryBudget } from './http/body-memory-budget.js';
import { createApiServer } from './http/create-api-server.js';
import { obtainKeyring } from './keys/obtain-keyring.js';
import { KeyAdministration } from './keys/key-administration.js';
import type { Logger } from './log.js';
import { PrivateDocuments } from './records/private-documents.js';
import { StorageClient } from './storage/storage-client.js';
import { loadTlsIdentity } from './tls/tls-identity.js';
import { buildTlsServerOptions } from './tls/tls-server-options.js';
import { logEnclaveEvents } from './telemetry/enclave-event-log.js';
import { ConfigInvalidError } from './enclave-errors.js';

export interface EnclaveHandle {
  /** Where the server listens (the real port if port 0 was asked). */
  readonly address: TransportAddress;
  /** SHA-256 fingerprint of the serving certificate, as openssl prints it; undefined without TLS. */
  readonly certificateFingerprint: string | undefined;
  /** Stops accepting, lets requests in flight finish (at most `drainTimeoutMs`), then closes everything. */
  close(drainTimeoutMs?: number): Promise<void>;
}

export interface EnclaveDeps {
  readonly logger: Logger;
  readonly now?: () => Date;
}

/** Default time in-flight requests get to finish on close. */
const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

export async function runEnclave(config: EnclaveConfig, deps: EnclaveDeps): Promise<EnclaveHandle> {
  const { logger } = deps;
  const now = deps.now ?? (() => new Date());
  for (const choice of config.developmentChoices) logger.warn(`development mode: ${choice}`);
  if (config.enclaveMode === 'production') logger.info('production mode: every development-only choice is refused');

  let tlsOptions;
  let certificateFingerprint: string | undefined;
  if (config.useTls) {
    const identity = loadTlsIdentity({ certPath: config.tlsCertPath, keyPath: config.tlsKeyPath, now: now() });
    // Issue 10, item 2: key files are in the image, so the operator can hold the enclave's TLS key.
    if (identity.source === 'files' && config.enclaveMode === 'production' && config.attestationProvider === 'nsm') {
      if (!config.allowTlsKeyFiles) {
        throw new ConfigInvalidError([{
          variable: 'TLS_KEY_PATH',
          related: ['TLS_CERT_PATH'],
          problem: "a TLS key from files is refused in production mode with ATTESTATION_PROVIDER=nsm (the operator can read them and relay clients with the enclave's key); remove the files (a key is generated in memory) or set ALLOW_TLS_KEY_FILES=true",
        }]);
      }
      logger.warn("ALLOW_TLS_KEY_FILES=true: the TLS key comes from files the operator can read; clients that check the TLS session (the http-enclave client) still refuse a relay, browsers do not");
    }
    tlsOptions = buildTlsServerOptions(identity);
    certificateFingerprint = identity.fingerprintSha256;
    logger.info(identity.source === 'generated' ? 'generated an in-memory TLS key and self-signed certificate' : 'loaded TLS certificate and key from files', {
      certificateSha256: identity.fingerprintSha256,
    });
  } else {
    logger.warn('USE_TLS=false: serving plain HTTP; traffic is readable by the host');
  }
  // Attestation binds the TLS key: without TLS there is nothing to attest.
  let attestation: AttestationProvider | undefined;
  if (!config.useTls && config.attestationProvider !== 'none' && config.keySource !== 'kms') {
    logger.warn('USE_TLS=false: attestation is off (no TLS key to bind); GET /attestation answers 404', { attestationProvider: config.attestationProvider });
  } else {
    attestation = createAttestationProvider(
      { setting: config.attestationProvider, devRootKeyPath: config.attestationDevRootKeyPath, devRootCertPath: config.attestationDevRootCertPath },
      { now, logger },
    );
    if (attestation?.describe !== undefined) logger.info('attestation provider ready', { attestationProvider: attestation.kind, ...(await attestation.describe()) });
  }
  if (config.authMode === 'none') {
    logger.warn('AUTH_MODE=none: every caller shares one anonymous namespace');
  }

  const storage = new StorageClient({
    address: config.storageAddress,
    timeoutMs: config.storageTimeoutMs,
    maxInFlight: config.storageMaxInFlight,
    logger,
  });
  let obtained;
  try {
    obtained = await obtainKeyring(config, { storage, attestation, logger });
  } catch (error) {
    storage.close();
    throw error;
  }
  const keyring = obtained.source === 'env' ? obtained.keyring : obtained.state.keyring;
  const documents = new PrivateDocuments(keyring, storage, {
    rollbackCacheEntries: config.rollbackCacheEntries,
    recordCreatesPerSecond: config.recordCreatesPerSecond,
    waitTimeoutMs: config.storageTimeoutMs,
    logger,
  });
  // Not secret: the host sees it in the record ids of this run's watermark pages, and may delete other runs' pages.
  logger.info('rollback detection started', { watermarkRunId: documents.rollbackGuard.runId, rollbackCacheEntries: config.rollbackCacheEntries });
  // Attestation for clients binds the TLS key; without TLS, the provider served only key release.
  if (!config.useTls) attestation = undefined;
  const keys = new KeyAdministration(obtained, documents, storage, { refreshIntervalMs: config.keyringRefreshMs });
  documents.setUnknownKeyHandler(() => keys.reloadForUnknownKey());
  const handler = createApiHandler({
    documents,
    storage,
    authMode: config.authMode,
    maxBodyBytes: config.maxBodyBytes,
    bodyBudget: new BodyMemoryBudget(config.bodyMemoryBudgetBytes),
    logger,
    attestation,
    admin: { adminTokenSha256: config.adminTokenSha256, keys },
  });
  const server = createApiServer(config, tlsOptions, handler);
  const drain = trackResponsesForDrain(server);
  try {
    await listenOn(server, config.listen);
  } catch (error) {
    storage.close();
    throw error;
  }
  const address = listeningAddress(server, config.listen);
  const stopRefreshing = keys.startRefreshing();
  // The log lines of the enclave's events: one subscriber (telemetry/enclave-event-log.ts).
  const stopEventLog = logEnclaveEvents(logger);
  logger.info('enclave listening', { address: formatTransportAddress(address), tls: config.useTls, storage: formatTransportAddress(config.storageAddress) });
  return {
    address,
    certificateFingerprint,
    close: (drainTimeoutMs = DEFAULT_DRAIN_TIMEOUT_MS) => {
      stopRefreshing();
      drain.start();
      return closeServer(server, drainTimeoutMs).finally(() => {
        stopEventLog();
        storage.close();
      });
    },
  };
}

/**
 * Drain, part one: once it starts, every answer not yet begun says
 * `Connection: close`, and a connection whose answer was already under way
 * is closed as soon as it goes idle. So a client that keeps using its
 * keep-alive connection is let go after its answer instead of being cut off
 * mid-request by the hard stop (the graceful-drain adversarial case).
 */
function trackResponsesForDrain(server: Server): { start(): void } {
  let draining = false;
  const inFlight = new Set<ServerResponse>();
  const letGo = (response: ServerResponse): void => {
    if (!response.headersSent) response.setHeader('connection', 'close');
    else response.once('finish', () => setImmediate(() => server.closeIdleConnections()));
  };
  const track = (_request: IncomingMessage, response: ServerResponse): void => {
    if (draining) letGo(response);
    inFlight.add(response);
    response.once('close', () => inFlight.delete(response));
  };
  // Expect headers come as these events instead of 'request' (review: an
  // Expect: 100-continue request kept its connection through the drain).
  for (const event of ['request', 'checkContinue', 'checkExpectation']) server.prependListener(event, track);
  return {
    start() {
      draining = true;
      for (const response of inFlight) letGo(response);
    },
  };
}

/** Drain, part two: stop accepting, close idle connections, and close everything left after `drainTimeoutMs`. */
function closeServer(server: Server, drainTimeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const hardStop = setTimeout(() => server.closeAllConnections(), drainTimeoutMs);
    hardStop.unref();
    server.close(() => {
      clearTimeout(hardStop);
      resolve();
    });
    server.closeIdleConnections();
  });
}
