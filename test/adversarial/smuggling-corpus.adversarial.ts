// Request smuggling and framing (issue 9, "The suite"): a corpus of raw
// requests sent over TLS through the real host to the real enclave, one
// connection per case. Each case has its expected outcome in the table
// below. For every case, whatever the table says:
//   - never a 5xx, and every 4xx is our JSON error ({"error":{"code","message"}});
//   - never a response to a request hidden inside another one's framing:
//     a case marked `hidden` carries `PUT /private-data/hidden-N`, and that
//     document must not exist afterwards;
//   - no more responses than the table says (a second response on one
//     connection is how a desync shows), and nothing unparseable after them;
//   - the enclave is still running after the case, and never logs an error.
// After the corpus: a probe from another source address (127.0.0.2) was
// served throughout, the enclave still serves, and the RSS of both programs
// grew by less than a bound.
//
// Outcomes:
//   reject  exactly one JSON error with this status and code, then the
//           enclave closes the connection;
//   closed  no answer at all, and the connection is closed;
//   answers exactly these responses in order (a list of allowed statuses
//           where several are acceptable), nothing more (`thenMaybe`: one
//           more of this status may follow, or not). Used for requests
//           that are valid HTTP (chunk extensions, trailers, pipelining) and
//           for framing that Node reads one unambiguous way.
//
// A case with `defect` is a known program defect (see the report of issue
// 9's adversarial suite): it runs as a TODO test, so its failure is printed
// but does not fail the run. Remove `defect` once the program is fixed.
//
// Bounded: about 100 cases, 4 at a time, each at most CASE_DEADLINE_MS; the
// whole file about 6 s.

import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { sendRequest } from '../support/https-request.js';
import { describeTally, type Probe } from '../support/probe-client.js';
import type { MemorySampler } from '../support/process-memory.js';
import { startProbedStack, type ProbedStack } from '../support/probed-stack.js';
import type { Stack } from '../support/stack.js';

const ATTACKER_SOURCE = '127.0.0.1';
const PROBE_SOURCE = '127.0.0.2';
/** Small, so that "above the limit" cases stay small too. */
const MAX_BODY_BYTES = 65_536;
/** One case never takes longer than this (the enclave closes after a client error at once, or 2 s later at worst). */
const CASE_DEADLINE_MS = 8_000;
/** After the expected answers arrived, how long to wait for an extra one. */
const EXTRA_ANSWER_WAIT_MS = 500;
/** RSS growth allowed over the whole corpus (measured: a few MiB each; the bound leaves room for GC timing). */
const MAX_ENCLAVE_RSS_GROWTH_MIB = 64;
const MAX_HOST_RSS_GROWTH_MIB = 48;

type Allowed = number | readonly number[];
type Outcome =
  | { readonly kind: 'reject'; readonly status: number; readonly code: string }
  | { readonly kind: 'closed' }
  | { readonly kind: 'answers'; readonly statuses: readonly Allowed[]; readonly thenMaybe?: number };

interface Context {
  /** `Authorization: Bearer …\r\n` */
  readonly auth: string;
  /** A complete `PUT /private-data/hidden-N` request: must never be executed. */
  readonly hidden: string;
  /** A fresh document path for this case, `/private-data/case-N`. */
  readonly fresh: string;
}

interface Case {
  readonly name: string;
  readonly expect: Outcome;
  readonly build: (c: Context) => string;
  /** The payload carries c.hidden; its document must not exist afterwards. */
  readonly hidden?: true;
  /** A known defect: runs as TODO (see the header). */
  readonly defect?: string;
}

const reject = (status: number, code: string): Outcome => ({ kind: 'reject', status, code });
const answers = (...statuses: Allowed[]): Outcome => ({ kind: 'answers', statuses });
const closed: Outcome = { kind: 'closed' };
const R400 = reject(400, 'INVALID_REQUEST');
const JSON_CT = 'Content-Type: application/json\r\n';
/** A PUT of a fresh document, up to the end of its headers but without the blank line. */
const put = (c: Context, version = 'HTTP/1.1', host = 'Host: localhost\r\n'): string => `PUT ${c.fresh} ${version}\r\n${host}${c.auth}${JSON_CT}`;
const get = (path = '/healthz'): string => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n`;
const chunked = (c: Context, te: string, body: string): string => `${put(c)}Transfer-Encoding: ${te}\r\n\r\n${body}`;
const ONE_CHUNK = '2\r\n{}\r\n0\r\n\r\n';
// Defects this corpus found, each fixed with its cases turned from TODO into
// ordinary cases: D1, a parse error after a complete request in the same read
// was answered 400 in place of that request (whose write still happened), or
// on top of it; D2, an unknown Expect got Node's bare 417; D5, Expect:
// 100-continue was answered 100 before any check, inviting a refused 1 GiB
// upload (create-api-server.ts and api-handler.ts).

//                 name                                         expected outcome                     payload
const CASES: readonly Case[] = [
  // Content-Length
  { name: 'CL: two different values', /*                   */ expect: R400, build: (c) => `${put(c)}Content-Length: 2\r\nContent-Length: 50\r\n\r\n{}` },
  { name: 'CL: the same value twice', /*                   */ expect: R400, build: (c) => `${put(c)}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}` },
  { name: 'CL: a list "2, 2"', /*                          */ expect: R400, build: (c) => `${put(c)}Content-Length: 2, 2\r\n\r\n{}` },
  { name: 'CL: plus sign', /*                              */ expect: R400, build: (c) => `${put(c)}Content-Length: +2\r\n\r\n{}` },
  { name: 'CL: negative', /*                               */ expect: R400, build: (c) => `${put(c)}Content-Length: -2\r\n\r\n{}` },
  { name: 'CL: hex 0x2', /*                                */ expect: R400, build: (c) => `${put(c)}Content-Length: 0x2\r\n\r\n{}` },
  { name: 'CL: space inside "1 0"', /*                     */ expect: R400, build: (c) => `${put(c)}Content-Length: 1 0\r\n\r\n{}` },
  { name: 'CL: 23 digits (overflow)', /*                   */ expect: R400, build: (c) => `${put(c)}Content-Length: 99999999999999999999999\r\n\r\n{}` },
  { name: 'CL: empty value', /*                            */ expect: R400, build: (c) => `${put(c)}Content-Length: \r\n\r\n{}` },
  { name: 'CL: space before the colon', /*                 */ expect: R400, build: (c) => `${put(c)}Content-Length : 2\r\n\r\n{}` },
  { name: 'CL: leading zeros 0002 (valid)', /*             */ expect: answers(201), build: (c) => `${put(c)}Content-Length: 0002\r\n\r\n{}` },
  { name: 'CL: 1 GiB declared', /*                         */ expect: reject(413, 'BODY_TOO_LARGE'), build: (c) => `${put(c)}Content-Length: 1073741824\r\n\r\n{}` },
  // Content-Length with Transfer-Encoding
  { name: 'CL then TE chunked', /*                         */ expect: R400, build: (c) => `${put(c)}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${ONE_CHUNK}` },
  { name: 'TE chunked then CL', /*                         */ expect: R400, build: (c) => `${put(c)}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${ONE_CHUNK}` },
  { name: 'CL with TE identity', /*                        */ expect: R400, build: (c) => `${put(c)}Content-Length: 2\r\nTransfer-Encoding: identity\r\n\r\n{}` },
  // RFC 9112 §6.1: process it as faulty framing and close after it; the hidden request never runs.
  { name: 'HTTP/1.0 with TE chunked, hidden request after', expect: answers(201), hidden: true, build: (c) => `${put(c, 'HTTP/1.0')}Transfer-Encoding: chunked\r\n\r\n${ONE_CHUNK}${c.hidden}` },
  { name: 'GET with TE chunked, hidden request as its chunk', expect: answers(200), hidden: true, build: (c) => `${get()}Transfer-Encoding: chunked\r\n\r\n${c.hidden.length.toString(16)}\r\n${c.hidden}\r\n0\r\n\r\n` },
  // Transfer-Encoding variants
  { name: 'TE "chunked, identity"', /*                     */ expect: R400, build: (c) => chunked(c, 'chunked, identity', ONE_CHUNK) },
  // chunked is the final coding, so the framing is unambiguous; the other coding is not applied (RFC 9112 would answer 501), and the JSON check runs on the bytes as sent.
  { name: 'TE "identity, chunked"', /*                     */ expect: answers([201, 400]), build: (c) => chunked(c, 'identity, chunked', ONE_CHUNK) },
  { name: 'TE "gzip, chunked"', /*                         */ expect: answers([201, 400]), build: (c) => chunked(c, 'gzip, chunked', ONE_CHUNK) },
  { name: 'TE xchunked', /*                                */ expect: R400, build: (c) => chunked(c, 'xchunked', ONE_CHUNK) },
  { name: 'TE chunked in two headers', /*                  */ expect: R400, build: (c) => `${put(c)}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n${ONE_CHUNK}` },
  { name: 'TE chunked, then TE identity', /*               */ expect: R400, build: (c) => `${put(c)}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n${ONE_CHUNK}` },
  { name: 'TE CHUNKED (case-insensitive, valid)', /*       */ expect: answers(201), build: (c) => chunked(c, 'CHUNKED', ONE_CHUNK) },
  { name: 'TE with a tab as whitespace (valid)', /*        */ expect: answers(201), build: (c) => `${put(c)}Transfer-Encoding:\tchunked\r\n\r\n${ONE_CHUNK}` },
  { name: 'TE with a vertical tab', /*                     */ expect: R400, build: (c) => chunked(c, '\x0bchunked', ONE_CHUNK) },
  { name: 'TE with a space before the colon', /*           */ expect: R400, build: (c) => `${put(c)}Transfer-Encoding : chunked\r\n\r\n${ONE_CHUNK}` },
  { name: 'TE value on an obs-fold line', /*               */ expect: R400, build: (c) => `${put(c)}Transfer-Encoding:\r\n chunked\r\n\r\n${ONE_CHUNK}` },
  { name: 'TE "chunked," (trailing comma)', /*             */ expect: R400, build: (c) => chunked(c, 'chunked,', ONE_CHUNK) },
  { name: 'TE "chunked;q=1"', /*                           */ expect: R400, build: (c) => chunked(c, 'chunked;q=1', ONE_CHUNK) },
  { name: 'TE "\\"chunked\\"" (quoted)', /*                */ expect: R400, build: (c) => chunked(c, '"chunked"', ONE_CHUNK) },
  { name: 'TE chunked followed by NUL', /*                 */ expect: R400, build: (c) => chunked(c, 'chunked\x00', ONE_CHUNK) },
  { name: 'TE empty value', /*                             */ expect: R400, build: (c) => `${put(c)}Transfer-Encoding: \r\n\r\n{}` },
  { name: 'TE name with a soft hyphen', /*                 */ expect: R400, build: (c) => `${put(c)}Transfer\xadEncoding: chunked\r\n\r\n${ONE_CHUNK}` },
  // chunk syntax
  { name: 'chunk size not hex', /*                         */ expect: R400, build: (c) => chunked(c, 'chunked', 'zz\r\n{}\r\n0\r\n\r\n') },
  { name: 'chunk size negative', /*                        */ expect: R400, build: (c) => chunked(c, 'chunked', '-2\r\n{}\r\n0\r\n\r\n') },
  { name: 'chunk size overflows 64 bits', /*               */ expect: R400, build: (c) => chunked(c, 'chunked', 'FFFFFFFFFFFFFFFFF2\r\n{}\r\n0\r\n\r\n') },
  { name: 'chunk size 0x2', /*                             */ expect: R400, build: (c) => chunked(c, 'chunked', '0x2\r\n{}\r\n0\r\n\r\n') },
  { name: 'chunk size with a trailing space', /*           */ expect: R400, build: (c) => chunked(c, 'chunked', '2 \r\n{}\r\n0\r\n\r\n') },
  { name: 'chunk size with 20 000 leading zeros (valid)', expect: answers(201), build: (c) => chunked(c, 'chunked', `${'0'.repeat(20_000)}2\r\n{}\r\n0\r\n\r\n`) },
  { name: 'chunk extension (valid)', /*                    */ expect: answers(201), build: (c) => chunked(c, 'chunked', '2;name=value\r\n{}\r\n0\r\n\r\n') },
  { name: 'chunk extension of 20 KB', /*                   */ expect: R400, build: (c) => chunked(c, 'chunked', `2;${'e'.repeat(20_000)}\r\n{}\r\n0\r\n\r\n`) },
  { name: 'chunk extension with a bare LF', /*             */ expect: R400, build: (c) => chunked(c, 'chunked', '2;a\nb\r\n{}\r\n0\r\n\r\n') },
  { name: 'chunk data longer than its size', /*            */ expect: R400, build: (c) => chunked(c, 'chunked', '2\r\n{}xx\r\n0\r\n\r\n') },
  { name: 'chunk data without its CRLF', /*                */ expect: R400, build: (c) => chunked(c, 'chunked', '2\r\n{}0\r\n\r\n') },
  { name: 'chunked body with LF-only lines', /*            */ expect: R400, build: (c) => chunked(c, 'chunked', '2\n{}\n0\n\n') },
  { name: 'trailer field (valid)', /*                      */ expect: answers(201), build: (c) => chunked(c, 'chunked', '2\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n') },
  { name: 'trailer Content-Length', /*                     */ expect: R400, build: (c) => chunked(c, 'chunked', '2\r\n{}\r\n0\r\nContent-Length: 50\r\n\r\n') },
  { name: 'trailer of 20 KB', /*                           */ expect: reject(431, 'HEADERS_TOO_LARGE'), build: (c) => chunked(c, 'chunked', `2\r\n{}\r\n0\r\nX: ${'t'.repeat(20_000)}\r\n\r\n`) },
  { name: '20 000 one-byte chunks (valid)', /*             */ expect: answers(201), build: (c) => chunked(c, 'chunked', `1\r\n[\r\n${'2\r\n0,\r\n'.repeat(20_000)}1\r\n0\r\n1\r\n]\r\n0\r\n\r\n`) },
  { name: 'hidden request as a chunk of a PUT', /*         */ expect: answers(400), hidden: true, build: (c) => chunked(c, 'chunked', `${c.hidden.length.toString(16)}\r\n${c.hidden}\r\n0\r\n\r\n`) },
  // line endings and control characters
  { name: 'LF-only line endings', /*                       */ expect: R400, build: () => 'GET /healthz HTTP/1.1\nHost: localhost\n\n' },
  { name: 'CR-only line endings', /*                       */ expect: R400, build: () => 'GET /healthz HTTP/1.1\rHost: localhost\r\r' },
  { name: 'NUL in a header value', /*                      */ expect: R400, build: () => `${get()}X-A: a\x00b\r\n\r\n` },
  { name: 'bare CR in a header value', /*                  */ expect: R400, build: () => `${get()}X-A: a\rb\r\n\r\n` },
  { name: 'bare LF in a header value', /*                  */ expect: R400, build: () => `${get()}X-A: a\nTransfer-Encoding: chunked\r\n\r\n` },
  { name: 'obs-fold in another header', /*                 */ expect: R400, build: () => `${get()}X-A: a\r\n b\r\n\r\n` },
  { name: 'NUL in the request target', /*                  */ expect: R400, build: () => 'GET /healthz\x00 HTTP/1.1\r\nHost: localhost\r\n\r\n' },
  // header names
  { name: 'space inside a header name', /*                 */ expect: R400, build: () => `${get()}X A: b\r\n\r\n` },
  { name: 'header line without a colon', /*                */ expect: R400, build: () => `${get()}NoColon\r\n\r\n` },
  { name: 'empty header name', /*                          */ expect: R400, build: () => `${get()}: v\r\n\r\n` },
  { name: 'non-ASCII header name', /*                      */ expect: R400, build: () => `${get()}X-\xe9: v\r\n\r\n` },
  { name: 'whitespace before the first header', /*         */ expect: R400, build: () => 'GET /healthz HTTP/1.1\r\n Host: localhost\r\n\r\n' },
  { name: 'Host twice', /*                                 */ expect: R400, build: () => `${get()}Host: evil.example\r\n\r\n` },
  // request line
  { name: 'control bytes as the method', /*                */ expect: R400, build: () => '\x01\x02\x03 / HTTP/1.1\r\nHost: localhost\r\n\r\n' },
  { name: 'lowercase method', /*                           */ expect: R400, build: () => 'get /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n' },
  { name: 'unknown method', /*                             */ expect: R400, build: () => 'GARBAGE /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n' },
  { name: 'two spaces after the method (lenient, RFC MAY)', expect: answers(200), build: () => 'GET  /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n' },
  { name: 'trailing space after the version', /*           */ expect: R400, build: () => 'GET /healthz HTTP/1.1 \r\nHost: localhost\r\n\r\n' },
  { name: 'tabs as separators', /*                         */ expect: R400, build: () => 'GET\t/healthz\tHTTP/1.1\r\nHost: localhost\r\n\r\n' },
  { name: 'space inside the target', /*                    */ expect: R400, build: () => 'GET /heal thz HTTP/1.1\r\nHost: localhost\r\n\r\n' },
  { name: 'raw UTF-8 in the target', /*                    */ expect: R400, build: (c) => `GET /private-data/\xc3\xa9 HTTP/1.1\r\nHost: localhost\r\n${c.auth}\r\n` },
  { name: 'version HTTP/1.x', /*                           */ expect: R400, build: () => 'GET /healthz HTTP/1.x\r\nHost: localhost\r\n\r\n' },
  // Node reads these as HTTP/1.x without keep-alive: one answer, then the connection closes.
  { name: 'version HTTP/2.0 in HTTP/1 syntax', /*          */ expect: answers([200, 400]), build: () => 'GET /healthz HTTP/2.0\r\nHost: localhost\r\n\r\n' },
  { name: 'HTTP/0.9 request line', /*                      */ expect: answers([200, 400]), build: () => 'GET /healthz\r\n\r\n' },
  { name: 'HTTP/2 connection preface', /*                  */ expect: R400, build: () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' },
  { name: 'CONNECT', /*                                    */ expect: closed, build: () => 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n' },
  // RFC 9112 §3.2.2: a server MUST accept absolute-form; the enclave routes on the raw target (404), which is safe.
  { name: 'absolute-form, our host', /*                    */ expect: answers([200, 404]), build: () => 'GET http://localhost/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n' },
  { name: 'absolute-form, another host', /*                */ expect: answers([200, 400, 404]), build: () => 'GET http://evil.example/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n' },
  { name: 'asterisk-form OPTIONS *', /*                    */ expect: answers([400, 404, 405]), build: () => 'OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n' },
  { name: 'empty lines before the request line', /*        */ expect: answers(200), build: () => `\r\n\r\n${get()}\r\n` },
  { name: 'dot segments in the target', /*                 */ expect: answers([400, 404]), build: (c) => `GET /private-data/../healthz HTTP/1.1\r\nHost: localhost\r\n${c.auth}\r\n` },
  // very long lines
  { name: 'target of 20 KB', /*                            */ expect: reject(431, 'HEADERS_TOO_LARGE'), build: () => `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n` },
  { name: 'header value of 20 KB', /*                      */ expect: reject(431, 'HEADERS_TOO_LARGE'), build: () => `${get()}X-Big: ${'a'.repeat(20_000)}\r\n\r\n` },
  { name: 'method of 5 KB', /*                             */ expect: R400, build: () => `${'A'.repeat(5_000)} / HTTP/1.1\r\nHost: localhost\r\n\r\n` },
  // Node counts header names and values against MAX_HEADER_BYTES, not the separators: these heads are larger on the wire.
  { name: '3 000 short headers', /*                        */ expect: answers([200, 431]), build: () => `${get()}${'X-A: b\r\n'.repeat(3_000)}\r\n` },
  { name: '16 000 empty headers', /*                       */ expect: answers([200, 431]), build: () => `${get()}${'a:\r\n'.repeat(16_000)}\r\n` },
  // requests hidden in, or following, another request
  { name: 'hidden request as the CL body of a PUT', /*     */ expect: answers(400), hidden: true, build: (c) => `${put(c)}Content-Length: ${c.hidden.length}\r\n\r\n${c.hidden}` },
  { name: 'hidden request as the CL body of a GET', /*     */ expect: answers(200), hidden: true, build: (c) => `${get()}Content-Length: ${c.hidden.length}\r\n\r\n${c.hidden}` },
  { name: 'GET with a 100 KB body (discarded)', /*         */ expect: answers(200), build: () => `${get()}Content-Length: 100000\r\n\r\n${'a'.repeat(100_000)}` },
  { name: 'pipelined: PUT then GET (two real requests)', expect: answers(201, 200), build: (c) => `${put(c)}Content-Length: 2\r\n\r\n{}${get(c.fresh)}${c.auth}\r\n` },
  { name: 'pipelined: two GETs', /*                        */ expect: answers(200, 200), build: () => `${get()}\r\n${get()}\r\n` },
  { name: 'Upgrade: websocket, hidden request after', /*   */ expect: answers(200), hidden: true, build: (c) => `${get()}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n${c.hidden}` },
  { name: 'Upgrade: h2c', /*                               */ expect: answers(200), build: () => `${get()}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n` },
  { name: 'Expect: 100-continue (valid)', /*               */ expect: answers(100, 201), build: (c) => `${put(c)}Expect: 100-continue\r\nContent-Length: 2\r\n\r\n{}` },
  { name: 'Expect: 100-continue, 1 GiB declared', /*       */ expect: reject(413, 'BODY_TOO_LARGE'), build: (c) => `${put(c)}Expect: 100-continue\r\nContent-Length: 1073741824\r\n\r\n` },
  { name: 'Expect: something else', /*                     */ expect: answers(417), build: (c) => `${put(c)}Expect: fancy\r\nContent-Length: 2\r\n\r\n{}` },
  { name: 'Connection: close, hidden request after', /*    */ expect: answers(201), hidden: true, build: (c) => `${put(c)}Connection: close\r\nContent-Length: 2\r\n\r\n{}${c.hidden}` },
  { name: 'HTTP/1.0 PUT, hidden request after', /*         */ expect: answers(201), hidden: true, build: (c) => `${put(c, 'HTTP/1.0', '')}Content-Length: 2\r\n\r\n{}${c.hidden}` },
  { name: 'Connection: close, 405, then one junk byte', /* */ expect: answers(405), build: (c) => `POST ${c.fresh} HTTP/1.1\r\nHost: localhost\r\n${c.auth}${JSON_CT}Connection: close\r\nContent-Length: 2\r\n\r\n{}X` },
  { name: 'valid PUT, then a malformed request', /*       */ expect: { kind: 'answers', statuses: [201], thenMaybe: 400 }, build: (c) => `${put(c)}Content-Length: 2\r\n\r\n{}GARBAGE / HTTP/1.1\r\n\r\n` },
  // From the hostile review of the D1/D4 fixes: no request gets two answers, or another's.
  { name: 'valid PUT, then a chunked PUT with a bad chunk size', expect: answers(201), build: (c) => `${put(c)}Content-Length: 2\r\n\r\n{}${put({ ...c, fresh: `${c.fresh}-b` })}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n` },
  { name: '401 with Connection: close, its body, then a request', expect: answers(401), build: (c) => `PUT ${c.fresh} HTTP/1.1\r\nHost: localhost\r\n${JSON_CT}Connection: close\r\nContent-Length: 2\r\n\r\n{}${get()}\r\n` },
  { name: '401 while its chunked body holds a malformed chunk', expect: answers(401), build: (c) => `PUT ${c.fresh} HTTP/1.1\r\nHost: localhost\r\n${JSON_CT}Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\nzz\r\n` },
];

// ---------------------------------------------------------------------------

interface ParsedResponse {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
}

/** Splits what the server sent into HTTP/1.1 responses; `rest` is what does not parse as one. */
function parseResponses(bytes: Buffer): { responses: ParsedResponse[]; rest: Buffer } {
  const responses: ParsedResponse[] = [];
  let at = 0;
  for (;;) {
    const headEnd = bytes.indexOf('\r\n\r\n', at, 'latin1');
    if (headEnd < 0) break;
    const lines = bytes.subarray(at, headEnd).toString('latin1').split('\r\n');
    const match = /^HTTP\/1\.[01] (\d{3}) /.exec(lines[0] ?? '');
    if (match === null) break;
    const status = Number(match[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    let bodyStart = headEnd + 4;
    let body: Buffer;
    if (status < 200 || status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const lineEnd = bytes.indexOf('\r\n', bodyStart, 'latin1');
        if (lineEnd < 0) break;
        const size = parseInt(bytes.subarray(bodyStart, lineEnd).toString('latin1'), 16);
        if (!Number.isInteger(size) || lineEnd + 2 + size + 2 > bytes.length) break;
        parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
        bodyStart = lineEnd + 2 + size + 2;
        if (size === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) break;
      body = Buffer.concat(parts);
    } else if (headers.has('content-length')) {
      const length = Number(headers.get('content-length'));
      if (bodyStart + length > bytes.length) break;
      body = bytes.subarray(bodyStart, bodyStart + length);
      bodyStart += length;
    } else {
      body = bytes.subarray(bodyStart); // delimited by the close
      bodyStart = bytes.length;
    }
    responses.push({ status, headers, body });
    at = bodyStart;
  }
  return { responses, rest: bytes.subarray(at) };
}

/** Final (non-1xx) responses the outcome expects. */
function expectedCount(outcome: Outcome): number {
  if (outcome.kind === 'closed') return 0;
  if (outcome.kind === 'reject') return 1;
  return outcome.statuses.filter((s) => !(typeof s === 'number' && s < 200)).length;
}

interface Exchange {
  readonly bytes: Buffer;
  /** The server ended or reset the connection (rather than us, after the wait). */
  readonly closedByServer: boolean;
}

/** Sends one payload on a fresh TLS connection through the host, collects the answer. */
function exchange(port: number, payload: Buffer, finalAnswers: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closedByServer = false;
    let settled = false;
    const tcp = netConnect({ host: '127.0.0.1', port, localAddress: ATTACKER_SOURCE });
    tcp.on('error', () => undefined); // reported by the TLS socket on top
    const socket = tlsConnect({ socket: tcp, servername: 'localhost', rejectUnauthorized: false }, () => socket.write(payload));
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(extra);
      socket.destroy();
      tcp.destroy();
      resolve({ bytes: Buffer.concat(chunks), closedByServer });
    };
    const deadline = setTimeout(finish, CASE_DEADLINE_MS);
    let extra: NodeJS.Timeout | undefined;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // Once the answers we expect are in, wait a little for an extra one; the server may also keep the connection.
      const final = parseResponses(Buffer.concat(chunks)).responses.filter((r) => r.status >= 200).length;
      if (final >= finalAnswers && finalAnswers > 0 && extra === undefined) extra = setTimeout(finish, EXTRA_ANSWER_WAIT_MS);
    });
    socket.on('end', () => {
      closedByServer = true;
      finish();
    });
    socket.on('error', () => {
      closedByServer = true; // a reset (CONNECT) or a write after the server closed
      finish();
    });
    socket.on('close', finish);
  });
}

function describeAnswer(bytes: Buffer): string {
  return JSON.stringify(bytes.subarray(0, 400).toString('latin1'));
}

// ---------------------------------------------------------------------------

let stack: Stack;
let token: string;
let probe: Probe;
let enclaveMemory: MemorySampler;
let hostMemory: MemorySampler;
const hiddenNames: string[] = [];

let watched: ProbedStack | undefined;
before(async () => {
  watched = await startProbedStack({ probeSource: PROBE_SOURCE, enclaveEnv: { MAX_BODY_BYTES: String(MAX_BODY_BYTES) } });
  ({ stack, token, probe, enclaveMemory, hostMemory } = watched);
});

after(async () => {
  await watched?.stop();
});

describe(`smuggling and framing corpus (${CASES.length} cases) through the host`, { concurrency: 4 }, () => {
  CASES.forEach((testCase, index) => {
    const options = testCase.defect === undefined ? {} : { todo: testCase.defect };
    test(`#${index} ${testCase.name}`, options, async () => {
      const hiddenName = `hidden-${index}`;
      if (testCase.hidden) hiddenNames.push(hiddenName);
      const context: Context = {
        auth: `Authorization: Bearer ${token}\r\n`,
        hidden: `PUT /private-data/${hiddenName} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n${JSON_CT}Content-Length: 2\r\n\r\n{}`,
        fresh: `/private-data/case-${index}`,
      };
      const payload = Buffer.from(testCase.build(context), 'latin1');
      const { bytes, closedByServer } = await exchange(stack.port, payload, expectedCount(testCase.expect));
      const { responses, rest } = parseResponses(bytes);
      const answer = describeAnswer(bytes);

      // Always: nothing unparseable, no 5xx, every 4xx our JSON error.
      assert.equal(rest.length, 0, `bytes that are not an HTTP response: ${answer}`);
      for (const response of responses) {
        assert.ok(response.status < 500, `a ${response.status}: ${answer}`);
        if (response.status >= 400) {
          assert.match(response.headers.get('content-type') ?? '', /^application\/json/, `a ${response.status} without a JSON body: ${answer}`);
          const error = (JSON.parse(response.body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } }).error;
          assert.equal(typeof error?.code, 'string', answer);
          assert.equal(typeof error?.message, 'string', answer);
        }
      }
      const statuses = responses.map((r) => r.status);
      const expect = testCase.expect;
      if (expect.kind === 'reject') {
        assert.deepEqual(statuses, [expect.status], `expected one ${expect.status} ${expect.code}: ${answer}`);
        assert.equal((JSON.parse(responses[0]?.body.toString('utf8') ?? '{}') as { error: { code: string } }).error.code, expect.code);
        assert.ok(closedByServer, `the connection stayed open after a ${expect.status}`);
      } else if (expect.kind === 'closed') {
        assert.deepEqual(statuses, [], `expected no answer: ${answer}`);
        assert.ok(closedByServer, 'the connection stayed open');
      } else {
        const extra = expect.thenMaybe !== undefined && statuses.length === expect.statuses.length + 1 && statuses.at(-1) === expect.thenMaybe;
        assert.equal(statuses.length - (extra ? 1 : 0), expect.statuses.length, `expected ${JSON.stringify(expect.statuses)}, got ${JSON.stringify(statuses)}: ${answer}`);
        expect.statuses.forEach((allowed, at) => {
          const set = typeof allowed === 'number' ? [allowed] : allowed;
          assert.ok(set.includes(statuses[at] ?? -1), `answer ${at}: ${statuses[at]}, expected one of ${JSON.stringify(set)}: ${answer}`);
        });
      }
      assert.equal(stack.enclave.child.exitCode, null, 'the enclave exited');
      assert.equal(stack.enclave.child.signalCode, null, 'the enclave was killed');
      if (testCase.hidden) {
        const hidden = await sendRequest(stack.port, { path: `/private-data/${hiddenName}`, token });
        assert.equal(hidden.status, 404, `the hidden request was executed (its document exists): ${answer}`);
      }
    });
  });
});

test('after the corpus: no hidden request ran, the probe from another source was served throughout, memory bounded, no error logged', async (t) => {
  const tally = await probe.stop();
  const enclaveGrowth = enclaveMemory.stop();
  const hostGrowth = hostMemory.stop();
  t.diagnostic(`probe ${describeTally(tally)}; RSS growth enclave ${enclaveGrowth.toFixed(1)} MiB (from ${enclaveMemory.baseline.toFixed(0)}), host ${hostGrowth.toFixed(1)} MiB (from ${hostMemory.baseline.toFixed(0)})`);
  // A hidden request that ran late would show up now.
  for (const name of hiddenNames) {
    assert.equal((await sendRequest(stack.port, { path: `/private-data/${name}`, token })).status, 404, `${name} was stored`);
  }
  assert.ok(tally.sent >= 10, `only ${tally.sent} probes were sent`);
  assert.equal(tally.ok, tally.sent, `probe from ${PROBE_SOURCE}: ${describeTally(tally)}`);
  assert.ok(enclaveGrowth < MAX_ENCLAVE_RSS_GROWTH_MIB, `enclave RSS grew by ${enclaveGrowth.toFixed(1)} MiB`);
  assert.ok(hostGrowth < MAX_HOST_RSS_GROWTH_MIB, `host RSS grew by ${hostGrowth.toFixed(1)} MiB`);
  // Still serving: a write and its read-back.
  const written = await sendRequest(stack.port, { method: 'PUT', path: '/private-data/after', token, body: '{"after":"corpus"}' });
  assert.equal(written.status, 201);
  assert.equal((await sendRequest(stack.port, { path: '/private-data/after', token })).body.toString(), '{"after":"corpus"}');
  // No crash, no unexpected error (an INTERNAL 500 is logged at error level).
  assert.equal(stack.enclave.child.exitCode, null);
  assert.doesNotMatch(stack.enclave.output(), /"level":"error"/, 'the enclave logged an error');
  assert.doesNotMatch(stack.host.output(), /"level":"error"/, 'the host logged an error');
});
