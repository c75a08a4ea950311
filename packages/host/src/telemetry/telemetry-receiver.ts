// The host's end of the telemetry channel (TELEMETRY_LISTEN; protocol:
// protocol/src/telemetry-frame.ts): the enclave's log lines go into the
// host's log (with "from":"enclave"), its counters into the host's /metrics
// (host-metrics.ts reads them), and its count of dropped lines too.
//
// The enclave is trusted, the bytes on this socket are not (anyone on the
// parent can connect): every frame is checked against the grammar, at most
// MAX_TELEMETRY_CONNECTIONS connections are held, a bad frame closes its
// connection with one budgeted warning, and the counters kept are bounded
// (host-metrics.ts). The host never writes on this channel.

import { createServer, type Server, type Socket } from 'node:net';
import { TelemetryFrameReader, type TelemetryCounter, type TransportAddress } from '@http-enclave/protocol';
import { listenOn, listeningAddress } from '@http-enclave/transport';
import { errorCode, type Logger } from '../log.js';

export const MAX_TELEMETRY_CONNECTIONS = 4;
const WARNING_INTERVAL_MS = 10_000;

export interface TelemetryReceiver {
  readonly address: TransportAddress;
  /** Log lines the enclave said it dropped (its last report). */
  readonly enclaveDroppedLines: number;
  /** Frames refused (bad grammar), since start. */
  readonly framesRefused: number;
  close(): Promise<void>;
}

export interface TelemetryReceiverOptions {
  readonly listenAddress: TransportAddress;
  readonly logger: Logger;
  /** Each metrics frame's counters, as the enclave sent them (totals since it started). */
  readonly onCounters: (counters: readonly TelemetryCounter[]) => void;
}

export async function startTelemetryReceiver(options: TelemetryReceiverOptions): Promise<TelemetryReceiver> {
  const { logger } = options;
  const connections = new Set<Socket>();
  let enclaveDroppedLines = 0;
  let framesRefused = 0;
  let lastWarning = -Infinity;

  const server: Server = createServer((socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    socket.on('error', () => socket.destroy());
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
        if (frame.kind === 'log') logger[frame.level](frame.msg, { ...frame.fields, from: 'enclave', enclaveTime: frame.time });
        else if (frame.kind === 'metrics') options.onCounters(frame.counters);
        else enclaveDroppedLines = frame.lines;
      }
    });
  });
  server.maxConnections = MAX_TELEMETRY_CONNECTIONS;
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
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of connections) socket.destroy();
      });
      return closing;
    },
  };
}
