// runHost: starts the storage worker, the egress forwarder and the ingress
// proxy from a config and returns a handle. No process-wide effects (signals,
// exit): main.ts does those.

import { formatTransportAddress, type TransportAddress } from '@http-enclave/protocol';
import { TransportUnsupportedError, isVsockTransportAvailable } from '@http-enclave/transport';
import type { HostConfig } from './config.js';
import { createAwsCredentialsProvider } from './credentials/aws-credentials-provider.js';
import { formatEgressAllowList } from './egress/egress-allow-list.js';
import { startEgressForwarder, type EgressForwarder } from './egress/egress-forwarder.js';
import { startIngressProxy, type IngressProxy } from './ingress/ingress-proxy.js';
import { HostListenError, StorageStartError, specificCode, type ListenVariable } from './host-errors.js';
import { createLogger, errorCode, type Logger } from './log.js';
import { startAdminServer, READINESS_PROBE_TIMEOUT_MS, type AdminServer } from './admin/admin-server.js';
import { probeEnclaveHealth } from './admin/enclave-health-probe.js';
import { createHostEvents } from './observability/host-events.js';
import { subscribeHostEventLog } from './observability/host-event-log.js';
import { createHostMetrics, type HostMetrics } from './observability/host-metrics.js';
import { startTelemetryReceiver, type TelemetryReceiver } from './telemetry/telemetry-receiver.js';
import { startStorageWorker, type StorageWorkerHandle } from './storage/storage-worker-handle.js';

export interface HostHandle {
  /** Where clients connect (real port when port 0 was asked). */
  readonly ingressAddress: TransportAddress;
  /** Where the enclave reaches the storage service (real port when port 0 was asked). */
  readonly storageAddress: TransportAddress;
  /** Where the enclave reaches the egress forwarder (real port when port 0 was asked); undefined when EGRESS_LISTEN=off. */
  readonly egressAddress: TransportAddress | undefined;
  /** Where /healthz, /readyz and /metrics are served (real port when port 0 was asked); undefined when ADMIN_LISTEN=off. */
  readonly adminAddress: TransportAddress | undefined;
  /** Graceful stop: stop accepting, drain clients and egress tunnels (config.drainTimeoutMs), then close storage. Idempotent. */
  close(options?: { readonly drainTimeoutMs?: number }): Promise<void>;
}

export interface HostDeps {
  readonly logger?: Logger;
  /** The host can no longer work (storage worker died). Default: log it and set process.exitCode = 1. */
  readonly onFatalError?: (error: Error) => void;
  /** Where the env credentials source reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. Default: process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** The deadline for closing the storage worker once clients are drained. */
const STORAGE_CLOSE_DEADLINE_MS = 10_000;

export async function runHost(config: HostConfig, deps: HostDeps = {}): Promise<HostHandle> {
  const logger = deps.logger ?? createLogger({ level: config.logLevel });
  const onFatalError =
    deps.onFatalError ??
    ((error: Error): void => {
      logger.error('host cannot continue', { code: errorCode(error) });
      process.exitCode = 1;
    });

  // Without the native addon, fail at start-up, not at the first client connection.
  if (config.enclaveAddress.scheme === 'vsock' && !isVsockTransportAvailable()) {
    throw new TransportUnsupportedError(
      `enclave address ${formatTransportAddress(config.enclaveAddress)} (ENCLAVE_ADDR or ENCLAVE_CID): vsock support is not built into this installation; set ENCLAVE_ADDR=tcp://HOST:PORT or unix:///PATH for local development`,
    );
  }

  // Connection and storage events: published by the components, logged and counted by subscribers.
  const events = createHostEvents();
  const unsubscribeLog = subscribeHostEventLog(events.instance, logger, { maxConnections: config.maxConnections, maxConnectionsPerSource: config.maxConnectionsPerSource });

  // Main thread: the storage worker asks it per CREDENTIALS request (why: storage-worker-handle.ts).
  const credentials = createAwsCredentialsProvider({
    source: config.awsCredentialsSource,
    imdsEndpoint: config.awsImdsEndpoint,
    env: deps.env ?? process.env,
    logger,
  });
  logger.info('aws credentials source', { source: credentials.source });

  let storage: StorageWorkerHandle;
  try {
    storage = await startStorageWorker({
      credentials,
      listenAddress: config.storageListenAddress,
      storagePath: config.storagePath,
      database: config.database,
      logLevel: config.logLevel,
      logger,
      onUnexpectedExit: onFatalError,
      events,
    });
  } catch (error) {
    if (error instanceof StorageStartError && error.stage === 'listen') {
      throw new HostListenError('STORAGE_LISTEN', formatTransportAddress(config.storageListenAddress), error.reason, { cause: error });
    }
    throw error;
  }

  // Early, so that the enclave's start-up lines arrive; its counters wait for the metrics below.
  let metrics: HostMetrics | undefined;
  let telemetry: TelemetryReceiver | undefined;
  if (config.telemetryListenAddress !== undefined) {
    try {
      telemetry = await startTelemetryReceiver({ listenAddress: config.telemetryListenAddress, logger, onCounters: (counters) => metrics?.recordEnclaveCounters(counters) });
    } catch (error) {
      await storage.close(STORAGE_CLOSE_DEADLINE_MS);
      unsubscribeLog();
      throw new HostListenError('TELEMETRY_LISTEN', formatTransportAddress(config.telemetryListenAddress), errorCode(error), { cause: error });
    }
  }

  // Before ingress: the enclave may need KMS (through egress) before it serves clients.
  let egress: EgressForwarder | undefined;
  if (config.egressListenAddress !== undefined) {
    try {
      egress = await startEgressForwarder({
        listenAddress: config.egressListenAddress,
        allowList: config.egressAllowList,
        maxConnections: config.egressMaxConnections,
        connectTimeoutMs: config.egressConnectTimeoutMs,
        idleTimeoutMs: config.egressIdleTimeoutMs,
        logger,
        events,
      });
    } catch (error) {
      await telemetry?.close();
      await storage.close(STORAGE_CLOSE_DEADLINE_MS);
      throw new HostListenError('EGRESS_LISTEN', formatTransportAddress(config.egressListenAddress), errorCode(error), { cause: error });
    }
  }

  let ingress: IngressProxy;
  try {
    ingress = await startIngressProxy({
      listenAddress: config.bindAddress,
      enclaveAddress: config.enclaveAddress,
      maxConnections: config.maxConnections,
      maxConnectionsPerSource: config.maxConnectionsPerSource,
      connectTimeoutMs: config.connectTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      logger,
      events,
    });
  } catch (error) {
    await egress?.close(0);
    await telemetry?.close();
    await storage.close(STORAGE_CLOSE_DEADLINE_MS);
    throw new HostListenError('BIND_ADDR', formatBindAddress(config.bindAddress), errorCode(error), { cause: error });
  }

  const receiver = telemetry;
  const hostMetrics = createHostMetrics(events.instance, {
    openConnections: () => ingress.connectionCount,
    ...(egress === undefined ? {} : { egressStats: () => egress.stats() }),
    storageEventsDropped: () => storage.droppedEvents,
    ...(receiver === undefined ? {} : { telemetry: () => ({ enclaveDroppedLines: receiver.enclaveDroppedLines, framesRefused: receiver.framesRefused, linesRateLimited: receiver.linesRateLimited }) }),
  });
  metrics = hostMetrics;
  let draining = false;
  let admin: AdminServer | undefined;
  if (config.adminListenAddress !== undefined) {
    try {
      admin = await startAdminServer({
        listenAddress: config.adminListenAddress,
        registry: hostMetrics.registry,
        readiness: {
          draining: () => draining,
          enclave: () => probeEnclaveHealth(config.enclaveAddress, READINESS_PROBE_TIMEOUT_MS),
          storage: () => storage.probeWrite(READINESS_PROBE_TIMEOUT_MS),
        },
        logger,
      });
    } catch (error) {
      await ingress.close(0);
      await egress?.close(0);
      await telemetry?.close();
      await storage.close(STORAGE_CLOSE_DEADLINE_MS);
      hostMetrics.close();
      unsubscribeLog();
      throw new HostListenError('ADMIN_LISTEN', formatTransportAddress(config.adminListenAddress), errorCode(error), { cause: error });
    }
  }

  logger.info('host listening', {
    ingressAddress: formatTransportAddress(ingress.address),
    storageAddress: formatTransportAddress(storage.address),
    enclaveAddress: formatTransportAddress(config.enclaveAddress),
    egressAddress: egress === undefined ? 'off' : formatTransportAddress(egress.address),
    adminAddress: admin === undefined ? 'off' : formatTransportAddress(admin.address),
    telemetryAddress: telemetry === undefined ? 'off' : formatTransportAddress(telemetry.address),
    egressAllow: formatEgressAllowList(config.egressAllowList),
  });

  let closing: Promise<void> | undefined;
  return {
    ingressAddress: ingress.address,
    storageAddress: storage.address,
    egressAddress: egress?.address,
    adminAddress: admin?.address,
    close(options = {}): Promise<void> {
      closing ??= (async () => {
        // /readyz answers 503 "draining" from now on; the admin listener closes last.
        draining = true;
        // Clients first: their requests may still need storage through the enclave.
        // Egress drains alongside: in-flight requests may still be calling KMS.
        const drainTimeoutMs = options.drainTimeoutMs ?? config.drainTimeoutMs;
        await Promise.all([ingress.close(drainTimeoutMs), egress?.close(drainTimeoutMs)]);
        await storage.close(STORAGE_CLOSE_DEADLINE_MS);
        await telemetry?.close();
        await admin?.close();
        hostMetrics.close();
        unsubscribeLog();
        logger.info('host stopped');
      })();
      return closing;
    },
  };
}

/** The one line main.ts prints on stderr when start-up fails (after `host: `). */
export function describeStartupError(error: unknown): string {
  if (error instanceof HostListenError) {
    const base = `cannot listen on ${error.variable}=${error.address}`;
    switch (error.reason) {
      case 'EADDRINUSE':
        return `${base}: address already in use; pick a free port, for example ${error.variable}=${suggestAddress(error.variable)}`;
      case 'EACCES':
        return `${base}: permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE (for example setcap cap_net_bind_service=+ep $(command -v node)), or pick a port above 1023, for example ${error.variable}=${suggestAddress(error.variable)}`;
      case 'EADDRNOTAVAIL':
        return `${base}: address not available on this machine; use an address of a local interface, for example ${error.variable}=${suggestAddress(error.variable)}`;
      case 'TRANSPORT_UNSUPPORTED':
        return `${base}: vsock listeners are not built into this installation; use tcp:// or unix://`;
      default:
        return `${base}: ${error.reason}`;
    }
  }
  const code = errorCode(error);
  if (code === 'TRANSPORT_UNSUPPORTED' && error instanceof Error) return `TRANSPORT_UNSUPPORTED: ${error.message}`;
  if (error instanceof StorageStartError && error.stage === 'open') return `cannot open the record store: ${error.reason} (${error.message})`;
  return `start-up failed: ${specificCode(error)}`; // WORKER_EXITED, not STORAGE_START_FAILED
}

function suggestAddress(variable: ListenVariable): string {
  if (variable === 'EGRESS_LISTEN') return 'tcp://127.0.0.1:5017';
  if (variable === 'ADMIN_LISTEN') return 'tcp://127.0.0.1:8405';
  if (variable === 'TELEMETRY_LISTEN') return 'tcp://127.0.0.1:5018';
  return variable === 'BIND_ADDR' ? '0.0.0.0:8443' : 'tcp://127.0.0.1:5016';
}

/** BIND_ADDR in the seed's HOST:PORT form when it is tcp (what users write), else in transport syntax. */
function formatBindAddress(address: TransportAddress): string {
  const text = formatTransportAddress(address);
  return address.scheme === 'tcp' ? text.slice('tcp://'.length) : text;
}
