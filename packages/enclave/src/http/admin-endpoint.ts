// Admin endpoints for the keyring, inside TLS like everything else, and only
// when ADMIN_TOKEN_SHA256 is set (otherwise they do not exist: 404).
//
//   GET  /admin/keys           {"source","activeKeyId","identityKeyId","keyIds":[…]}
//   POST /admin/keys/rotate    {}                          -> status after rotation
//   POST /admin/keys/reseal    {"cursor"?: HEX128, "limit"?: 1..256}
//                              -> {"examined","resealed","alreadyActive","cursor": HEX128|null,"more"}
//   POST /admin/keys/retire    {"keyId": HEX16}            -> status after retirement
//
// Authorization: `Bearer <admin token>`; the enclave keeps only the token's
// SHA-256 (from the measured image) and compares in constant time. A data
// token is never an admin token. (The admin token, sent as a data token,
// would name a namespace of its own like any bearer token; it reaches no
// other caller's documents.) At most one admin operation runs and one waits;
// more get 409 ADMIN_BUSY.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KeyAdministration, MAX_RESEAL_BATCH, type ResealCursor } from '../keys/key-administration.js';
import { readJsonBody } from './read-json-body.js';
import { AdminForbiddenError, BodyTooLargeError, CmsEnvelopeError, InvalidAdminRequestError, KeyringChangedError, KeyringDocumentError, KmsRequestError, KmsUnavailableError, MethodNotAllowedError, RouteNotFoundError, WriteConflictError } from '../enclave-errors.js';

/** Admin bodies are a few fields: 4 KiB. */
const MAX_ADMIN_BODY_BYTES = 4096;
const CURSOR_HEX = /^[0-9a-f]{128}$/;

export interface AdminDeps {
  readonly adminTokenSha256: Buffer | undefined;
  readonly keys: KeyAdministration;
}

export function isAdminPath(path: string): boolean {
  return path === '/admin/keys' || path.startsWith('/admin/keys/');
}

export async function serveAdmin(path: string, request: IncomingMessage, response: ServerResponse, deps: AdminDeps): Promise<void> {
  if (deps.adminTokenSha256 === undefined) throw new RouteNotFoundError();
  const action = path === '/admin/keys' ? 'status' : path.slice('/admin/keys/'.length);
  if (!['status', 'rotate', 'reseal', 'retire'].includes(action) || path === '/admin/keys/status') throw new RouteNotFoundError();
  const method = action === 'status' ? 'GET' : 'POST';
  if (request.method !== method) throw new MethodNotAllowedError();
  checkAdminToken(request.headers.authorization, deps.adminTokenSha256);
  try {
    switch (action) {
      case 'status':
        return sendAdminJson(response, deps.keys.status());
      case 'rotate':
        await readAdminBody(request);
        return sendAdminJson(response, await deps.keys.rotate());
      case 'reseal': {
        const body = await readAdminBody(request);
        const result = await deps.keys.resealBatch(parseCursor(body['cursor']), parseLimit(body['limit']));
        return sendAdminJson(response, { ...result, cursor: result.cursor === undefined ? null : Buffer.concat([result.cursor.owner, result.cursor.record]).toString('hex') });
      }
      default: {
        const body = await readAdminBody(request);
        const keyId = body['keyId'];
        if (typeof keyId !== 'string') throw new InvalidAdminRequestError('keyId (16 hex digits) is required');
        // A client that gives up stops the scan (and frees the admin lock).
        const closed = new AbortController();
        response.once('close', () => {
          if (!response.writableFinished) closed.abort();
        });
        return sendAdminJson(response, await deps.keys.retire(keyId.toLowerCase(), closed.signal));
      }
    }
  } catch (error) {
    throw asAdminApiError(error);
  }
}

function checkAdminToken(header: string | undefined, expected: Buffer): void {
  const token = /^Bearer +(\S{1,512}) *$/i.exec(header ?? '')?.[1];
  if (token === undefined) throw new AdminForbiddenError();
  const digest = createHash('sha256').update(token, 'utf8').digest();
  if (!timingSafeEqual(digest, expected)) throw new AdminForbiddenError();
}

async function readAdminBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  let raw: Buffer;
  try {
    raw = await readJsonBody(request, MAX_ADMIN_BODY_BYTES);
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new BodyTooLargeError(`an admin request body is at most ${MAX_ADMIN_BODY_BYTES} bytes`);
    throw error;
  }
  const value: unknown = JSON.parse(raw.toString('utf8'));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidAdminRequestError('the body must be a JSON object');
  return value as Record<string, unknown>;
}

function parseCursor(value: unknown): ResealCursor | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !CURSOR_HEX.test(value)) throw new InvalidAdminRequestError('cursor must be the 128 hex digits a previous reseal returned');
  const bytes = Buffer.from(value, 'hex');
  return { owner: bytes.subarray(0, 32), record: bytes.subarray(32) };
}

function parseLimit(value: unknown): number {
  if (value === undefined) return MAX_RESEAL_BATCH;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_RESEAL_BATCH) {
    throw new InvalidAdminRequestError(`limit must be an integer from 1 to ${MAX_RESEAL_BATCH}`);
  }
  return value;
}

/** Key-release failures of an admin operation as the client sees them; every other error passes through (toApiError decides). */
function asAdminApiError(error: unknown): unknown {
  if (error instanceof KeyringChangedError) return new WriteConflictError('the keyring changed concurrently; retry', { cause: error });
  if (error instanceof KmsRequestError || error instanceof CmsEnvelopeError || error instanceof KeyringDocumentError) {
    return new KmsUnavailableError(`KMS step failed (${error.reason}); the keyring is unchanged`, { cause: error });
  }
  return error;
}

function sendAdminJson(response: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  response.end(body);
}
