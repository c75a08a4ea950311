// startKmsDouble: an HTTPS server speaking AWS KMS's AWS JSON 1.1 protocol
// (TEST ONLY; never part of the enclave image).
//
//   POST / HTTP/1.1
//   Content-Type: application/x-amz-json-1.1
//   X-Amz-Target: TrentService.Decrypt | TrentService.GenerateDataKey
//   X-Amz-Date, Authorization (SigV4, service "kms"), X-Amz-Security-Token
//   <JSON body, blobs base64>
//
//   200 application/x-amz-json-1.1 {…}  or an error (kms-errors.ts), always
//   with x-amzn-RequestId.
//
// Phases of a call: read the body (≤ 64 KiB) → fault → SigV4 → content type
// and target → JSON → operation (kms-operations.ts) → record.

import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { corruptResponse, FaultQueue, type KmsDoubleFault } from './faults.js';
import { DENY_WITHOUT_RECIPIENT_POLICY, parseKeyPolicy, type KeyPolicy } from './key-policy.js';
import { KeyStore, type KeyState } from './key-store.js';
import { KmsError, type KmsErrorType } from './kms-errors.js';
import { decrypt, generateDataKey, newOperationTrace, type OperationContext, type OperationTrace } from './kms-operations.js';
import { verifySigV4Request, type SigV4Credential } from './sigv4-verifier.js';
import { createDoubleTlsIdentity } from './tls-certificate.js';

/** Largest request body the double reads: KMS requests are a few KiB (a document is ≤ 20 KiB as base64 ≈ 27 KiB). */
export const MAX_REQUEST_BODY_BYTES = 64 * 1024;
export const AMZ_JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';
export const KMS_SERVICE_NAME = 'kms';
const TARGET_PREFIX = 'TrentService.';
/** A client that does not finish its request within this is cut off. */
export const REQUEST_TIMEOUT_MS = 30_000;

export interface KmsDoubleCall {
  /** 'Decrypt' | 'GenerateDataKey', the X-Amz-Target operation as sent, or null when absent. */
  readonly operation: string | null;
  readonly accessKeyId: string | null;
  /** ARN of the key the call used, null when the call did not get that far. */
  readonly keyId: string | null;
  /** Whether the request carried a Recipient. */
  readonly recipient: boolean;
  /** public_key (DER SPKI) of the accepted attestation document. */
  readonly attestedPublicKey: Buffer | null;
  /** PCR0 (lower-case hex) of the accepted attestation document. */
  readonly attestedPcr0: string | null;
  /**
   * The data key the call released (a copy), for canary scans in tests: the
   * double knows what it handed out, so a test can look for it where it must
   * never appear (database, logs, forwarded bytes).
   */
  readonly releasedPlaintext: Buffer | null;
  /** 'ok' for a 200 answer, else the error type answered. */
  readonly outcome: 'ok' | KmsErrorType;
  readonly status: number;
  readonly fault: KmsDoubleFault['kind'] | null;
  readonly at: Date;
}

export interface KmsDoubleKeySpec {
  readonly policy: KeyPolicy;
  /** UUID; random when absent. */
  readonly keyId?: string;
}

export interface KmsDoubleOptions {
  readonly region: string;
  /** The attestation root Recipient documents must chain to (the dev root), PEM. */
  readonly devRootCertificatePem: string;
  readonly credentials: readonly SigV4Credential[];
  readonly keys?: readonly KmsDoubleKeySpec[];
  readonly now?: () => Date;
  readonly randomBytes?: (size: number) => Buffer;
  readonly host?: string;
  readonly port?: number;
  /** Where ca.pem is written; a temporary directory (removed on close) when absent. */
  readonly caDirectory?: string;
}

export interface KmsDoubleHandle {
  /** https://127.0.0.1:<port>/ */
  readonly url: string;
  readonly port: number;
  readonly caCertificatePem: string;
  /** ca.pem on disk, for NODE_EXTRA_CA_CERTS or a child process. */
  readonly caPath: string;
  /** ARNs of the keys given in options.keys, in order. */
  readonly keyArns: readonly string[];
  createKey(policy?: KeyPolicy, keyId?: string): string;
  setPolicy(arn: string, policy: KeyPolicy): void;
  setKeyState(arn: string, state: KeyState): void;
  /** Every call so far, oldest first (a snapshot). */
  readonly calls: readonly KmsDoubleCall[];
  clearCalls(): void;
  injectFault(fault: KmsDoubleFault): void;
  clearFaults(): void;
  close(): Promise<void>;
}

class BodyTooLargeError extends Error {}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? '0');
  if (declared > MAX_REQUEST_BODY_BYTES) throw new BodyTooLargeError();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_REQUEST_BODY_BYTES) throw new BodyTooLargeError();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function send(response: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  const bytes = Buffer.from(body, 'utf8');
  response.writeHead(status, { ...headers, 'Content-Type': AMZ_JSON_CONTENT_TYPE, 'Content-Length': String(bytes.length) });
  response.end(bytes);
}

function sendError(response: ServerResponse, requestId: string, error: KmsError, close = false): void {
  send(
    response,
    error.status,
    { 'x-amzn-RequestId': requestId, 'x-amzn-ErrorType': error.type, ...(close ? { Connection: 'close' } : {}) },
    JSON.stringify({ __type: error.type, message: error.message }),
  );
}

function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export async function startKmsDouble(options: KmsDoubleOptions): Promise<KmsDoubleHandle> {
  if (typeof options.region !== 'string' || !/^[a-z]{2}(-[a-z]+)+-\d+$/.test(options.region)) throw new TypeError('options.region must be an AWS region name');
  if (typeof options.devRootCertificatePem !== 'string') throw new TypeError('options.devRootCertificatePem must be a PEM string');
  if (options.credentials.length === 0) throw new TypeError('options.credentials must name at least one credential');
  const now = options.now ?? ((): Date => new Date());
  const credentials = new Map(options.credentials.map((credential) => [credential.accessKeyId, credential]));
  const keys = new KeyStore(options.region, options.randomBytes);
  const keyArns = (options.keys ?? []).map((spec) => keys.create(parseKeyPolicy(spec.policy), spec.keyId).arn);
  const faults = new FaultQueue();
  const calls: KmsDoubleCall[] = [];
  const identity = createDoubleTlsIdentity();

  const ownsCaDirectory = options.caDirectory === undefined;
  const caDirectory = options.caDirectory ?? mkdtempSync(join(tmpdir(), 'kms-double-ca-'));
  mkdirSync(caDirectory, { recursive: true });
  const caPath = join(caDirectory, 'ca.pem');
  writeFileSync(caPath, identity.caCertificatePem);

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const requestId = randomUUID();
    const trace: OperationTrace = newOperationTrace();
    let operation: string | null = null;
    let accessKeyId: string | null = null;
    let fault: KmsDoubleFault | null = null;
    const record = (outcome: 'ok' | KmsErrorType, status: number): void => {
      calls.push({
        operation,
        accessKeyId,
        keyId: trace.keyArn,
        recipient: trace.recipientPresent,
        attestedPublicKey: trace.recipient === null ? null : Buffer.from(trace.recipient.publicKeySpki),
        attestedPcr0: trace.recipient === null ? null : trace.recipient.pcr0Hex,
        releasedPlaintext: outcome === 'ok' && trace.plaintext !== null ? Buffer.from(trace.plaintext) : null,
        outcome,
        status,
        fault: fault === null ? null : fault.kind,
        at: now(),
      });
    };
    const target = headerValue(request, 'x-amz-target');
    operation = target === undefined ? null : target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target;

    let body: Buffer;
    try {
      body = await readBody(request);
    } catch (error) {
      const kmsError = error instanceof BodyTooLargeError
        ? new KmsError('ValidationException', `request body exceeds ${MAX_REQUEST_BODY_BYTES} bytes`)
        : new KmsError('SerializationException', 'request body could not be read');
      record(kmsError.type, kmsError.status);
      sendError(response, requestId, kmsError, true);
      request.resume();
      return;
    }

    fault = faults.take();
    try {
      if (fault?.kind === 'delay') await sleep(fault.delayMs);
      if (fault?.kind === 'error') throw new KmsError(fault.errorType, fault.message ?? `injected ${fault.errorType}`);

      const authentication = verifySigV4Request(
        { method: request.method ?? '', target: request.url ?? '', rawHeaders: request.rawHeaders, body },
        { region: options.region, service: KMS_SERVICE_NAME, now: now(), findCredential: (id) => credentials.get(id) },
      );
      if (!authentication.ok) throw new KmsError(authentication.errorType, authentication.message);
      accessKeyId = authentication.accessKeyId;

      if (request.method !== 'POST' || (request.url ?? '').split('?')[0] !== '/') {
        throw new KmsError('UnknownOperationException', 'KMS accepts only POST /');
      }
      const contentType = (headerValue(request, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
      if (contentType !== AMZ_JSON_CONTENT_TYPE) throw new KmsError('SerializationException', `Content-Type must be ${AMZ_JSON_CONTENT_TYPE}`);
      if (target !== 'TrentService.Decrypt' && target !== 'TrentService.GenerateDataKey') {
        throw new KmsError('UnknownOperationException', 'X-Amz-Target is not an operation this double implements');
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        throw new KmsError('SerializationException', `request body (${body.length} bytes) is not JSON`);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new KmsError('SerializationException', 'request body must be a JSON object');

      const context: OperationContext = {
        keys,
        rootCertificatePem: options.devRootCertificatePem,
        now: now(),
        ...(options.randomBytes === undefined ? {} : { randomBytes: options.randomBytes }),
      };
      const result = target === 'TrentService.Decrypt'
        ? decrypt(parsed as Record<string, unknown>, context, trace)
        : generateDataKey(parsed as Record<string, unknown>, context, trace);
      const text = fault?.kind === 'malformed-body' ? corruptResponse(fault.body, result, trace.plaintext) : JSON.stringify(result);
      record('ok', 200);
      trace.plaintext = null;
      send(response, 200, { 'x-amzn-RequestId': requestId }, text);
    } catch (error) {
      trace.plaintext = null;
      const kmsError = error instanceof KmsError ? error : new KmsError('KMSInternalException', 'internal error in the KMS double');
      record(kmsError.type, kmsError.status);
      sendError(response, requestId, kmsError);
    }
  };

  const server: Server = createServer({ key: identity.privateKeyPem, cert: identity.certificatePem }, (request, response) => {
    handle(request, response).catch(() => response.destroy());
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the KMS double is not listening on TCP');
  const host = options.host ?? '127.0.0.1';

  const findKey = (arn: string): ReturnType<KeyStore['find']> & object => {
    const key = keys.find(arn);
    if (key === undefined) throw new TypeError('no such key in the KMS double');
    return key;
  };

  return {
    url: `https://${host.includes(':') ? `[${host}]` : host}:${address.port}/`,
    port: address.port,
    caCertificatePem: identity.caCertificatePem,
    caPath,
    keyArns,
    createKey: (policy = DENY_WITHOUT_RECIPIENT_POLICY, keyId) => keys.create(parseKeyPolicy(policy), keyId).arn,
    setPolicy: (arn, policy) => {
      findKey(arn).policy = parseKeyPolicy(policy);
    },
    setKeyState: (arn, state) => {
      findKey(arn).state = state;
    },
    get calls() {
      return [...calls];
    },
    clearCalls: () => {
      calls.length = 0;
    },
    injectFault: (fault) => faults.add(fault),
    clearFaults: () => faults.clear(),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownsCaDirectory) rmSync(caDirectory, { recursive: true, force: true });
    },
  };
}
