// Splices one downstream (client) socket to one upstream (enclave) socket.
//
// - Bytes are forwarded unchanged, never read or parsed: pipe() moves them with
//   backpressure (the source is paused while the destination's buffer is full).
// - Half-close: when one side ends (FIN), the other side's writable is ended
//   once everything before the FIN was written; the other direction keeps
//   flowing until it ends too. Both sockets must be created with
//   allowHalfOpen: true, or Node would end them itself (K3).
// - An error or a reset on either side resets the other (RST on TCP); the
//   idle timeout (no bytes in either direction on a socket) closes both.
// - Once the enclave has ended its side and everything it sent has reached
//   the client's socket (our FIN to the client is out), the client gets
//   ENDED_GRACE_MS to end its side too; then both are closed. Without it a
//   client that ignores the FIN held a host slot until the idle timeout
//   (300 s), long after the enclave had freed its own (adversarial
//   slowloris case, review D3).

import type { Socket } from 'node:net';

/** After the enclave ended and the client received everything: time the client has to end its side. */
export const ENDED_GRACE_MS = 2_000;

export interface ForwardResult {
  /** Bytes received from the client and forwarded to the enclave. */
  readonly bytesFromDownstream: number;
  /** Bytes received from the enclave and forwarded to the client. */
  readonly bytesFromUpstream: number;
  /** Why the connection ended: 'closed' (both directions ended), 'idle', or the error code of the first error. */
  readonly reason: string;
}

export function forwardConnection(downstream: Socket, upstream: Socket, idleTimeoutMs: number): Promise<ForwardResult> {
  return new Promise((resolve) => {
    let reason: string | undefined;
    let open = 2;
    const destroyBoth = (why: string): void => {
      reason ??= why;
      downstream.destroy();
      upstream.destroy();
    };
    const onIdle = (): void => destroyBoth('idle');
    downstream.setTimeout(idleTimeoutMs, onIdle);
    upstream.setTimeout(idleTimeoutMs, onIdle);

    for (const [socket, other] of [
      [downstream, upstream],
      [upstream, downstream],
    ] as const) {
      // A reset (or any error) on one side is passed on as a reset to the
      // other, so the peer sees an abort, never a clean end of a cut stream.
      socket.on('error', (error: NodeJS.ErrnoException) => {
        reason ??= error.code ?? 'ERROR';
        resetOrDestroy(other);
        socket.destroy();
      });
      socket.once('close', () => {
        // A socket that closed before its peer's FIN arrived was aborted (reset,
        // destroy): the other side has nothing more to exchange with it. After a
        // clean end in both directions, the other side finishes on its own.
        if (!socket.readableEnded || !socket.writableFinished) {
          reason ??= 'aborted';
          resetOrDestroy(other);
        }
        open -= 1;
        if (open === 0) {
          resolve({
            bytesFromDownstream: downstream.bytesRead,
            bytesFromUpstream: upstream.bytesRead,
            reason: reason ?? 'closed',
          });
        }
      });
    }
    upstream.once('end', () => {
      const startGrace = (): void => {
        if (downstream.readableEnded || downstream.destroyed) return;
        const grace = setTimeout(() => {
          if (!downstream.readableEnded) destroyBoth('client-kept-open');
        }, ENDED_GRACE_MS);
        grace.unref();
        downstream.once('close', () => clearTimeout(grace));
        downstream.once('end', () => clearTimeout(grace));
      };
      if (downstream.writableFinished) startGrace();
      else downstream.once('finish', startGrace);
    });
    // With allowHalfOpen a socket stays open after both directions ended only
    // if nobody destroys it; net.Socket autoDestroy does, once end and finish
    // both happened.
    downstream.pipe(upstream);
    upstream.pipe(downstream);
  });
}

export function resetOrDestroy(socket: Socket): void {
  if (socket.destroyed) return;
  // After end() the shutdown request is in flight; a reset then fails with
  // EINVAL in Node 20, 'close' never comes and the fd leaks (found by a
  // hostile-client review: a request answered before its body was read, then
  // EPIPE towards the enclave). Such a socket is destroyed instead.
  if (socket.writableEnded) {
    socket.destroy();
    return;
  }
  try {
    socket.resetAndDestroy(); // TCP only
  } catch {
    socket.destroy(); // unix socket: no RST exists, close it
  }
}
