// The host's end of the telemetry channel (TELEMETRY_LISTEN; protocol:
// protocol/src/telemetry-frame.ts): the enclave's log lines go into the
// host's log (with "from":"enclave"), its counters into the host's /metrics
// (host-metrics.ts reads them), and its count of dropped lines too.
//
// The enclave is trusted, the bytes on this socket are not (anyone on the
// parent can connect, so a line marked "from":"enclave" is not
// authenticated): every frame is checked against the grammar; at most
// MAX_TELEMETRY_CONNECTIONS connections are held, the oldest giving way to a
// new one, and one silent for TELEMETRY_IDLE_TIMEOUT_MS is closed (the
// enclave sends every 5 s); a bad frame closes its connection with one
// budgeted warning; log lines are re-emitted at most LOG_LINES_PER_SECOND;
// only the enclave's own counter names and label sets are exported
// (host-metrics.ts). The host never writes on this channel.

import { createServer, type Server, type Socket } from 'node:net';
import { TelemetryFrameReader, type TelemetryCounter, type TransportAddress } from '@http-enclave/protocol';
import { listenOn, listeningAddress } from '@http-enclave/transport';
import { errorCode, type Logger } from '../log.js';

export const MAX_TELEMETRY_CONNECTIONS = 4;
/** The enclave sends metrics every 5 s: a connection silent this long is not the enclave's. */
export const TELEMETRY_IDLE_TIMEOUT_MS = 30_000;
/** Enclave log lines re-emitted per second (bursts of LOG_LINE_BURST); more are dropped and counted. */
export const LOG_LINES_PER_SECOND = 200;
const LOG_LINE_BURST = 2_000;
const WARNING_INTERVAL_MS = 10_000;

export interface TelemetryReceiver {
  readonly address: TransportAddress;
  /** Log lines the enclave said it dropped (its last report). */
  readonly enclaveDroppedLines: number;
  /** Frames refused (bad grammar), since start. */
  readonly framesRefused: number;
  /** Enclave log lines not re-emitted (past LOG_LINES_PER_SECOND), since start. */
  readonly linesRateLimited: number;
  close(): Promise<void>;
}

export interface TelemetryReceiverOptions {
  readonly listenAddress: TransportAddress;
  readonly logger: Logger;
  /** Each metrics frame's counters, as the enclave sent them (totals since it started). */
  readonly onCounters: (counters: readonly TelemetryCounter[]) => void;
  /** Tests only: a shorter idle timeout. */
  readonly idleTimeoutMs?: number;
}

export async function startTelemetryReceiver(options: TelemetryReceiverOptions): Promise<TelemetryReceiver> {
  const { logger } = options;
  const connections = new Set<Socket>();
  let enclaveDroppedLines = 0;
  let framesRefused = 0;
  let linesRateLimited = 0;
  let lastWarning = -Infinity;
  let logTokens = LOG_LINE_BURST;
  let logRefilledAt = performance.now();
  const takeLogToken = (): boolean => {
    const now = performance.now();
    logTokens = Math.min(LOG_LINE_BURST, logTokens + ((now - logRefilledAt) / 1000) * LOG_LINES_PER_SECOND);
    logRefilledAt = now;
    if (logTokens < 1) return false;
    logTokens -= 1;
    return true;
  };

  const server: Server = createServer((socket) => {
    // Not authenticated (anyone on the parent may connect): at the bound the
    // oldest connection gives way, so idle squatters cannot lock the enclave out.
    if (connections.size >= MAX_TELEMETRY_CONNECTIONS) connections.values().next().value?.destroy();
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(options.idleTimeoutMs ?? TELEMETRY_IDLE_TIMEOUT_MS, () => socket.destroy());
    const reader = new TelemetryFrameReader();
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = reader.push(chunk);
      } catch (error) {
        framesRefused += 1;
        if (Date.now() - lastWarning >= WARNING_INTERVAL_MS) {
          lastWarning = Date.now();
          logger.warn('telemetry frame refused; closing that connection', { code: errorCode(error), problem: (error as { problem?: string }).problem ?? '', refused: framesRefused });
        }
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        if (frame.kind === 'log') {
          if (takeLogToken()) logger[frame.level](frame.msg, { ...frame.fields, from: 'enclave', enclaveTime: frame.time });
          else linesRateLimited += 1;
        }
        else if (frame.kind === 'metrics') options.onCounters(frame.counters);
        else enclaveDroppedLines = frame.lines;
      }
    });
  });
  await listenOn(server, options.listenAddress);
  server.on('error', (error) => logger.error('telemetry listener error', { code: errorCode(error) }));
  const address = listeningAddress(server, options.listenAddress);

  let closing: Promise<void> | undefined;
  return {
    address,
    get enclaveDroppedLines() {
      return enclaveDroppedLines;
    },
    get framesRefused() {
      return framesRefused;
    },
    get linesRateLimited() {
      return linesRateLimited;
    },
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of connections) socket.destroy();
      });
      return closing;
    },
  };
}
