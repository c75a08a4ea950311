// Sends the enclave's telemetry frames (protocol/telemetry-frame.ts) to the
// host over the transport seam (TELEMETRY_ADDR). Lossy and bounded by
// design: the enclave must never block, nor grow, because the host does not
// read. Frames wait in a queue of at most MAX_QUEUED_FRAMES frames and
// MAX_QUEUED_BYTES bytes; a frame that does not fit is dropped, and a log
// line dropped is counted (sent as a "dropped" frame once there is room).
// Nothing is written while the socket's buffer is over its high-water mark;
// 'drain' resumes. A lost connection is replaced after a backoff of 1 s
// doubling to 30 s; what was queued waits (bounded) for it.

import type { Socket } from 'node:net';
import { encodeTelemetryFrame, formatTransportAddress, type TelemetryFrame, type TransportAddress } from '@http-enclave/protocol';
import { connectTo } from '@http-enclave/transport';

export const MAX_QUEUED_FRAMES = 2_000;
export const MAX_QUEUED_BYTES = 1024 * 1024;
const RECONNECT_MIN_MS = 1_000;
const RECONNECT_MAX_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;

export interface TelemetrySenderOptions {
  readonly address: TransportAddress;
  /** Tests only: other bounds. */
  readonly maxQueuedFrames?: number;
  readonly maxQueuedBytes?: number;
}

export class TelemetrySender {
  readonly #options: TelemetrySenderOptions;
  readonly #queue: Buffer[] = [];
  #queuedBytes = 0;
  #droppedLines = 0;
  #droppedReported = 0;
  #socket: Socket | undefined;
  #connecting = false;
  #closed = false;
  #backoffMs = RECONNECT_MIN_MS;
  #reconnectTimer: NodeJS.Timeout | undefined;

  constructor(options: TelemetrySenderOptions) {
    this.#options = options;
  }

  get address(): string {
    return formatTransportAddress(this.#options.address);
  }

  /** Log lines dropped since start (the queue was full). */
  get droppedLines(): number {
    return this.#droppedLines;
  }

  /** Frames waiting now. */
  get queuedFrames(): number {
    return this.#queue.length;
  }

  start(): void {
    this.#connect();
  }

  /** Queues one frame; never blocks, never throws for a full queue (the frame is dropped and, if a log line, counted). */
  send(frame: TelemetryFrame): void {
    if (this.#closed) return;
    if (this.#droppedLines > this.#droppedReported && frame.kind !== 'dropped' && this.#fits(64)) {
      this.#droppedReported = this.#droppedLines;
      this.#enqueue(encodeTelemetryFrame({ kind: 'dropped', lines: this.#droppedLines }));
    }
    let bytes: Buffer;
    try {
      bytes = encodeTelemetryFrame(frame);
    } catch {
      if (frame.kind === 'log') this.#droppedLines += 1; // a line the grammar refuses is dropped, not sent half
      return;
    }
    if (!this.#fits(bytes.length)) {
      if (frame.kind === 'log') this.#droppedLines += 1;
      return;
    }
    this.#enqueue(bytes);
  }

  /**
   * Sends what is queued, within `deadlineMs`, ends the connection and drops
   * the rest; resolves once the socket has flushed or the deadline passed
   * (the enclave's last lines, "draining" and "stopped", should reach the
   * host before the process exits).
   */
  close(deadlineMs = 0): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    const socket = this.#socket;
    return new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.#queue.length = 0;
        this.#queuedBytes = 0;
        socket?.destroy();
        resolve();
      };
      const timer = setTimeout(finish, deadlineMs);
      if (socket === undefined || socket.destroyed) {
        finish();
        return;
      }
      const writeRest = (): void => {
        this.#flushOn(socket);
        if (this.#queue.length === 0) socket.end(finish);
      };
      socket.on('drain', writeRest);
      writeRest();
    });
  }

  #fits(size: number): boolean {
    return this.#queue.length < (this.#options.maxQueuedFrames ?? MAX_QUEUED_FRAMES) && this.#queuedBytes + size <= (this.#options.maxQueuedBytes ?? MAX_QUEUED_BYTES);
  }

  #enqueue(bytes: Buffer): void {
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.length;
    this.#flush();
  }

  #flush(): void {
    const socket = this.#socket;
    if (socket === undefined || socket.destroyed || this.#closed) return;
    this.#flushOn(socket);
  }

  #flushOn(socket: Socket): void {
    if (socket.destroyed) return;
    while (this.#queue.length > 0 && !socket.writableNeedDrain) {
      const bytes = this.#queue.shift() as Buffer;
      this.#queuedBytes -= bytes.length;
      socket.write(bytes);
    }
  }

  #connect(): void {
    if (this.#closed || this.#connecting || this.#socket !== undefined) return;
    this.#connecting = true;
    connectTo(this.#options.address, { timeoutMs: CONNECT_TIMEOUT_MS }).then(
      (socket) => {
        this.#connecting = false;
        if (this.#closed) {
          socket.destroy();
          return;
        }
        this.#socket = socket;
        this.#backoffMs = RECONNECT_MIN_MS;
        socket.setNoDelay(true);
        socket.on('drain', () => this.#flush());
        socket.on('data', () => undefined); // the host never writes; anything it does is ignored
        socket.on('error', () => socket.destroy());
        socket.once('close', () => {
          this.#socket = undefined;
          this.#scheduleReconnect();
        });
        this.#flush();
      },
      () => {
        this.#connecting = false;
        this.#scheduleReconnect();
      },
    );
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => this.#connect(), this.#backoffMs);
    this.#reconnectTimer.unref();
    this.#backoffMs = Math.min(RECONNECT_MAX_MS, this.#backoffMs * 2);
  }
}
