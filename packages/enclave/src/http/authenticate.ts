// Caller authentication: `Authorization: Bearer <token>`. The token itself is
// the credential (no registration): its keyed pseudonym is the owner id, so
// each token owns a private namespace and the host never sees the token.
// AUTH_MODE=none maps every caller to one shared anonymous owner.

import type { IncomingHttpHeaders } from 'node:http';
import type { AuthMode } from '../config.js';
import { AuthRequiredError, AuthTokenMalformedError } from '../enclave-errors.js';

/**
 * 22 base64url characters carry 132 bits, the least that holds 16 random
 * bytes; 512 bounds the HMAC input. RFC 6750's b64token also allows `.`,
 * `~`, `+`, `/` and trailing `=`, which we accept.
 */
const TOKEN_PATTERN = /^[A-Za-z0-9\-._~+/]{22,512}=*$/;
/** A random 22-character token has about 18 distinct symbols; fewer than 8 means it was typed, not generated. */
const MIN_DISTINCT_TOKEN_SYMBOLS = 8;
/** Owner name of AUTH_MODE=none. Contains a NUL, which TOKEN_PATTERN never admits, so no token maps to it. */
export const ANONYMOUS_OWNER_TOKEN = '\u0000anonymous';

export function tokenFromHeaders(headers: IncomingHttpHeaders, mode: AuthMode): string {
  if (mode === 'none') return ANONYMOUS_OWNER_TOKEN;
  const header = headers.authorization;
  if (header === undefined || header === '') throw new AuthRequiredError();
  const match = /^Bearer +(\S+) *$/i.exec(header);
  const token = match?.[1];
  if (token === undefined) throw new AuthRequiredError('the Authorization header must use the Bearer scheme');
  if (!TOKEN_PATTERN.test(token) || new Set(token).size < MIN_DISTINCT_TOKEN_SYMBOLS) throw new AuthTokenMalformedError();
  return token;
}
