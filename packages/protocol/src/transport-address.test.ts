// Tests of the transport address syntax: every scheme, IPv6 in brackets, the
// bare HOST:PORT form only when allowed, each error with INVALID_ADDRESS, and
// format/parse round trips.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';

import {
  formatTransportAddress,
  parseTransportAddress,
  TransportAddressError,
  type ParseTransportAddressOptions,
  type TransportAddress,
} from './transport-address.js';

function assertInvalid(text: string, fragment: string, options?: ParseTransportAddressOptions): void {
  assert.throws(
    () => parseTransportAddress(text, options),
    (error: unknown) => {
      assert.ok(error instanceof TransportAddressError, `${text}: expected TransportAddressError, got ${String(error)}`);
      assert.equal(error.code, 'INVALID_ADDRESS', text);
      assert.ok(error.message.includes(fragment), `${text}: message "${error.message}" lacks "${fragment}"`);
      return true;
    },
  );
}

test('valid addresses of every scheme', () => {
  const cases: [string, TransportAddress][] = [
    ['tcp://127.0.0.1:8443', { scheme: 'tcp', host: '127.0.0.1', port: 8443 }],
    ['tcp://localhost:0', { scheme: 'tcp', host: 'localhost', port: 0 }],
    ['tcp://storage.internal:65535', { scheme: 'tcp', host: 'storage.internal', port: 65535 }],
    ['tcp://[::1]:443', { scheme: 'tcp', host: '::1', port: 443 }],
    ['tcp://[2001:db8::1]:80', { scheme: 'tcp', host: '2001:db8::1', port: 80 }],
    ['tcp://[::ffff:192.0.2.1]:80', { scheme: 'tcp', host: '::ffff:192.0.2.1', port: 80 }],
    ['unix:///run/enclave/storage.sock', { scheme: 'unix', path: '/run/enclave/storage.sock' }],
    ['vsock://16:5000', { scheme: 'vsock', cid: 16, port: 5000 }],
    ['vsock://3:8443', { scheme: 'vsock', cid: 3, port: 8443 }],
    ['vsock://4294967295:1', { scheme: 'vsock', cid: 4294967295, port: 1 }],
    ['vsock://any:5000', { scheme: 'vsock', cid: 'any', port: 5000 }],
    ['  tcp://127.0.0.1:1  ', { scheme: 'tcp', host: '127.0.0.1', port: 1 }],
  ];
  for (const [text, expected] of cases) assert.deepEqual(parseTransportAddress(text), expected, text);
});

test('bare HOST:PORT is tcp only when allowBareHostPort is set', () => {
  assert.deepEqual(parseTransportAddress('0.0.0.0:8443', { allowBareHostPort: true }), { scheme: 'tcp', host: '0.0.0.0', port: 8443 });
  assert.deepEqual(parseTransportAddress('[::]:8443', { allowBareHostPort: true }), { scheme: 'tcp', host: '::', port: 8443 });
  assert.deepEqual(parseTransportAddress('localhost:80', { allowBareHostPort: true }), { scheme: 'tcp', host: 'localhost', port: 80 });
  assertInvalid('0.0.0.0:8443', 'expected tcp://HOST:PORT');
  assertInvalid('0.0.0.0:8443', 'expected tcp://HOST:PORT', { allowBareHostPort: false });
  assertInvalid('/run/storage.sock', 'expected tcp://HOST:PORT');
  assertInvalid('8443', 'expected HOST:PORT', { allowBareHostPort: true });
  assertInvalid(':8443', 'expected HOST:PORT', { allowBareHostPort: true });
});

test('invalid addresses fail with INVALID_ADDRESS', () => {
  const cases: [string, string][] = [
    // unknown or misspelt scheme
    ['http://127.0.0.1:80', 'unknown scheme'],
    ['TCP://127.0.0.1:80', 'unknown scheme'],
    ['udp://127.0.0.1:53', 'unknown scheme'],
    ['://127.0.0.1:80', 'unknown scheme'],
    ['', 'expected tcp://HOST:PORT'],
    // ports
    ['tcp://127.0.0.1:65536', 'above 65535'],
    ['tcp://127.0.0.1:99999', 'above 65535'],
    ['tcp://127.0.0.1:123456', 'port must be a decimal number'],
    ['tcp://127.0.0.1:http', 'port must be a decimal number'],
    ['tcp://127.0.0.1:-1', 'port must be a decimal number'],
    ['tcp://127.0.0.1:+80', 'port must be a decimal number'],
    ['tcp://127.0.0.1:0x50', 'port must be a decimal number'],
    ['tcp://127.0.0.1:', 'port must be a decimal number'],
    ['tcp://127.0.0.1', 'expected HOST:PORT'],
    ['vsock://3:65536', 'above 65535'],
    ['vsock://3:', 'port must be a decimal number'],
    // hosts
    ['tcp://:80', 'expected HOST:PORT'],
    ['tcp://user@host:80', 'bad host name'],
    ['tcp://host/path:80', 'bad host name'],
    ['tcp://::1:80', 'bad host name'],
    ['tcp://[::1:80', 'expected [IPv6]:PORT'],
    ['tcp://[::1]80', 'expected [IPv6]:PORT'],
    ['tcp://[]:80', 'bad IPv6 address'],
    ['tcp://[fe80::1%eth0]:80', 'bad IPv6 address'],
    // unix paths
    ['unix://relative/path.sock', 'unix path must be absolute'],
    ['unix://', 'unix path must be absolute'],
    ['unix://./x.sock', 'unix path must be absolute'],
    [`unix:///${'a'.repeat(107)}`, 'longer than 107 bytes'],
    ['unix:///tmp/a\0b', 'contains NUL'],
    // vsock CIDs
    ['vsock://host:5000', 'CID must be a decimal number'],
    ['vsock://parent:5000', 'CID must be a decimal number'],
    ['vsock://-1:5000', 'CID must be a decimal number'],
    ['vsock://4294967296:5000', 'CID must be a decimal number'],
    ['vsock://ANY:5000', 'CID must be a decimal number'],
    ['vsock://:5000', 'expected vsock://CID:PORT'],
    ['vsock://16', 'expected vsock://CID:PORT'],
    // trailing garbage
    ['tcp://127.0.0.1:80/', 'port must be a decimal number'],
    ['tcp://127.0.0.1:80?x=1', 'port must be a decimal number'],
    ['tcp://127.0.0.1:80 x', 'port must be a decimal number'],
    ['tcp://[::1]:80x', 'port must be a decimal number'],
    ['vsock://16:5000:1', 'port must be a decimal number'],
    ['vsock://16:5000/', 'port must be a decimal number'],
  ];
  for (const [text, fragment] of cases) assertInvalid(text, fragment);
});

test('a unix path of exactly 107 bytes is accepted (sun_path holds 108 with the NUL)', () => {
  const path = `/${'a'.repeat(106)}`;
  assert.deepEqual(parseTransportAddress(`unix://${path}`), { scheme: 'unix', path });
  // The limit is in bytes, not characters.
  assertInvalid(`unix:///${'é'.repeat(54)}`, 'longer than 107 bytes');
});

test('format then parse is the identity (examples and fast-check)', () => {
  const examples: TransportAddress[] = [
    { scheme: 'tcp', host: '127.0.0.1', port: 0 },
    { scheme: 'tcp', host: '::1', port: 65535 },
    { scheme: 'tcp', host: 'a-b.example', port: 8080 },
    { scheme: 'unix', path: '/tmp/x.sock' },
    { scheme: 'vsock', cid: 'any', port: 5000 },
    { scheme: 'vsock', cid: 0, port: 0 },
  ];
  for (const address of examples) assert.deepEqual(parseTransportAddress(formatTransportAddress(address)), address);
  assert.equal(formatTransportAddress({ scheme: 'tcp', host: '::1', port: 1 }), 'tcp://[::1]:1');
  assert.equal(formatTransportAddress({ scheme: 'unix', path: '/a' }), 'unix:///a');

  const port = fc.integer({ min: 0, max: 65535 });
  const hostName = fc.stringMatching(/^[A-Za-z0-9.-]{1,40}$/);
  const address: fc.Arbitrary<TransportAddress> = fc.oneof(
    fc.record({ scheme: fc.constant('tcp' as const), host: fc.oneof(hostName, fc.ipV4(), fc.ipV6()), port }),
    fc.record({ scheme: fc.constant('unix' as const), path: fc.stringMatching(/^\/[A-Za-z0-9._/-]{0,100}$/) }),
    fc.record({ scheme: fc.constant('vsock' as const), cid: fc.oneof(fc.constant('any' as const), fc.nat({ max: 0xffff_ffff })), port }),
  );
  fc.assert(
    fc.property(address, (generated) => {
      const a = { ...generated }; // fc.record builds null-prototype objects
      assert.deepEqual(parseTransportAddress(formatTransportAddress(a)), a);
    }),
    { numRuns: 1_000, interruptAfterTimeLimit: 3_000 },
  );
});

test('fuzz: parse throws only TransportAddressError on arbitrary text', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 60 }),
        fc.tuple(fc.constantFrom('tcp://', 'unix://', 'vsock://', ''), fc.string({ maxLength: 40 })).map(([a, b]) => a + b),
      ),
      (text) => {
        try {
          const parsed = parseTransportAddress(text, { allowBareHostPort: true });
          assert.deepEqual(parseTransportAddress(formatTransportAddress(parsed)), parsed);
        } catch (error) {
          if (!(error instanceof TransportAddressError)) throw error;
          assert.equal(error.code, 'INVALID_ADDRESS');
        }
      },
    ),
    { numRuns: 2_000, interruptAfterTimeLimit: 3_000 },
  );
});
