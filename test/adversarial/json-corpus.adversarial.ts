// Hostile JSON bodies (issue 9, "The suite"), through the real host to the
// real enclave with its default MAX_BODY_BYTES (1 MiB): bombs (nesting
// 100 000 and 524 288 deep, 1 MiB of `[{},{},…]`, 60 000 keys, 100 000
// duplicate keys), huge numbers, strings up to the limit, duplicate and
// `__proto__` keys, lone surrogates, bad UTF-8, a BOM, NaN and Infinity,
// trailing garbage, empty and whitespace-only bodies. Each is answered with
// its status and nothing else:
//   - valid JSON: 201 (a fresh named document), and reading it back returns
//     the very bytes sent (the enclave validates, it never re-encodes);
//   - not JSON, or not UTF-8: 400 INVALID_JSON;
//   - above MAX_BODY_BYTES (declared or chunked): 413 BODY_TOO_LARGE
//     (a full upload above the limit used to get a reset instead, D4: fixed by
//     a bounded lingering close in api-handler.ts);
//   - never a 5xx, never a crash.
// Then bursts of the most expensive bodies at once (the parse expands a
// body twentyfold in memory). Throughout, a probe from another
// source address (127.0.0.2) reads a document and must be served every
// time, and the RSS of both programs must stay under a bound.
// Bounded: about 60 bodies of at most 1 MiB (one of 4 MiB), 4 at a time, then
// BURST bodies at once, BURST_ROUNDS times; the whole file about 10 s.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { sendRequest, type TestResponse } from '../support/https-request.js';
import { describeTally, type Probe } from '../support/probe-client.js';
import { rssMiB, type MemorySampler } from '../support/process-memory.js';
import { startProbedStack, type ProbedStack } from '../support/probed-stack.js';
import type { Stack } from '../support/stack.js';

const PROBE_SOURCE = '127.0.0.2';
/** The enclave's default MAX_BODY_BYTES (not set here, so the default is what is tested). */
const MAX = 1024 * 1024;
/** Bodies of a burst, sent at once, and how many bursts. */
const BURST = 16;
const BURST_ROUNDS = 3;
/**
 * Peak RSS growth allowed. JSON.parse materialises the whole value only to
 * check it: a 1 MiB body of `[{},{},…]` or of nesting costs 20-25 MiB of
 * heap while it is parsed, garbage at once but collected when V8 decides
 * (measured: 16 nested bodies at once take the enclave from 62 to 412 MiB;
 * this file's peak growth over ten runs 230-375 MiB). So: BURST bodies in
 * flight at up to 28 MiB each, plus 64 MiB for the rest. A parsed value or a
 * body kept per request would pass it within the corpus (60 bodies). The host
 * keeps 1 MiB blobs in its storage worker and frames (measured +70-90 MiB).
 */
const MAX_ENCLAVE_RSS_GROWTH_MIB = BURST * 28 + 64;
const MAX_HOST_RSS_GROWTH_MIB = 160;

type Expected = 201 | 400 | 413 | readonly [201, 400];

interface JsonCase {
  readonly name: string;
  readonly body: () => Buffer;
  readonly expect: Expected;
  /** 'chunked': Transfer-Encoding: chunked instead of Content-Length; declaredOnly: headers with this Content-Length, and no body. */
  readonly mode?: 'chunked' | { readonly declaredOnly: number };
  /** A known defect: runs as TODO, so its failure is printed but does not fail the run. Remove once fixed. */
  readonly defect?: string;
}

/**
 * D4 (fixed): the enclave answered 413 from Content-Length (or at the limit
 * when chunked) and closed the connection with the rest of the upload unread,
 * so the kernel reset it and the client often got ECONNRESET instead of the
 * 413 (measured: 14 of 20 uploads of MAX_BODY_BYTES + 1, 4 of 20 chunked
 * uploads of 4 MiB). Now the rest is read and discarded, bounded.
 */

const text = (s: string): (() => Buffer) => () => Buffer.from(s, 'utf8');
const bytes = (...b: number[]): (() => Buffer) => () => Buffer.from(b);
/** `head` + `unit` repeated to fill exactly `total` bytes with `tail`. */
function filled(head: string, unit: string, tail: string, total: number): Buffer {
  const count = Math.floor((total - head.length - tail.length) / unit.length);
  const body = head + unit.repeat(count) + tail;
  return Buffer.from(body.length < total ? body.replace(head, head + ' '.repeat(total - body.length)) : body, 'utf8');
}
const nested = (open: string, inner: string, close: string, depth: number): Buffer => Buffer.from(open.repeat(depth) + inner + close.repeat(depth), 'utf8');

//                 name                                          body                                                                    expected
const CASES: readonly JsonCase[] = [
  // bombs that are valid JSON
  { name: 'arrays nested 100 000 deep', /*                     */ body: () => nested('[', '', ']', 100_000), expect: 201 },
  { name: 'objects nested 100 000 deep', /*                    */ body: () => nested('{"a":', '1', '}', 100_000), expect: 201 },
  { name: 'arrays nested 524 288 deep (exactly 1 MiB)', /*     */ body: () => nested('[', '', ']', MAX / 2), expect: 201 },
  { name: 'a million bytes of [{},{},…] (350 000 objects)', /* */ body: () => filled('[', '{},', '{}]', MAX), expect: 201 },
  { name: 'a million bytes of [[],[],…]', /*                   */ body: () => filled('[', '[],', '[]]', MAX), expect: 201 },
  { name: '60 000 distinct keys', /*                           */ body: () => Buffer.from(`{${Array.from({ length: 60_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`), expect: 201 },
  { name: '100 000 duplicate keys', /*                         */ body: () => Buffer.from(`{${'"a":0,'.repeat(100_000)}"a":1}`), expect: 201 },
  // numbers
  { name: 'a number of 1 MiB digits', /*                       */ body: () => Buffer.from('1'.repeat(MAX)), expect: 201 },
  { name: '1e999999 (Infinity as a double)', /*                */ body: text('[1e999999,-1e999999,1e-999999]'), expect: 201 },
  { name: 'a fraction of 1 MiB digits', /*                     */ body: () => Buffer.from(`0.${'0'.repeat(MAX - 3)}1`), expect: 201 },
  { name: '-0 and 2^53+1 and 1E+2', /*                         */ body: text('[-0,9007199254740993,1E+2,-1.5e-3]'), expect: 201 },
  // strings
  { name: 'a string of exactly MAX_BODY_BYTES', /*             */ body: () => Buffer.from(`"${'s'.repeat(MAX - 2)}"`), expect: 201 },
  { name: 'a string of 170 000 \\u0000 escapes', /*            */ body: () => Buffer.from(`"${'\\u0000'.repeat(170_000)}"`), expect: 201 },
  { name: 'a string of 4-byte UTF-8 (emoji) to the limit', /*  */ body: () => Buffer.from(`"${'\u{1F600}'.repeat((MAX - 2) / 4)}"`), expect: 201 },
  { name: 'lone high surrogate escape', /*                     */ body: text('"\\ud800"'), expect: 201 },
  { name: 'lone low surrogate, then a high one', /*            */ body: text('{"x":"\\udc00\\ud800"}'), expect: 201 },
  { name: 'escaped NUL and every short escape', /*             */ body: text('"\\u0000\\b\\f\\n\\r\\t\\"\\\\\\/"'), expect: 201 },
  // keys and shapes
  { name: 'duplicate keys, different values', /*               */ body: text('{"a":1,"a":"two","a":[3]}'), expect: 201 },
  { name: '__proto__ key', /*                                  */ body: text('{"__proto__":{"isAdmin":true,"polluted":1}}'), expect: 201 },
  { name: 'constructor.prototype keys', /*                     */ body: text('{"constructor":{"prototype":{"polluted":1}},"toString":1,"hasOwnProperty":2}'), expect: 201 },
  { name: 'scalar texts: null', /*                             */ body: text('null'), expect: 201 },
  { name: 'scalar texts: a string', /*                         */ body: text('"just a string"'), expect: 201 },
  { name: 'whitespace around a value', /*                      */ body: text(' \t\r\n{"a" : [ 1 , 2 ] }\r\n\t '), expect: 201 },
  // RFC 8259 §8.1: a parser MAY ignore a BOM; if it is accepted, the bytes read back must still be the bytes sent.
  { name: 'UTF-8 BOM before {}', /*                            */ body: bytes(0xef, 0xbb, 0xbf, 0x7b, 0x7d), expect: [201, 400] },
  // not JSON
  { name: 'empty body', /*                                     */ body: text(''), expect: 400 },
  { name: 'whitespace only', /*                                */ body: text(' \t\r\n '), expect: 400 },
  { name: 'NaN', /*                                            */ body: text('NaN'), expect: 400 },
  { name: 'Infinity', /*                                       */ body: text('[Infinity]'), expect: 400 },
  { name: '-Infinity', /*                                      */ body: text('{"a":-Infinity}'), expect: 400 },
  { name: 'trailing garbage', /*                               */ body: text('{}x'), expect: 400 },
  { name: 'two values', /*                                     */ body: text('{} {}'), expect: 400 },
  { name: 'trailing NUL byte', /*                              */ body: bytes(0x7b, 0x7d, 0x00), expect: 400 },
  { name: '100 000 [ never closed', /*                         */ body: () => Buffer.from('['.repeat(100_000)), expect: 400 },
  { name: '1 MiB of [ never closed', /*                        */ body: () => Buffer.from('['.repeat(MAX)), expect: 400 },
  { name: 'objects nested 100 000 deep, one } short', /*       */ body: () => Buffer.from(`${'{"a":'.repeat(100_000)}1${'}'.repeat(99_999)}`), expect: 400 },
  { name: 'single quotes', /*                                  */ body: text("{'a':1}"), expect: 400 },
  { name: 'unquoted key', /*                                   */ body: text('{a:1}'), expect: 400 },
  { name: 'trailing comma', /*                                 */ body: text('[1,2,]'), expect: 400 },
  { name: 'comment', /*                                        */ body: text('/* c */{}'), expect: 400 },
  { name: 'leading zero', /*                                   */ body: text('[01]'), expect: 400 },
  { name: 'hex number', /*                                     */ body: text('[0x10]'), expect: 400 },
  { name: 'plus sign', /*                                      */ body: text('[+1]'), expect: 400 },
  { name: 'a bare minus', /*                                   */ body: text('-'), expect: 400 },
  { name: 'raw control character in a string', /*              */ body: bytes(0x22, 0x01, 0x22), expect: 400 },
  { name: 'unknown escape \\x41', /*                           */ body: text('"\\x41"'), expect: 400 },
  { name: 'short unicode escape \\u12', /*                     */ body: text('"\\u12"'), expect: 400 },
  { name: 'a lone NUL byte', /*                                */ body: bytes(0x00), expect: 400 },
  // not UTF-8
  { name: 'byte 0xFF', /*                                      */ body: bytes(0x22, 0xff, 0x22), expect: 400 },
  { name: 'overlong encoding of / (C0 AF)', /*                 */ body: bytes(0x22, 0xc0, 0xaf, 0x22), expect: 400 },
  { name: 'surrogate encoded as UTF-8 (ED A0 80)', /*          */ body: bytes(0x22, 0xed, 0xa0, 0x80, 0x22), expect: 400 },
  { name: 'truncated 3-byte sequence', /*                      */ body: bytes(0x22, 0xe2, 0x82, 0x22), expect: 400 },
  { name: 'code point above U+10FFFF (F4 90 80 80)', /*        */ body: bytes(0x22, 0xf4, 0x90, 0x80, 0x80, 0x22), expect: 400 },
  { name: 'UTF-16LE with its BOM', /*                          */ body: () => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"a":1}', 'utf16le')]), expect: 400 },
  { name: 'Latin-1 é in a string', /*                          */ body: bytes(0x22, 0xe9, 0x22), expect: 400 },
  { name: 'bad UTF-8 at the end of 1 MiB of valid string', /*  */ body: () => Buffer.concat([Buffer.from(`"${'v'.repeat(MAX - 3)}`), Buffer.from([0xc3, 0x22])]), expect: 400 },
  // too large
  { name: 'MAX_BODY_BYTES + 1 declared, nothing sent yet', /*  */ body: () => Buffer.alloc(0), expect: 413, mode: { declaredOnly: MAX + 1 } },
  { name: '1 GiB declared, nothing sent yet', /*               */ body: () => Buffer.alloc(0), expect: 413, mode: { declaredOnly: 1024 * MAX } },
  { name: 'MAX_BODY_BYTES + 1 sent with Content-Length', /*    */ body: () => Buffer.from(`"${'s'.repeat(MAX - 1)}"`), expect: 413 },
  { name: 'MAX_BODY_BYTES + 1, chunked', /*                    */ body: () => Buffer.from(`"${'s'.repeat(MAX - 1)}"`), expect: 413, mode: 'chunked' },
  { name: 'a string of exactly MAX_BODY_BYTES, chunked', /*    */ body: () => Buffer.from(`"${'c'.repeat(MAX - 2)}"`), expect: 201, mode: 'chunked' },
  { name: '4 MiB of nesting, chunked', /*                      */ body: () => nested('[', '', ']', 2 * MAX), expect: 413, mode: 'chunked' },
];

const CODE: Record<number, string> = { 400: 'INVALID_JSON', 413: 'BODY_TOO_LARGE' };

function assertAnswer(response: TestResponse, expected: Expected, what: string): void {
  assert.ok(response.status < 500, `${what}: a ${response.status}: ${response.body.subarray(0, 200).toString()}`);
  const allowed: readonly number[] = typeof expected === 'number' ? [expected] : expected;
  assert.ok(allowed.includes(response.status), `${what}: ${response.status} ${response.body.subarray(0, 200).toString()}, expected ${allowed.join(' or ')}`);
  if (response.status >= 400) {
    assert.equal(response.errorCode(), CODE[response.status], `${what}: ${response.body.toString()}`);
    assert.match(String(response.headers['content-type']), /^application\/json/);
  }
}

let stack: Stack;
let token: string;
let probe: Probe;
let enclaveMemory: MemorySampler;
let hostMemory: MemorySampler;

let watched: ProbedStack | undefined;
before(async () => {
  watched = await startProbedStack({ probeSource: PROBE_SOURCE });
  ({ stack, token, probe, enclaveMemory, hostMemory } = watched);
});

after(async () => {
  await watched?.stop();
});

function store(name: string, body: Buffer, chunked = false): Promise<TestResponse> {
  return sendRequest(stack.port, {
    method: 'PUT',
    path: `/private-data/${name}`,
    token,
    body,
    timeoutMs: 30_000,
    ...(chunked ? { headers: { 'transfer-encoding': 'chunked' } } : {}),
  });
}

/** Headers only, with a Content-Length and no body: the answer must come from the declared length. */
function declareOnly(name: string, declared: number): Promise<{ status: number; code: string | undefined; contentType: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: stack.port, servername: 'localhost', rejectUnauthorized: false }, () => {
      socket.write(`PUT /private-data/${name} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`);
    });
    let answer = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within 10 s: ${answer}`)), 10_000);
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      socket.destroy();
      const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
      let code: string | undefined;
      try {
        code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
      } catch {
        code = undefined;
      }
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1] ?? 0), code, contentType: /\r\ncontent-type: ([^\r]*)/i.exec(answer)?.[1] ?? '' });
    });
  });
}

describe(`JSON corpus (${CASES.length} bodies)`, { concurrency: 4 }, () => {
  CASES.forEach((jsonCase, index) => {
    const title = `#${index} ${jsonCase.name}: ${typeof jsonCase.expect === 'number' ? jsonCase.expect : jsonCase.expect.join(' or ')}`;
    test(title, jsonCase.defect === undefined ? {} : { todo: jsonCase.defect }, async () => {
      const name = `json-${index}`;
      const mode = jsonCase.mode;
      if (typeof mode === 'object') {
        const answer = await declareOnly(name, mode.declaredOnly);
        assert.equal(answer.status, jsonCase.expect);
        assert.equal(answer.code, CODE[answer.status]);
        assert.match(answer.contentType, /^application\/json/);
        assert.equal((await sendRequest(stack.port, { path: `/private-data/${name}`, token })).status, 404);
        return;
      }
      const body = jsonCase.body();
      const answer = await store(name, body, mode === 'chunked');
      assertAnswer(answer, jsonCase.expect, jsonCase.name);
      const read = await sendRequest(stack.port, { path: `/private-data/${name}`, token, timeoutMs: 30_000 });
      if (answer.status === 201) {
        assert.deepEqual(answer.json(), { name, version: 1 });
        assert.equal(read.status, 200);
        assert.equal(read.body.length, body.length, 'read back: length');
        assert.ok(read.body.equals(body), 'read back: the bytes differ from those sent');
      } else {
        assert.equal(read.status, 404, 'a refused body was stored');
      }
      assert.equal(stack.enclave.child.exitCode, null, 'the enclave exited');
    });
  });
});

const BURST_KINDS = [
  { name: '[{},{},…]', body: filled('[', '{},', '{}]', MAX), expect: 201 as const },
  { name: 'nested 524 288 deep', body: nested('[', '', ']', MAX / 2), expect: 201 as const },
  { name: '1 MiB of [', body: Buffer.from('['.repeat(MAX)), expect: 400 as const },
  { name: '170 000 duplicate keys', body: Buffer.from(`{${'"a":0,'.repeat(170_000)}"a":1}`), expect: 201 as const },
];

/** BURST of the kinds above at once; returns the enclave's RSS peak so far. */
async function burst(round: number): Promise<number> {
  const answers = await Promise.all(
    Array.from({ length: BURST }, (_, index) => {
      const kind = BURST_KINDS[index % BURST_KINDS.length];
      assert.ok(kind !== undefined);
      return store(`burst-${round}-${index}`, kind.body).then((answer) => ({ answer, kind, index }));
    }),
  );
  for (const { answer, kind, index } of answers) assertAnswer(answer, kind.expect, `burst ${round}, body ${index} (${kind.name})`);
  const back = await sendRequest(stack.port, { path: `/private-data/burst-${round}-0`, token, timeoutMs: 30_000 });
  assert.ok(back.body.equals(BURST_KINDS[0]?.body ?? Buffer.alloc(0)), 'burst: read back');
  return rssMiB(stack.enclave.child.pid ?? 0);
}

test(`bursts of ${BURST} of the most expensive bodies at once, ${BURST_ROUNDS} times: each answered right`, async (t) => {
  const after: number[] = [];
  for (let round = 0; round < BURST_ROUNDS; round += 1) after.push(await burst(round));
  // Reported, not asserted round against round: the parse results are garbage at once, and when V8 collects them
  // decides the RSS (measured after six rounds: 209-314 MiB, in no order). The bound on the peak is asserted below.
  t.diagnostic(`enclave RSS after each round: ${after.map((p) => p.toFixed(0)).join(', ')} MiB; peak ${enclaveMemory.peak().toFixed(0)} MiB (baseline ${enclaveMemory.baseline.toFixed(0)})`);
});

test('afterwards: the probe from another source was served throughout, memory bounded, the enclave serves, nothing logged at error', async (t) => {
  const tally = await probe.stop();
  const enclaveGrowth = enclaveMemory.stop();
  const hostGrowth = hostMemory.stop();
  t.diagnostic(`probe ${describeTally(tally)}; RSS growth enclave ${enclaveGrowth.toFixed(1)} MiB (from ${enclaveMemory.baseline.toFixed(0)}), host ${hostGrowth.toFixed(1)} MiB (from ${hostMemory.baseline.toFixed(0)})`);
  assert.ok(tally.sent >= 10, `only ${tally.sent} probes`);
  assert.equal(tally.ok, tally.sent, `probe from ${PROBE_SOURCE}: ${describeTally(tally)}`);
  assert.ok(enclaveGrowth < MAX_ENCLAVE_RSS_GROWTH_MIB, `enclave RSS grew by ${enclaveGrowth.toFixed(1)} MiB`);
  assert.ok(hostGrowth < MAX_HOST_RSS_GROWTH_MIB, `host RSS grew by ${hostGrowth.toFixed(1)} MiB`);
  const written = await sendRequest(stack.port, { method: 'POST', path: '/private-data', token, body: '{"after":"json corpus"}' });
  assert.equal(written.status, 201);
  assert.equal((await sendRequest(stack.port, { path: '/private-data', token })).body.toString(), '{"after":"json corpus"}');
  assert.equal(stack.enclave.child.exitCode, null);
  assert.doesNotMatch(stack.enclave.output(), /"level":"error"/, 'the enclave logged an error');
  assert.doesNotMatch(stack.host.output(), /"level":"error"/, 'the host logged an error');
});
