// AWS Signature Version 4 verification of a request, written from AWS's
// specification ("Create a signed AWS API request", "Elements of an AWS API
// request signature", IAM User Guide), independently of any SDK signer
// (sigv4-verifier.test.ts checks it against @smithy/signature-v4).
//
//   Authorization: AWS4-HMAC-SHA256 Credential=<AKID>/<yyyymmdd>/<region>/<service>/aws4_request,
//                  SignedHeaders=<h1;h2;…>, Signature=<64 hex>
//
//   CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n
//                      CanonicalHeaders \n SignedHeaders \n HexSha256(payload)
//     CanonicalURI     each path segment URI-encoded (RFC 3986 unreserved kept),
//                      applied to the path as received: non-S3 services
//                      encode twice, and the wire form is the first encoding
//     CanonicalQuery   name=value pairs, each encoded, sorted by name then value
//     CanonicalHeaders for each SignedHeaders name (lower-case, sorted):
//                      name:values trimmed, inner spaces collapsed, joined with ',' \n
//   StringToSign = "AWS4-HMAC-SHA256" \n X-Amz-Date \n Scope \n HexSha256(CanonicalRequest)
//   Scope        = yyyymmdd/region/service/aws4_request
//   SigningKey   = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, yyyymmdd), region), service), "aws4_request")
//   Signature    = Hex(HMAC(SigningKey, StringToSign))
//
// Rules beyond the arithmetic, as AWS enforces them: X-Amz-Date
// (yyyymmddThhmmssZ) is required and signed, and must be within 5 minutes of
// the server clock; `host` is signed; the scope's date is X-Amz-Date's day;
// session credentials need X-Amz-Security-Token (signed) equal to the issued
// token; an X-Amz-Content-Sha256 header, when sent, must be the payload hash.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** AWS rejects requests whose X-Amz-Date is more than 5 minutes from its clock. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** Longest Authorization header we parse (a real one is ~250 characters). */
export const MAX_AUTHORIZATION_LENGTH = 4096;

export interface SigV4Credential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** Session credentials past this instant answer ExpiredTokenException. */
  readonly expiresAt?: Date;
}

export interface SigV4Request {
  readonly method: string;
  /** The request-target as received: path and optional query. */
  readonly target: string;
  /** Node's `rawHeaders`: name, value, name, value… in wire order. */
  readonly rawHeaders: readonly string[];
  readonly body: Uint8Array;
}

export interface SigV4VerifyOptions {
  readonly region: string;
  readonly service: string;
  readonly now: Date;
  readonly findCredential: (accessKeyId: string) => SigV4Credential | undefined;
}

export type SigV4ErrorType =
  | 'IncompleteSignatureException'
  | 'InvalidSignatureException'
  | 'UnrecognizedClientException'
  | 'ExpiredTokenException';

export type SigV4Result =
  | { readonly ok: true; readonly accessKeyId: string }
  | { readonly ok: false; readonly errorType: SigV4ErrorType; readonly message: string };

const fail = (errorType: SigV4ErrorType, message: string): SigV4Result => ({ ok: false, errorType, message });

const sha256Hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Uint8Array, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 encoding: unreserved characters kept, every other UTF-8 byte as %XX (upper-case hex). */
export function encodeRfc3986(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function canonicalUri(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = path.endsWith('/') && segments.length > 0 ? '/' : '';
  return `/${segments.map(encodeRfc3986).join('/')}${trailing}`;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, '%20'));
  } catch {
    return value;
  }
}

function canonicalQuery(query: string): string {
  if (query === '') return '';
  const pairs = query
    .split('&')
    .filter((part) => part !== '')
    .map((part) => {
      const at = part.indexOf('=');
      const name = at < 0 ? part : part.slice(0, at);
      const value = at < 0 ? '' : part.slice(at + 1);
      return [encodeRfc3986(safeDecode(name)), encodeRfc3986(safeDecode(value))] as const;
    });
  pairs.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

/** Lower-case name → values in wire order. */
function headerMap(rawHeaders: readonly string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    const values = map.get(name) ?? [];
    values.push(rawHeaders[i + 1] ?? '');
    map.set(name, values);
  }
  return map;
}

interface ParsedAuthorization {
  readonly accessKeyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly terminator: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

function parseAuthorization(value: string): ParsedAuthorization | string {
  if (value.length > MAX_AUTHORIZATION_LENGTH) return `Authorization header of ${value.length} characters exceeds ${MAX_AUTHORIZATION_LENGTH}`;
  if (!value.startsWith(`${SIGV4_ALGORITHM} `)) return `Authorization header must start with ${SIGV4_ALGORITHM}`;
  const fields = new Map<string, string>();
  for (const part of value.slice(SIGV4_ALGORITHM.length + 1).split(',')) {
    const trimmed = part.trim();
    const at = trimmed.indexOf('=');
    if (at <= 0) return 'Authorization header has a component without "="';
    fields.set(trimmed.slice(0, at), trimmed.slice(at + 1));
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    return 'Authorization header requires Credential, SignedHeaders and Signature';
  }
  const scope = credential.split('/');
  if (scope.length !== 5) return `Credential must have 5 '/'-separated parts, has ${scope.length}`;
  const [accessKeyId = '', date = '', region = '', service = '', terminator = ''] = scope;
  if (!/^[0-9a-f]{64}$/.test(signature)) return `Signature must be 64 lower-case hex characters, has ${signature.length}`;
  const names = signedHeaders.split(';');
  if (names.some((name) => name === '' || name !== name.toLowerCase())) return 'SignedHeaders must be lower-case names separated by ";"';
  return { accessKeyId, date, region, service, terminator, signedHeaders: names, signature };
}

function parseAmzDate(value: string): number | null {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (match === null) return null;
  const [, y, mo, d, h, mi, s] = match.map(Number) as [number, number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  return Number.isNaN(ms) ? null : ms;
}

/** Builds the canonical request for `signedHeaders` (exported for tests). */
export function buildCanonicalRequest(request: SigV4Request, signedHeaders: readonly string[], payloadHash: string): string {
  const headers = headerMap(request.rawHeaders);
  const queryAt = request.target.indexOf('?');
  const path = queryAt < 0 ? request.target : request.target.slice(0, queryAt);
  const query = queryAt < 0 ? '' : request.target.slice(queryAt + 1);
  const canonicalHeaders = signedHeaders
    .map((name) => `${name}:${(headers.get(name) ?? []).map((v) => v.trim().replace(/ +/g, ' ')).join(',')}\n`)
    .join('');
  return [request.method.toUpperCase(), canonicalUri(path), canonicalQuery(query), canonicalHeaders, signedHeaders.join(';'), payloadHash].join('\n');
}

export function deriveSigningKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service), 'aws4_request');
}

export function verifySigV4Request(request: SigV4Request, options: SigV4VerifyOptions): SigV4Result {
  const headers = headerMap(request.rawHeaders);
  const authorizations = headers.get('authorization');
  if (authorizations === undefined || authorizations.length !== 1) {
    return fail('IncompleteSignatureException', 'exactly one Authorization header is required');
  }
  const parsed = parseAuthorization(authorizations[0] ?? '');
  if (typeof parsed === 'string') return fail('IncompleteSignatureException', parsed);

  const credential = options.findCredential(parsed.accessKeyId);
  if (credential === undefined) return fail('UnrecognizedClientException', 'The security token included in the request is invalid.');

  const amzDates = headers.get('x-amz-date');
  if (amzDates === undefined || amzDates.length !== 1) return fail('IncompleteSignatureException', 'exactly one X-Amz-Date header is required');
  const amzDate = amzDates[0] ?? '';
  const signedAtMs = parseAmzDate(amzDate);
  if (signedAtMs === null) return fail('IncompleteSignatureException', 'X-Amz-Date must be yyyymmddThhmmssZ');

  for (const required of ['host', 'x-amz-date']) {
    if (!parsed.signedHeaders.includes(required)) return fail('IncompleteSignatureException', `SignedHeaders must include ${required}`);
  }
  const sorted = [...parsed.signedHeaders].sort();
  if (sorted.some((name, i) => name !== parsed.signedHeaders[i] || (i > 0 && name === sorted[i - 1]))) {
    return fail('IncompleteSignatureException', 'SignedHeaders must be sorted and without duplicates');
  }
  for (const name of parsed.signedHeaders) {
    if (!headers.has(name)) return fail('IncompleteSignatureException', `signed header ${name} is not in the request`);
  }

  if (parsed.terminator !== 'aws4_request') return fail('IncompleteSignatureException', "Credential scope must end with 'aws4_request'");
  if (parsed.date !== amzDate.slice(0, 8)) return fail('InvalidSignatureException', 'Credential scope date differs from X-Amz-Date');
  if (parsed.service !== options.service) return fail('InvalidSignatureException', `Credential should be scoped to correct service: '${options.service}'.`);
  if (parsed.region !== options.region) return fail('InvalidSignatureException', `Credential should be scoped to a valid region.`);

  const skewMs = Math.abs(options.now.getTime() - signedAtMs);
  if (skewMs > MAX_CLOCK_SKEW_MS) {
    return fail('InvalidSignatureException', `Signature expired: X-Amz-Date is ${Math.round(skewMs / 1000)} s from the server time (limit ${MAX_CLOCK_SKEW_MS / 1000} s)`);
  }

  const tokens = headers.get('x-amz-security-token');
  if (credential.sessionToken !== undefined) {
    const token = tokens?.length === 1 ? tokens[0] : undefined;
    if (token === undefined || !parsed.signedHeaders.includes('x-amz-security-token')) {
      return fail('UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    const sent = Buffer.from(token, 'utf8');
    const expected = Buffer.from(credential.sessionToken, 'utf8');
    if (sent.length !== expected.length || !timingSafeEqual(sent, expected)) {
      return fail('UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    if (credential.expiresAt !== undefined && options.now.getTime() >= credential.expiresAt.getTime()) {
      return fail('ExpiredTokenException', 'The security token included in the request is expired');
    }
  } else if (tokens !== undefined) {
    return fail('UnrecognizedClientException', 'The security token included in the request is invalid.');
  }

  const payloadHash = sha256Hex(request.body);
  const contentHashes = headers.get('x-amz-content-sha256');
  if (contentHashes !== undefined && (contentHashes.length !== 1 || contentHashes[0] !== payloadHash)) {
    return fail('InvalidSignatureException', 'X-Amz-Content-Sha256 does not match the payload');
  }

  const canonicalRequest = buildCanonicalRequest(request, parsed.signedHeaders, payloadHash);
  const scope = `${parsed.date}/${parsed.region}/${parsed.service}/${parsed.terminator}`;
  const stringToSign = `${SIGV4_ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;
  const key = deriveSigningKey(credential.secretAccessKey, parsed.date, parsed.region, parsed.service);
  const expected = createHmac('sha256', key).update(stringToSign, 'utf8').digest();
  const received = Buffer.from(parsed.signature, 'hex');
  if (!timingSafeEqual(expected, received)) {
    return fail(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return { ok: true, accessKeyId: parsed.accessKeyId };
}
