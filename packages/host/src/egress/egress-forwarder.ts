// The egress forwarder: the enclave has no network, so it reaches AWS KMS by
// opening a connection to this listener (EGRESS_LISTEN, vsock on Nitro) and
// asking for a tunnel with an HTTP/1.1 CONNECT request (RFC 9110 §9.3.6). The
// enclave then runs TLS with KMS end to end through the tunnel; the host only
// relays bytes, exactly as the ingress proxy does, and never reads, logs or
// keeps them.
//
// Accepted request head (parsed by hand; bytes, not text; at most
// maxHeaderBytes, 4 KiB by default, including the final CRLF CRLF, and it must
// arrive in full within headTimeoutMs of accept):
//
//   request-head = request-line *( header-line ) CRLF
//   request-line = method SP authority SP http-version CRLF
//   method       = token                    ; anything but "CONNECT" (case-sensitive) -> 405
//   authority    = host ":" port            ; authority-form, RFC 9112 §3.2.3; no userinfo
//   host         = reg-name / IPv4address / "[" IPv6address "]"
//                                           ; reg-name: RFC 1123 labels, last label not all digits;
//                                           ; compared case-insensitively, one trailing dot stripped
//   port         = 1..65535, decimal, no leading zero
//   http-version = "HTTP/1.1" / "HTTP/1.0"
//   header-line  = token ":" *( HTAB / SP / VCHAR / obs-text ) CRLF
//                                           ; shape checked, content ignored (Host too)
//
// Lines end in CRLF only (a bare CR or LF is 400); no empty line before the
// request line; no obs-fold. Replies, each followed by close:
//   200 Connection Established  the tunnel is open; bytes the enclave sent after the head are forwarded first
//   400 bad head, head too large          403 destination not in EGRESS_ALLOW
//   405 method other than CONNECT         408 head not complete within headTimeoutMs
//   502 upstream connect failed           503 over maxConnections
//   504 upstream connect timed out
// An enclave that closes before its head is complete gets no reply.
//
// Destinations are connected by name (net.connect resolves them), after the
// allow-list check on the name the enclave asked for. DNS rebinding does not
// matter here: the host, which runs this code and controls its DNS, is the
// adversary anyway, and the enclave verifies KMS's TLS certificate itself.
// The allow-list limits what an enclave bug or a compromised enclave can
// reach, and states what the host must permit; it is no defence against the host.
//
// Refusals and tunnels are published as events (host-events.ts, EGRESS_CHANNEL);
// the log and the metrics subscribe. Nothing here logs them itself.

import { connect, createServer, type Server, type Socket } from 'node:net';
import type { TransportAddress } from '@http-enclave/protocol';
import { listenOn, listeningAddress } from '@http-enclave/transport';
import { forwardConnection } from '../ingress/forward-connection.js';
import { errorCode, type Logger } from '../log.js';
import { EGRESS_REFUSAL_REASONS, type EgressEvent, type EgressRefusalReason, type HostEvents } from '../observability/host-events.js';
import { isAllowedDestination, parseDestinationHost, parsePortNumber, type EgressAllowList } from './egress-allow-list.js';

export { EGRESS_REFUSAL_REASONS, type EgressRefusalReason };

/** Default bound of the request head, CRLF CRLF included: a CONNECT head is one line and a Host header, well under 1 KiB. */
export const DEFAULT_MAX_CONNECT_HEAD_BYTES = 4 * 1024;
/** Default time from accept to the end of the request head (total, not idle: a trickle cannot stretch it). */
export const DEFAULT_CONNECT_HEAD_TIMEOUT_MS = 10_000;
/** After a refusal, what the enclave still sends is read and dropped for this long, so the kernel does not answer it with a RST that could discard the reply. */
const REFUSAL_LINGER_MS = 1_000;
/** ... and for at most this many bytes. */
const MAX_REFUSAL_DISCARD_BYTES = 64 * 1024;
/** Connections over maxConnections that are still accepted, only to be answered 503; past that the listener closes them at accept. */
const OVER_CAPACITY_ANSWERED_CONNECTIONS = 16;

const STATUS_LINE = {
  bad_request: '400 Bad Request',
  method_not_allowed: '405 Method Not Allowed',
  head_too_large: '400 Bad Request',
  head_timeout: '408 Request Timeout',
  head_incomplete: undefined, // the enclave already closed: no reply
  not_allowed: '403 Forbidden',
  over_capacity: '503 Service Unavailable',
  upstream_failed: '502 Bad Gateway',
  upstream_timeout: '504 Gateway Timeout',
} as const satisfies Record<EgressRefusalReason, string | undefined>;

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

export interface EgressForwarderOptions {
  readonly listenAddress: TransportAddress;
  readonly allowList: EgressAllowList;
  /** Enclave connections open at once (reading a head, connecting, or forwarding); more get 503. */
  readonly maxConnections: number;
  readonly connectTimeoutMs: number;
  /** A tunnel with no bytes in either direction for this long is closed. */
  readonly idleTimeoutMs: number;
  /** Default DEFAULT_MAX_CONNECT_HEAD_BYTES. */
  readonly maxHeaderBytes?: number;
  /** Default DEFAULT_CONNECT_HEAD_TIMEOUT_MS. */
  readonly headTimeoutMs?: number;
  /** For the drain and listener lines only; refusals and tunnels go to `events`. */
  readonly logger: Logger;
  /** Where refusals and tunnels are published (the log and the metrics subscribe). */
  readonly events: HostEvents;
  /** Opens the upstream connection (tests). Must return a connecting socket created with allowHalfOpen: true. Default: net.connect. */
  readonly connect?: (host: string, port: number) => Socket;
}

export interface EgressForwarderStats {
  /** Connections accepted since start (refused ones included, those closed by the listener at accept not). */
  readonly accepted: number;
  /** Tunnels opened (200 sent). */
  readonly forwarded: number;
  readonly refused: Readonly<Record<EgressRefusalReason, number>>;
  /** Connections open now. */
  readonly active: number;
}

export interface EgressForwarder {
  /** The address the enclave connects to (real port when port 0 was asked). */
  readonly address: TransportAddress;
  stats(): EgressForwarderStats;
  /** Stop accepting; let open tunnels finish for up to drainTimeoutMs; then destroy the rest. Idempotent. */
  close(drainTimeoutMs: number): Promise<void>;
}

/** A parsed, allow-list-ready CONNECT target. `destination` is `host:port` ([v6]:port), the only thing from the stream that is ever logged. */
interface ConnectTarget {
  readonly host: string;
  readonly port: number;
  readonly destination: string;
}

export async function startEgressForwarder(options: EgressForwarderOptions): Promise<EgressForwarder> {
  const { logger, events } = options;
  const maxHeadBytes = options.maxHeaderBytes ?? DEFAULT_MAX_CONNECT_HEAD_BYTES;
  const headTimeoutMs = options.headTimeoutMs ?? DEFAULT_CONNECT_HEAD_TIMEOUT_MS;
  const openUpstream = options.connect ?? ((host: string, port: number): Socket => connect({ host, port, allowHalfOpen: true, noDelay: true }));
  const connections = new Set<Socket>();
  const refused = Object.fromEntries(EGRESS_REFUSAL_REASONS.map((reason) => [reason, 0])) as Record<EgressRefusalReason, number>;
  let accepted = 0;
  let forwarded = 0;
  let nextConnectionId = 1;
  /** Counts and publishes a refusal. */
  const publishRefusal = (event: Omit<Extract<EgressEvent, { event: 'refused' }>, 'event'>): void => {
    refused[event.reason] += 1;
    events.egress({ event: 'refused', ...event });
  };

  const server: Server = createServer({ allowHalfOpen: true });
  server.maxConnections = options.maxConnections + OVER_CAPACITY_ANSWERED_CONNECTIONS;
  server.on('drop', () => publishRefusal({ reason: 'over_capacity', limit: options.maxConnections }));

  /** Publishes the refusal, answers it (unless the enclave left) and closes. */
  const refuse = (socket: Socket, id: number, reason: EgressRefusalReason, details: { readonly destination?: string; readonly cause?: string; readonly limit?: number } = {}): void => {
    publishRefusal({ connection: id, reason, ...details });
    const statusLine = STATUS_LINE[reason];
    if (socket.destroyed) return;
    if (statusLine === undefined) {
      socket.destroy();
      return;
    }
    const extra = reason === 'method_not_allowed' ? 'Allow: CONNECT\r\n' : '';
    socket.end(`HTTP/1.1 ${statusLine}\r\n${extra}Connection: close\r\nContent-Length: 0\r\n\r\n`);
    let discarded = 0;
    socket.on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > MAX_REFUSAL_DISCARD_BYTES) socket.destroy();
    });
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
    socket.once('close', () => clearTimeout(timer));
  };

  const openTunnel = (downstream: Socket, id: number, target: ConnectTarget, rest: Buffer): void => {
    let upstream: Socket;
    try {
      upstream = openUpstream(target.host, target.port);
    } catch (error) {
      refuse(downstream, id, 'upstream_failed', { destination: target.destination, cause: errorCode(error) });
      return;
    }
    const settle = (): void => {
      clearTimeout(timer);
      upstream.off('connect', onConnect);
      upstream.off('error', onUpstreamError);
      downstream.off('error', onDownstreamGone);
      downstream.off('close', onDownstreamGone);
    };
    const timer = setTimeout(() => {
      settle();
      upstream.on('error', () => undefined).destroy();
      refuse(downstream, id, 'upstream_timeout', { destination: target.destination, limit: options.connectTimeoutMs });
    }, options.connectTimeoutMs);
    const onUpstreamError = (error: Error): void => {
      settle();
      upstream.destroy();
      refuse(downstream, id, 'upstream_failed', { destination: target.destination, cause: errorCode(error) });
    };
    // The enclave gave up while we were connecting: nothing to forward to.
    const onDownstreamGone = (): void => {
      settle();
      upstream.on('error', () => undefined).destroy();
      downstream.destroy();
    };
    const onConnect = (): void => {
      settle();
      if (downstream.destroyed) {
        upstream.destroy();
        return;
      }
      forwarded += 1;
      events.egress({ event: 'opened', connection: id, destination: target.destination });
      upstream.setNoDelay(true);
      downstream.write(ESTABLISHED);
      // Bytes the enclave pipelined after the head (a TLS ClientHello) go first,
      // before pipe() moves the rest; `rest` is at most one read chunk.
      if (rest.length > 0) upstream.write(rest);
      const started = Date.now();
      void forwardConnection(downstream, upstream, options.idleTimeoutMs).then((result) => {
        events.egress({
          event: 'closed',
          connection: id,
          destination: target.destination,
          bytesFromEnclave: result.bytesFromDownstream,
          bytesToEnclave: result.bytesFromUpstream,
          reason: result.reason,
          durationMs: Date.now() - started,
        });
      });
    };
    upstream.once('error', onUpstreamError);
    downstream.once('error', onDownstreamGone);
    downstream.once('close', onDownstreamGone);
    upstream.once('connect', onConnect);
  };

  server.on('connection', (downstream: Socket) => {
    accepted += 1;
    const id = nextConnectionId++;
    connections.add(downstream);
    downstream.once('close', () => connections.delete(downstream));
    downstream.on('error', () => undefined); // every phase below ends the connection on its own terms
    downstream.setNoDelay(true);
    if (connections.size > options.maxConnections) {
      refuse(downstream, id, 'over_capacity', { limit: options.maxConnections });
      return;
    }
    void readConnectHead(downstream, maxHeadBytes, headTimeoutMs).then((read) => {
      if ('failure' in read) {
        refuse(downstream, id, read.failure);
        return;
      }
      const parsed = parseConnectHead(read.head);
      if ('failure' in parsed) {
        refuse(downstream, id, parsed.failure);
        return;
      }
      if (!isAllowedDestination(options.allowList, parsed.host, parsed.port)) {
        // The destination only: nothing else from the stream is ever published.
        refuse(downstream, id, 'not_allowed', { destination: parsed.destination });
        return;
      }
      openTunnel(downstream, id, parsed, read.rest);
    });
  });

  await listenOn(server, options.listenAddress);
  server.on('error', (error) => logger.error('egress listener error', { code: errorCode(error) }));
  const address = listeningAddress(server, options.listenAddress);

  let closing: Promise<void> | undefined;
  return {
    address,
    stats: () =>
      Object.freeze({ accepted, forwarded, refused: Object.freeze({ ...refused }), active: connections.size }),
    close(drainTimeoutMs: number): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        if (connections.size === 0) return;
        logger.info('draining egress connections', { open: connections.size, drainTimeoutMs });
        const timer = setTimeout(() => {
          if (connections.size > 0) logger.warn('drain timeout; closing remaining egress connections', { open: connections.size });
          for (const socket of connections) socket.destroy();
        }, drainTimeoutMs);
        server.once('close', () => clearTimeout(timer));
      });
      return closing;
    },
  };
}

type HeadRead = { readonly head: Buffer; readonly rest: Buffer } | { readonly failure: 'head_too_large' | 'head_timeout' | 'head_incomplete' };

const HEAD_END = Buffer.from('\r\n\r\n');

/** Reads up to the CRLF CRLF that ends the head, at most maxHeadBytes, within timeoutMs; leaves the socket paused. */
function readConnectHead(socket: Socket, maxHeadBytes: number, timeoutMs: number): Promise<HeadRead> {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const finish = (result: HeadRead): void => {
      socket.pause();
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('close', onGone);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      const searchFrom = Math.max(0, buffered.length - (HEAD_END.length - 1));
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf(HEAD_END, searchFrom);
      if (end >= 0 && end + HEAD_END.length <= maxHeadBytes) {
        finish({ head: buffered.subarray(0, end), rest: buffered.subarray(end + HEAD_END.length) });
      } else if (end >= 0 || buffered.length >= maxHeadBytes) {
        finish({ failure: 'head_too_large' });
      }
    };
    const onGone = (): void => finish({ failure: 'head_incomplete' });
    const timer = setTimeout(() => finish({ failure: 'head_timeout' }), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onGone);
    socket.once('close', onGone);
  });
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** field-name ":" field-value, value bytes HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5); latin1, so one char per byte. */
const HEADER_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*$/;

/** Parses a request head (without its final CRLF CRLF) per the grammar at the top of this file. */
export function parseConnectHead(head: Buffer): ConnectTarget | { readonly failure: 'bad_request' | 'method_not_allowed' } {
  const bad = { failure: 'bad_request' } as const;
  const [requestLine = '', ...headerLines] = head.toString('latin1').split('\r\n');
  for (const line of headerLines) if (!HEADER_LINE.test(line)) return bad;
  const parts = requestLine.split(' ');
  if (parts.length !== 3) return bad;
  const [method = '', target = '', version = ''] = parts;
  if (!TOKEN.test(method) || (version !== 'HTTP/1.1' && version !== 'HTTP/1.0')) return bad;
  if (method !== 'CONNECT') return { failure: 'method_not_allowed' };

  let hostText: string;
  let portText: string;
  const bracketed = target.startsWith('[');
  if (bracketed) {
    const close = target.indexOf(']');
    if (close < 0 || target[close + 1] !== ':') return bad;
    hostText = target.slice(1, close);
    portText = target.slice(close + 2);
  } else {
    const colon = target.lastIndexOf(':');
    if (colon <= 0) return bad;
    hostText = target.slice(0, colon);
    portText = target.slice(colon + 1);
  }
  const host = parseDestinationHost(hostText, bracketed);
  const port = parsePortNumber(portText);
  if (host === undefined || port === undefined) return bad;
  if (host.kind === 'ipv6') return { host: host.address, port, destination: `[${host.address}]:${port}` };
  const name = host.kind === 'name' ? host.name : host.address;
  return { host: name, port, destination: `${name}:${port}` };
}
