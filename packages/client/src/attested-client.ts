// An HTTPS client that talks to an enclave only after verifying its
// attestation document, and only to the TLS key that document binds.
//
// - Every new connection is attested before a byte of a request is written:
//   an attestation document is asked for over THAT connection with a fresh
//   nonce and verified (chain, signature, policy, nonce, and user_data
//   binding the certificate this connection presented and this TLS
//   session's exporter); on failure the connection is closed and the
//   request fails with ATTESTATION_FAILED. A certificate seen before is not
//   enough: whoever holds the enclave's TLS key (files in the image) could
//   present it on a later connection and read what follows (found by a
//   hostile review; the session binding is what stops that relay).
// - The server's certificate is self-issued by the enclave, so the usual
//   WebPKI check does not apply: attestation replaces it.
// - Connecting, the handshake and the attestation share one deadline
//   (timeoutMs); once admitted, a connection has no client-side deadline of
//   ours (the HTTP layer's own timeouts apply).
// - Connections are kept alive and reused through one agent (`agent`, an
//   https.Agent) or one undici Agent (`dispatcher`, for fetch, and what
//   `request()` uses: it holds its connection limit while connections are
//   being set up, which Node's https.Agent cannot, as it counts a socket
//   only once created); both open connections through #openAdmitted.

import type { ClientRequestArgs, IncomingHttpHeaders } from 'node:http';
import { Agent } from 'node:https';
import { randomBytes as cryptoRandomBytes, type X509Certificate } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Agent as UndiciAgent, type Dispatcher } from 'undici';
import { pinsMeasurements, TLS_EXPORTER_BYTES, TLS_EXPORTER_LABEL, verifyAttestationDocument, type AttestationPolicy, type AttestationResult } from '@http-enclave/attestation';
import { requestAttestationOverSocket } from './attestation-exchange.js';
import { AttestedClientError } from './client-errors.js';

/** Nonce length the client sends: 32 random bytes (the enclave accepts up to 512). */
const NONCE_BYTES = 32;
/** Default connect + handshake + attestation budget. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** Default maximum age of a document: it was just made for our nonce, so a few minutes cover clock skew. */
export const DEFAULT_MAX_DOCUMENT_AGE_MS = 5 * 60_000;
/** Largest response body `request` buffers. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export type AttestedPolicy = Omit<AttestationPolicy, 'nonce' | 'tlsCertificate' | 'tlsExporter' | 'tlsBindingSchemes'>;

export interface AttestedClientOptions {
  /** https://HOST:PORT of the enclave (through its host). */
  readonly url: string | URL;
  /** Trust anchor: the AWS Nitro root (pinned by fingerprint), or an explicitly given dev root. */
  readonly root: 'aws' | { readonly certificatePem: string };
  readonly policy?: AttestedPolicy;
  /**
   * Decides on the measurements of each verified document (after `policy`):
   * false refuses the enclave (PCR_MISMATCH). For policies a list of sets
   * cannot express (a registry of released builds, for instance). Counts as
   * pinned measurements.
   */
  readonly acceptMeasurements?: (pcrs: ReadonlyMap<number, Uint8Array>) => boolean;
  /**
   * With the AWS root, `request()` refuses (MEASUREMENTS_REQUIRED) unless
   * measurements are pinned (policy.pcrs, policy.pcrSets or
   * acceptMeasurements): without them any genuine Nitro enclave passes,
   * including one the operator built from other code. This is the only way
   * around that, and it is what its name says.
   */
  readonly insecureAnyEnclave?: boolean;
  readonly now?: () => Date;
  readonly randomBytes?: (size: number) => Buffer;
  readonly timeoutMs?: number;
}

export interface VerifiedEnclave {
  readonly result: Extract<AttestationResult, { ok: true }>;
  /** The certificate this connection presented; the document binds its key. */
  readonly certificate: X509Certificate;
}

export interface AttestedResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface AttestedRequest {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
}

export class AttestedClient {
  readonly #host: string;
  readonly #port: number;
  readonly #servername: string;
  readonly #origin: string;
  readonly #options: AttestedClientOptions;
  readonly #agent: Agent;
  #dispatcher: UndiciAgent | undefined;
  #pinned: VerifiedEnclave | undefined;
  #closed = false;
  /** Connections being set up (connect, handshake, attestation): close() ends them. */
  readonly #settingUp = new Set<TLSSocket>();

  constructor(options: AttestedClientOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'https:') throw new TypeError('url must be https://HOST:PORT');
    this.#host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = url.port === '' ? 443 : Number(url.port);
    this.#origin = url.origin;
    this.#servername = /^[\d.]+$|:/.test(this.#host) ? 'localhost' : this.#host;
    this.#options = options;
    const openAdmitted = (requested: ClientRequestArgs, callback: (error: Error | null, socket: TLSSocket | null) => void): void =>
      this.#openAdmitted(requested, callback);
    // An https.Agent whose connections are admitted (pinned or attested)
    // before a byte of a request is written; `agent` hands it to https.request
    // and the libraries built on it (issue 10, item 4).
    this.#agent = new (class extends Agent {
      override createConnection(requested: ClientRequestArgs, callback?: (error: Error | null, socket: Duplex) => void): Duplex | undefined {
        // The callback's socket is unused on error.
        openAdmitted(requested, (error, socket) => callback?.(error, socket as unknown as Duplex));
        return undefined;
      }
    })({ keepAlive: true, maxSockets: 8 });
  }

  /**
   * Opens a connection for the agent or the dispatcher, refused outright
   * (other host or port, measurements required but not pinned) or admitted
   * (pinned or attested) before `callback` hands it over: nothing is written
   * on it before then but the attestation request.
   */
  #openAdmitted(requested: ClientRequestArgs, callback: (error: Error | null, socket: TLSSocket | null) => void): void {
    const refused = this.#refusal(requested);
    if (refused !== undefined) {
      process.nextTick(() => callback(refused, null));
      return;
    }
    this.#connectAndAttest().then(
      ({ socket }) => callback(null, socket),
      (error: Error) => callback(error, null),
    );
  }

  /**
   * A new connection, attested: connect, handshake and attestation within
   * one deadline; close() ends it while it is being set up.
   */
  #connectAndAttest(): Promise<{ socket: TLSSocket; verified: VerifiedEnclave }> {
    if (this.#closed) return Promise.reject(new AttestedClientError('REQUEST_FAILED', 'this client is closed'));
    const timeoutMs = this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const socket = this.#connect();
    this.#settingUp.add(socket);
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (error: Error | null, verified?: VerifiedEnclave): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        this.#settingUp.delete(socket);
        socket.off('error', onError);
        socket.off('close', onClose);
        if (error === null && this.#closed) error = new AttestedClientError('REQUEST_FAILED', 'this client is closed');
        if (error !== null || verified === undefined) {
          socket.destroy();
          reject(error ?? new AttestedClientError('CONNECT_FAILED', 'no connection'));
          return;
        }
        resolve({ socket, verified });
      };
      const deadline = setTimeout(
        () => settle(new AttestedClientError('CONNECT_FAILED', `connecting, the TLS handshake and attestation took longer than ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onError = (error: NodeJS.ErrnoException): void =>
        settle(error instanceof AttestedClientError ? error : new AttestedClientError('CONNECT_FAILED', `connection failed: ${error.code ?? error.name}`));
      const onClose = (): void => settle(new AttestedClientError('CONNECT_FAILED', 'the connection closed while it was being set up'));
      socket.on('error', onError);
      socket.once('close', onClose);
      socket.once('secureConnect', () => {
        this.#attest(socket, timeoutMs).then(
          (verified) => settle(null, verified),
          (error: Error) => settle(error),
        );
      });
    });
  }

  /**
   * A drop-in undici Dispatcher for this enclave: `fetch(url, { dispatcher })`
   * (undici's fetch, or Node's global one) attests or pins every new
   * connection before a request is written, as `agent` does. Requests to
   * another origin through it are refused. Created on first use.
   */
  get dispatcher(): Dispatcher {
    this.#dispatcher ??= new UndiciAgent({
      connections: 8,
      connect: (options, callback) => {
        if (options.protocol !== 'https:') {
          process.nextTick(() => callback(new AttestedClientError('REQUEST_FAILED', `this dispatcher only speaks https to the attested enclave, not ${options.protocol}`), null));
          return;
        }
        this.#openAdmitted({ host: options.hostname, port: options.port === '' ? 443 : Number(options.port) }, (error, socket) => {
          if (error !== null || socket === null) callback(error ?? new AttestedClientError('CONNECT_FAILED', 'no connection'), null);
          else callback(null, socket);
        });
      },
    });
    return this.#dispatcher;
  }

  /** What the most recent attestation verified (every new connection is attested), if any. */
  get pinned(): VerifiedEnclave | undefined {
    return this.#pinned;
  }

  /**
   * A drop-in `https.Agent` for this enclave: give it to `https.request` (or
   * a library that takes an agent) and every new connection is attested, or
   * pinned to the attested key, before the request is written. Requests to
   * another host or port through it are refused, and so is everything when
   * measurements are required but not pinned.
   */
  get agent(): Agent {
    return this.#agent;
  }

  /** Why a connection asked for through the agent must not be opened; undefined when it may. */
  #refusal(requested: ClientRequestArgs): AttestedClientError | undefined {
    if (this.#options.root === 'aws' && !this.measurementsPinned && this.#options.insecureAnyEnclave !== true) {
      return new AttestedClientError('MEASUREMENTS_REQUIRED', 'refusing to connect: no measurements pinned (see AttestedClientOptions.insecureAnyEnclave)');
    }
    const host = String(requested.host ?? requested.hostname ?? '').replace(/^\[(.*)\]$/, '$1');
    const port = Number(requested.port ?? 443);
    if (host !== this.#host || port !== this.#port) {
      return new AttestedClientError('REQUEST_FAILED', `this agent only connects to the attested enclave ${this.#host}:${this.#port}, not ${host}:${port}`);
    }
    return undefined;
  }

  /** Opens a new connection, asks it for a document with a fresh nonce, verifies it, and closes the connection. */
  async verify(): Promise<VerifiedEnclave> {
    const { socket, verified } = await this.#connectAndAttest();
    socket.destroy();
    return verified;
  }

  /** True when the options pin the enclave's code (expected PCRs or a measurements callback). */
  get measurementsPinned(): boolean {
    return pinsMeasurements(this.#options.policy) || this.#options.acceptMeasurements !== undefined;
  }

  /**
   * Sends one request on an admitted connection. Nothing is written before
   * the connection is pinned or attested; with the AWS root, nothing at all
   * unless measurements are pinned (or insecureAnyEnclave).
   */
  request(req: AttestedRequest): Promise<AttestedResponse> {
    if (this.#options.root === 'aws' && !this.measurementsPinned && this.#options.insecureAnyEnclave !== true) {
      return Promise.reject(
        new AttestedClientError(
          'MEASUREMENTS_REQUIRED',
          'refusing to send data: no measurements pinned, so any genuine Nitro enclave would pass, including one the operator built from other code (pin PCR0-2 with policy.pcrs, policy.pcrSets or acceptMeasurements; insecureAnyEnclave accepts any)',
        ),
      );
    }
    return this.#requestThroughDispatcher(req);
  }

  async #requestThroughDispatcher(req: AttestedRequest): Promise<AttestedResponse> {
    const timeoutMs = this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let response: Dispatcher.ResponseData;
    try {
      response = await this.dispatcher.request({
        origin: this.#origin,
        path: req.path,
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: { host: `${this.#servername}:${this.#port}`, ...req.headers },
        ...(req.body === undefined ? {} : { body: Buffer.from(req.body) }),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (error) {
      throw asClientError(error);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          response.body.destroy();
          throw new AttestedClientError('REQUEST_FAILED', `response larger than ${MAX_RESPONSE_BYTES} bytes`);
        }
        chunks.push(chunk);
      }
    } catch (error) {
      throw asClientError(error);
    }
    return { status: response.statusCode, headers: response.headers as IncomingHttpHeaders, body: Buffer.concat(chunks) };
  }

  /** Ends every connection, those being set up included; later requests fail with REQUEST_FAILED. */
  close(): void {
    this.#closed = true;
    for (const socket of this.#settingUp) socket.destroy(new AttestedClientError('REQUEST_FAILED', 'this client is closed'));
    this.#agent.destroy();
    void this.#dispatcher?.destroy().catch(() => undefined);
  }

  #connect(): TLSSocket {
    return tlsConnect({
      host: this.#host,
      port: this.#port,
      servername: this.#servername,
      // The enclave's certificate is self-issued; attestation replaces the WebPKI check.
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      // The enclave speaks TLS 1.3 (TLS 1.2 only with ECDHE suites); nothing older is needed.
      minVersion: 'TLSv1.3',
    });
  }

  /** Asks this connection for a fresh document and verifies it against this connection's certificate and TLS session. */
  async #attest(socket: TLSSocket, timeoutMs: number): Promise<VerifiedEnclave> {
    const certificate = socket.getPeerX509Certificate();
    if (certificate === undefined) throw new AttestedClientError('CONNECT_FAILED', 'the server presented no certificate');
    const nonce = (this.#options.randomBytes ?? cryptoRandomBytes)(NONCE_BYTES);
    const document = await requestAttestationOverSocket(socket, {
      hostHeader: `${this.#servername}:${this.#port}`,
      nonce,
      timeoutMs,
    });
    const result = verifyAttestationDocument(document, {
      now: (this.#options.now ?? (() => new Date()))(),
      root: this.#options.root,
      // This session's exporter: a relay holding the enclave's TLS key has another (issue 10, item 2).
      // Only our own user_data scheme: a live enclave of ours always binds key and session.
      policy: {
        maxAgeMs: DEFAULT_MAX_DOCUMENT_AGE_MS,
        ...this.#options.policy,
        nonce,
        tlsCertificate: certificate,
        tlsExporter: socket.exportKeyingMaterial(TLS_EXPORTER_BYTES, TLS_EXPORTER_LABEL, nonce),
        tlsBindingSchemes: ['http-enclave-session-v2'],
      },
    });
    if (!result.ok) {
      throw new AttestedClientError('ATTESTATION_FAILED', `attestation failed: ${result.reason}: ${result.message}`, result.reason);
    }
    const accept = this.#options.acceptMeasurements;
    if (accept !== undefined && !accept(result.document.pcrs)) {
      throw new AttestedClientError('ATTESTATION_FAILED', 'attestation failed: PCR_MISMATCH: acceptMeasurements refused these measurements', 'PCR_MISMATCH');
    }
    const verified: VerifiedEnclave = { result, certificate };
    this.#pinned = verified;
    return verified;
  }
}

/** The client's own error as it is; one undici wrapped (fetch puts it in `cause`); anything else as REQUEST_FAILED. */
function asClientError(error: unknown): AttestedClientError {
  if (error instanceof AttestedClientError) return error;
  if (error instanceof Error && error.cause instanceof AttestedClientError) return error.cause;
  return new AttestedClientError('REQUEST_FAILED', error instanceof Error ? error.message : String(error));
}

export function createAttestedClient(options: AttestedClientOptions): AttestedClient {
  return new AttestedClient(options);
}
