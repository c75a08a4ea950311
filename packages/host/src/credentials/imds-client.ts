// IMDSv2 client: the instance role's temporary credentials from the EC2
// instance metadata service (docs.aws.amazon.com/AWSEC2/latest/UserGuide/
// configuring-instance-metadata-service.html and instancedata-data-retrieval.html).
//
//   PUT /latest/api/token                              X-aws-ec2-metadata-token-ttl-seconds: 21600
//   GET /latest/meta-data/iam/security-credentials/    X-aws-ec2-metadata-token: TOKEN -> role name
//   GET /latest/meta-data/iam/security-credentials/ROLE  (same header) -> JSON
//        {"Code": "Success", "AccessKeyId", "SecretAccessKey", "Token", "Expiration", ...}
//
// Every request has a timeout and a response-size bound checked while the
// body arrives; the whole fetch has a deadline. Network errors, timeouts and
// 5xx/429 answers are retried a bounded number of times with backoff; a wrong
// answer (other status, oversize, not the documented shape) fails at once.
// Errors name the step and give statuses, codes and lengths, never a body, a
// token or a credential.

import { request, type IncomingMessage } from 'node:http';
import { ImdsBadResponse, ImdsUnavailable, TransientImdsError } from '../host-errors.js';

/** Token lifetime asked for: 6 h, the IMDSv2 maximum (we fetch a new one per refresh anyway). */
export const IMDS_TOKEN_TTL_SECONDS = 21_600;
/** One IMDS request; the service answers on-link in milliseconds, so 1 s means it is not there. */
export const IMDS_REQUEST_TIMEOUT_MS = 1_000;
/** Attempts of the whole token/role/credentials sequence before IMDS_UNAVAILABLE. */
export const IMDS_MAX_ATTEMPTS = 3;
/** Backoff before attempt n (n >= 2): IMDS_BACKOFF_BASE_MS * 2^(n-2), i.e. 100 ms, 200 ms. */
export const IMDS_BACKOFF_BASE_MS = 100;
/**
 * Deadline of one whole fetch, retries included: below the enclave's default
 * storage request timeout (STORAGE_TIMEOUT_MS, 5 s), so the enclave gets ERROR
 * NoCredentials rather than a timeout.
 */
export const IMDS_FETCH_DEADLINE_MS = 4_000;
/** IMDSv2 tokens are about 56 characters; 1 KiB is far above any seen. */
const MAX_TOKEN_BYTES = 1_024;
/** The role listing holds one IAM role name (at most 64 characters) and a newline. */
const MAX_ROLE_LIST_BYTES = 1_024;
/** The credentials document: a session token of a few KiB plus about 300 bytes of other fields. */
const MAX_CREDENTIALS_RESPONSE_BYTES = 16 * 1_024;
/** IAM role names: 1..64 of [A-Za-z0-9+=,.@_-] (IAM API reference, CreateRole RoleName). Also keeps the URL path safe. */
const ROLE_NAME = /^[A-Za-z0-9+=,.@_-]{1,64}$/;
/** Visible ASCII: a token goes into a header. */
const TOKEN = /^[\x21-\x7e]+$/;

const CREDENTIALS_PATH = '/latest/meta-data/iam/security-credentials/';

/** The raw fields of the role's credentials, as IMDS gave them (validated by the provider). */
export interface ImdsCredentials {
  readonly accessKeyId: unknown;
  readonly secretAccessKey: unknown;
  readonly sessionToken: unknown;
  readonly expiration: unknown;
}

export interface ImdsClientOptions {
  /** http://HOST[:PORT], no path. */
  readonly endpoint: string;
  readonly requestTimeoutMs?: number;
  readonly maxAttempts?: number;
  readonly backoffBaseMs?: number;
  readonly fetchDeadlineMs?: number;
}

/** Fetches the instance role's credentials: a fresh token, the role name, then the document. */
export async function fetchImdsCredentials(options: ImdsClientOptions): Promise<ImdsCredentials> {
  const maxAttempts = options.maxAttempts ?? IMDS_MAX_ATTEMPTS;
  const backoffBaseMs = options.backoffBaseMs ?? IMDS_BACKOFF_BASE_MS;
  const deadline = Date.now() + (options.fetchDeadlineMs ?? IMDS_FETCH_DEADLINE_MS);
  const requestTimeoutMs = options.requestTimeoutMs ?? IMDS_REQUEST_TIMEOUT_MS;
  const endpoint = new URL(options.endpoint);
  let last = 'NONE';
  for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
    if (attempt > 1) {
      const backoffMs = backoffBaseMs * 2 ** (attempt - 2);
      if (Date.now() + backoffMs >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, backoffMs));
    }
    const call = (method: 'GET' | 'PUT', path: string, headers: Record<string, string>, maxBytes: number, step: string): Promise<Buffer> => {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return Promise.reject(new TransientImdsError('DEADLINE'));
      return imdsRequest(endpoint, method, path, headers, maxBytes, Math.min(requestTimeoutMs, remaining), step);
    };
    try {
      const token = (await call('PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': String(IMDS_TOKEN_TTL_SECONDS) }, MAX_TOKEN_BYTES, 'token')).toString('latin1');
      if (!TOKEN.test(token)) throw new ImdsBadResponse(`IMDS token is not visible ASCII (${token.length} bytes)`);
      const auth = { 'X-aws-ec2-metadata-token': token };
      const role = parseRoleList(await call('GET', CREDENTIALS_PATH, auth, MAX_ROLE_LIST_BYTES, 'role'));
      const document = await call('GET', `${CREDENTIALS_PATH}${role}`, auth, MAX_CREDENTIALS_RESPONSE_BYTES, 'credentials');
      return parseCredentialsDocument(document);
    } catch (error) {
      if (!(error instanceof TransientImdsError)) throw error;
      last = error.reason;
      if (error.reason === 'DEADLINE') break;
    }
  }
  throw new ImdsUnavailable(`IMDS at ${endpoint.origin} did not answer within ${maxAttempts} attempts (last: ${last})`);
}

function parseRoleList(body: Buffer): string {
  const lines = body.toString('utf8').split('\n').map((line) => line.trim()).filter((line) => line.length > 0);
  if (lines.length !== 1) throw new ImdsBadResponse(`IMDS role listing must name exactly one role, got ${lines.length} lines`);
  const role = lines[0] ?? '';
  if (!ROLE_NAME.test(role)) throw new ImdsBadResponse(`IMDS role name is not an IAM role name (${role.length} characters)`);
  return role;
}

function parseCredentialsDocument(body: Buffer): ImdsCredentials {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ImdsBadResponse(`IMDS credentials are not JSON (${body.length} bytes)`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ImdsBadResponse('IMDS credentials are not a JSON object');
  const fields = parsed as Record<string, unknown>;
  if (fields['Code'] !== 'Success') throw new ImdsBadResponse('IMDS credentials Code is not "Success"');
  return {
    accessKeyId: fields['AccessKeyId'],
    secretAccessKey: fields['SecretAccessKey'],
    sessionToken: fields['Token'],
    expiration: fields['Expiration'],
  };
}

/** One bounded request. Resolves with the body of a 200; rejects TransientImdsError or ImdsBadResponse. */
function imdsRequest(
  endpoint: URL,
  method: 'GET' | 'PUT',
  path: string,
  headers: Record<string, string>,
  maxBytes: number,
  timeoutMs: number,
  step: string,
): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, body?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error !== undefined) {
        req.destroy();
        reject(error);
      } else resolve(body ?? Buffer.alloc(0));
    };
    // agent: false: no keep-alive socket outlives the fetch (one fetch per credential lifetime).
    const req = request({
      protocol: endpoint.protocol,
      hostname: endpoint.hostname.replace(/^\[|\]$/g, ''),
      port: endpoint.port === '' ? 80 : Number(endpoint.port),
      method,
      path,
      headers: { ...headers, ...(method === 'PUT' ? { 'Content-Length': '0' } : {}) },
      agent: false,
    });
    const timer = setTimeout(() => finish(new TransientImdsError('TIMEOUT')), timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => finish(new TransientImdsError(error.code ?? 'NETWORK')));
    req.on('response', (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      if (status >= 500 || status === 429) return finish(new TransientImdsError(`HTTP_${status}`));
      if (status !== 200) return finish(new ImdsBadResponse(`IMDS ${step} request answered HTTP ${status}`));
      const announced = Number(response.headers['content-length'] ?? '0');
      if (announced > maxBytes) return finish(new ImdsBadResponse(`IMDS ${step} answer announces ${announced} bytes, above ${maxBytes}`));
      const chunks: Buffer[] = [];
      let received = 0;
      response.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > maxBytes) return finish(new ImdsBadResponse(`IMDS ${step} answer is above ${maxBytes} bytes`));
        chunks.push(chunk);
      });
      response.on('end', () => finish(undefined, Buffer.concat(chunks)));
      response.on('error', (error: NodeJS.ErrnoException) => finish(new TransientImdsError(error.code ?? 'NETWORK')));
      // Closed before the end of the body (a no-op after 'end').
      response.on('close', () => finish(new TransientImdsError('CLOSED_MID_BODY')));
    });
    req.end();
  });
}
