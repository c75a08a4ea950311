// A minimal AWS KMS client for the two calls key release needs, speaking the
// AWS JSON 1.1 protocol:
//
//   POST / HTTP/1.1
//   Host: kms.REGION.amazonaws.com
//   Content-Type: application/x-amz-json-1.1
//   X-Amz-Target: TrentService.Decrypt | TrentService.GenerateDataKey
//   X-Amz-Date, X-Amz-Security-Token, Authorization: AWS4-HMAC-SHA256 … (SigV4, service "kms")
//
//   Decrypt         {"CiphertextBlob": b64, "KeyId": s, "EncryptionContext": {…},
//                    "Recipient": {"AttestationDocument": b64, "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}
//                -> {"KeyId": s, "CiphertextForRecipient": b64, "EncryptionAlgorithm": s}
//   GenerateDataKey {"KeyId": s, "KeySpec": "AES_256", "EncryptionContext": {…}, "Recipient": {…}}
//                -> {"KeyId": s, "CiphertextBlob": b64, "CiphertextForRecipient": b64}
//   error           HTTP 4xx/5xx {"__type": "AccessDeniedException", "message": s}
//                   (the type may carry a "namespace#" prefix; x-amzn-ErrorType repeats it)
//
// (reference/nitro-attestation-and-kms.md §5.1; AWS KMS API reference.) With a
// Recipient, KMS leaves `Plaintext` out: an answer that carries one is refused,
// whoever sent it. Every request carries a Recipient; this client has no way
// to ask for a plaintext key.
//
// Transport: a fresh CONNECT tunnel through the host's egress forwarder and
// TLS from inside the enclave per request (egress-tunnel.ts); key release
// makes a handful of calls per start, so no connection is kept.
//
// Signing: @smithy/signature-v4 (README, dependency table: the AWS SDK's own
// signer, 4 packages, instead of @aws-sdk/client-kms's 25).

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { TransportAddress } from '@http-enclave/protocol';
import { NodeSha256 } from './aws-sha256.js';
import { openTlsTunnel } from './egress-tunnel.js';

import type { AwsCredentials } from '../../storage/storage-client.js';
import { EgressTunnelError, KmsRequestError, sanitizeOutsideText } from '../../enclave-errors.js';

export type { AwsCredentials };

export interface KmsClientOptions {
  readonly region: string;
  readonly endpoint: URL;
  readonly egressAddress: TransportAddress;
  /** PEM CA bundle replacing the public CAs (development only). */
  readonly ca: string | undefined;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  /** Current credentials; `forceRefresh` after KMS said they expired. */
  readonly credentials: (forceRefresh: boolean) => Promise<AwsCredentials>;
  /** Backoff sleeps; tests pass a fast one. */
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface KmsRecipient {
  /** COSE_Sign1 attestation document whose public_key is the RSA-2048 SPKI the answer is encrypted to. */
  readonly attestationDocument: Buffer;
}

export interface DecryptForRecipientRequest {
  readonly ciphertextBlob: Buffer;
  readonly keyId: string;
  readonly encryptionContext: Readonly<Record<string, string>>;
  readonly recipient: KmsRecipient;
}

export interface GenerateDataKeyForRecipientRequest {
  readonly keyId: string;
  readonly encryptionContext: Readonly<Record<string, string>>;
  readonly recipient: KmsRecipient;
}

export interface ForRecipientAnswer {
  /** CMS EnvelopedData to the recipient key (cms-enveloped-data.ts opens it). */
  readonly ciphertextForRecipient: Buffer;
  readonly keyId: string;
}

/** KMS's limits: CiphertextBlob and CiphertextForRecipient are at most 6144 bytes. */
export const MAX_KMS_BLOB_BYTES = 6144;
/** A KMS answer is a small JSON object; 64 KiB bounds what a hostile peer can make us hold. */
export const MAX_KMS_RESPONSE_BYTES = 64 * 1024;
/** First backoff; doubles per attempt, with full jitter (AWS's recommendation). */
const BASE_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5_000;

/** Error types worth another attempt: throttling and KMS-side trouble. Everything else is a refusal. */
const RETRYABLE_ERROR_TYPES = new Set(['ThrottlingException', 'KMSInternalException', 'DependencyTimeoutException', 'ServiceUnavailableException', 'InternalFailure']);
const EXPIRED_CREDENTIAL_TYPES = new Set(['ExpiredTokenException', 'ExpiredToken', 'RequestExpired']);

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export class KmsClient {
  readonly #options: KmsClientOptions;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: KmsClientOptions) {
    this.#options = options;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async decryptForRecipient(request: DecryptForRecipientRequest): Promise<ForRecipientAnswer> {
    const answer = await this.#call('Decrypt', {
      CiphertextBlob: request.ciphertextBlob.toString('base64'),
      KeyId: request.keyId,
      EncryptionContext: request.encryptionContext,
      Recipient: recipientJson(request.recipient),
    });
    return { ciphertextForRecipient: readForRecipient(answer, 'Decrypt'), keyId: readKeyId(answer, 'Decrypt') };
  }

  async generateDataKeyForRecipient(request: GenerateDataKeyForRecipientRequest): Promise<ForRecipientAnswer & { readonly ciphertextBlob: Buffer }> {
    const answer = await this.#call('GenerateDataKey', {
      KeyId: request.keyId,
      KeySpec: 'AES_256',
      EncryptionContext: request.encryptionContext,
      Recipient: recipientJson(request.recipient),
    });
    return {
      ciphertextForRecipient: readForRecipient(answer, 'GenerateDataKey'),
      keyId: readKeyId(answer, 'GenerateDataKey'),
      ciphertextBlob: readBlob(answer, 'CiphertextBlob', 'GenerateDataKey'),
    };
  }

  async #call(operation: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const payload = JSON.stringify(body);
    let lastError: KmsRequestError | undefined;
    let forceRefresh = false;
    for (let attempt = 1; attempt <= this.#options.maxAttempts; attempt += 1) {
      if (attempt > 1) {
        const ceiling = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (attempt - 2));
        await this.#sleep(Math.floor(Math.random() * ceiling) + 1);
      }
      let credentials: AwsCredentials;
      try {
        credentials = await this.#options.credentials(forceRefresh);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        throw new KmsRequestError('AWS_CREDENTIALS_UNAVAILABLE', `no AWS credentials from the host for ${operation} (${typeof code === 'string' ? code : 'error'})`);
      }
      forceRefresh = false;
      try {
        return await this.#send(operation, payload, credentials);
      } catch (error) {
        const failure = asKmsError(error, operation, this.#options.timeoutMs);
        lastError = failure;
        if (failure.awsErrorType !== undefined && EXPIRED_CREDENTIAL_TYPES.has(failure.awsErrorType)) {
          forceRefresh = true;
          continue;
        }
        if (!isRetryable(failure)) throw failure;
      }
    }
    throw lastError ?? new KmsRequestError('KMS_UNREACHABLE', `${operation}: no attempt made`);
  }

  async #send(operation: string, payload: string, credentials: AwsCredentials): Promise<Record<string, unknown>> {
    const { endpoint, region, timeoutMs } = this.#options;
    const port = endpoint.port === '' ? 443 : Number(endpoint.port);
    const signer = new SignatureV4({
      service: 'kms',
      region,
      sha256: NodeSha256,
      credentials: {
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: credentials.secretAccessKey,
        ...(credentials.sessionToken !== undefined ? { sessionToken: credentials.sessionToken } : {}),
      },
    });
    const signed = await signer.sign({
      method: 'POST',
      protocol: 'https:',
      hostname: endpoint.hostname,
      port,
      path: '/',
      query: {},
      headers: {
        host: endpoint.host,
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `TrentService.${operation}`,
        'content-length': String(Buffer.byteLength(payload)),
      },
      body: payload,
    });
    const tls = await openTlsTunnel({
      egressAddress: this.#options.egressAddress,
      host: endpoint.hostname.replace(/^\[|\]$/g, ''),
      port,
      ca: this.#options.ca,
      timeoutMs,
    });
    return new Promise((resolve, reject) => {
      const req = httpRequest({ method: 'POST', path: '/', headers: signed.headers, createConnection: () => tls, timeout: timeoutMs });
      const timer = setTimeout(() => req.destroy(new KmsRequestError('KMS_TIMEOUT', `${operation}: no answer within ${timeoutMs} ms`)), timeoutMs);
      req.on('error', (error) => {
        clearTimeout(timer);
        tls.destroy();
        reject(error);
      });
      req.on('response', (response) => {
        readBounded(response, operation).then(
          (text) => {
            clearTimeout(timer);
            tls.destroy();
            try {
              resolve(interpretAnswer(operation, response, text));
            } catch (error) {
              reject(error);
            }
          },
          (error: unknown) => {
            clearTimeout(timer);
            tls.destroy();
            reject(error);
          },
        );
      });
      req.end(payload);
    });
  }
}

function recipientJson(recipient: KmsRecipient): Record<string, string> {
  return { AttestationDocument: recipient.attestationDocument.toString('base64'), KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' };
}

function readBounded(response: IncomingMessage, operation: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_KMS_RESPONSE_BYTES) {
        response.destroy();
        reject(new KmsRequestError('KMS_BAD_REPLY', `${operation}: answer exceeds ${MAX_KMS_RESPONSE_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.on('error', reject);
  });
}

/** KMS's error type without the "namespace#" prefix or the ":url" suffix x-amzn-ErrorType may carry. */
function errorTypeOf(raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw.length === 0) return undefined;
  const bare = raw.slice(raw.lastIndexOf('#') + 1).split(':')[0] ?? '';
  return /^[A-Za-z][A-Za-z0-9]{0,99}$/.test(bare) ? bare : undefined;
}

function interpretAnswer(operation: string, response: IncomingMessage, text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const status = response.statusCode ?? 0;
  if (status !== 200) {
    const body = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
    const type = errorTypeOf(body['__type']) ?? errorTypeOf(response.headers['x-amzn-errortype']);
    const message = typeof body['message'] === 'string' ? body['message'] : typeof body['Message'] === 'string' ? body['Message'] : '';
    if (type === undefined) {
      throw new KmsRequestError(status >= 500 ? 'KMS_UNREACHABLE' : 'KMS_BAD_REPLY', `${operation}: HTTP ${status} without a KMS error type`);
    }
    const reason = status >= 500 || RETRYABLE_ERROR_TYPES.has(type) ? 'KMS_UNREACHABLE' : 'KMS_REFUSED';
    throw new KmsRequestError(reason, `KMS refused ${operation}: ${type}${message === '' ? '' : `: ${sanitizeOutsideText(message)}`}`, type);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new KmsRequestError('KMS_BAD_REPLY', `${operation}: answer is not a JSON object`);
  }
  const answer = parsed as Record<string, unknown>;
  if (answer['Plaintext'] !== undefined && answer['Plaintext'] !== null) {
    throw new KmsRequestError('KMS_PLAINTEXT_REFUSED', `${operation}: the answer carries Plaintext although the request had a Recipient; refused (only an answer encrypted to this enclave is accepted)`);
  }
  return answer;
}

function readBlob(answer: Record<string, unknown>, field: string, operation: string): Buffer {
  const raw = answer[field];
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > Math.ceil(MAX_KMS_BLOB_BYTES / 3) * 4 || !STRICT_BASE64.test(raw)) {
    throw new KmsRequestError('KMS_BAD_REPLY', `${operation}: ${field} is missing or not base64 of 1..${MAX_KMS_BLOB_BYTES} bytes`);
  }
  const blob = Buffer.from(raw, 'base64');
  if (blob.length > MAX_KMS_BLOB_BYTES) throw new KmsRequestError('KMS_BAD_REPLY', `${operation}: ${field} is ${blob.length} bytes, at most ${MAX_KMS_BLOB_BYTES}`);
  return blob;
}

function readForRecipient(answer: Record<string, unknown>, operation: string): Buffer {
  return readBlob(answer, 'CiphertextForRecipient', operation);
}

function readKeyId(answer: Record<string, unknown>, operation: string): string {
  const keyId = answer['KeyId'];
  if (typeof keyId !== 'string' || keyId.length === 0 || keyId.length > 2048) {
    throw new KmsRequestError('KMS_BAD_REPLY', `${operation}: KeyId is missing or not a string of 1..2048 characters`);
  }
  return keyId;
}

function asKmsError(error: unknown, operation: string, timeoutMs: number): KmsRequestError {
  if (error instanceof KmsRequestError) return error;
  if (error instanceof EgressTunnelError) {
    return new KmsRequestError('KMS_UNREACHABLE', `${operation}: ${error.message}`);
  }
  const code = (error as { code?: unknown }).code;
  if (code === 'TRANSPORT_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return new KmsRequestError('KMS_TIMEOUT', `${operation}: no answer within ${timeoutMs} ms`);
  const detail = typeof code === 'string' ? code : error instanceof Error ? error.name : 'error';
  if (TLS_VERIFICATION_CODES.test(detail)) {
    return new KmsRequestError('KMS_UNREACHABLE', `${operation}: the KMS endpoint's TLS certificate failed verification (${detail}); not retried`);
  }
  return new KmsRequestError('KMS_UNREACHABLE', `${operation}: cannot reach KMS through the egress forwarder (${detail})`);
}

/** OpenSSL's verification failures (Node passes their names as error codes): a wrong certificate stays wrong. */
const TLS_VERIFICATION_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME_INVALID/;

function isRetryable(error: KmsRequestError): boolean {
  if (error.reason === 'KMS_TIMEOUT') return true;
  if (error.reason !== 'KMS_UNREACHABLE') return false;
  // A forwarder that refuses the destination, or a certificate that fails verification, will do so again.
  return !/egress forwarder refused|failed verification/.test(error.message);
}
