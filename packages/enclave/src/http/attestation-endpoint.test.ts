// GET /attestation through the real API handler on a real HTTPS server
// (port 0, an in-memory TLS identity, the real dev provider): CBOR and JSON
// answers bound to the certificate the client actually saw, and every
// refusal with its exact code.

import assert from 'node:assert/strict';
import { randomBytes, verify, X509Certificate } from 'node:crypto';
import { createServer as createHttpServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { parseTransportAddress } from '@http-enclave/protocol';

import type { AttestationProvider } from '../attest/attestation-provider.js';
import { decodeCborForTest, mapGet, type DecodedCbor } from '../attest/cbor-test-decoder.js';
import { encodeSigStructure } from '../attest/cose-sign1.js';
import { createDevAttestationProvider } from '../attest/dev-attestation-provider.js';
import { generateDevAttestationRoot } from '../attest/dev-attestation-root.js';
import { attestationExporter, tlsBindingUserData } from '../attest/tls-binding.js';
import { createKeyringFromEnvKey } from '../keys/keyring.js';
import { silentLogger } from '../log.js';
import { PrivateDocuments } from '../records/private-documents.js';
import { StorageClient } from '../storage/storage-client.js';
import { generateEphemeralTlsIdentity } from '../tls/self-signed-certificate.js';
import { KeyAdministration } from '../keys/key-administration.js';
import { BodyMemoryBudget } from './body-memory-budget.js';
import { createApiHandler } from './api-handler.js';
import { prefersJson } from './attestation-endpoint.js';
import { subscribeAttestations, type AttestationEvent } from '../telemetry/enclave-events.js';

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly peerCertificate: Buffer | undefined;
  readonly exporter: Buffer | undefined;
}

function handlerWith(attestation: AttestationProvider | undefined) {
  // The storage client connects lazily; /attestation never touches it.
  const storage = new StorageClient({ address: parseTransportAddress('unix:///nonexistent/he-storage.sock'), timeoutMs: 100, maxInFlight: 1, logger: silentLogger });
  const documents = new PrivateDocuments(createKeyringFromEnvKey(randomBytes(32)), storage);
  const keys = new KeyAdministration({ source: 'env', keyring: documents.keyring }, documents, storage, { refreshIntervalMs: 30_000 });
  return createApiHandler({ documents, storage, authMode: 'token', maxBodyBytes: 1024, bodyBudget: new BodyMemoryBudget(1024), logger: silentLogger, attestation, admin: { adminTokenSha256: undefined, keys } });
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function ask(tls: boolean, port: number, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const common = { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false as const };
    const request = tls ? httpsRequest({ ...common, rejectUnauthorized: false }) : httpRequest(common);
    request.on('response', (response) => {
      const socket = response.socket as TLSSocket;
      const peerCertificate = tls ? socket.getPeerCertificate().raw : undefined;
      const nonceHex = /nonce=([0-9a-fA-F]+)/.exec(path)?.[1];
      // This client's end of the session: the enclave must bind the same exporter.
      const exporter = tls && nonceHex !== undefined && nonceHex.length % 2 === 0 ? attestationExporter(socket, Buffer.from(nonceHex, 'hex')) : undefined;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks), peerCertificate, exporter }));
    });
    request.on('error', reject);
    request.end();
  });
}

function errorCode(answer: Answer): string {
  return (JSON.parse(answer.body.toString()) as { error: { code: string } }).error.code;
}

function checkDocument(document: Buffer, nonce: Buffer, peerCertificate: Buffer, exporter: Buffer | undefined): void {
  const envelope = decodeCborForTest(document) as readonly DecodedCbor[];
  const [protectedHeader, , payloadBytes, signature] = envelope as [Buffer, unknown, Buffer, Buffer];
  const payload = decodeCborForTest(payloadBytes);
  assert.deepEqual(mapGet(payload, 'nonce'), nonce);
  assert.ok(exporter !== undefined && exporter.length === 32);
  assert.deepEqual(mapGet(payload, 'user_data'), tlsBindingUserData(peerCertificate, exporter), 'user_data binds the certificate this connection presented and this session');
  const leaf = new X509Certificate(mapGet(payload, 'certificate') as Buffer);
  assert.ok(verify('sha384', encodeSigStructure(protectedHeader, payloadBytes), { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, signature));
}

describe('GET /attestation on HTTPS with the dev provider', () => {
  let server: Server;
  let port: number;
  before(async () => {
    const identity = generateEphemeralTlsIdentity({ now: new Date() });
    const root = generateDevAttestationRoot(new Date());
    const measurements = { pcr0: Buffer.alloc(48, 1), pcr1: Buffer.alloc(48, 2), pcr2: Buffer.alloc(48, 3) };
    const provider = createDevAttestationProvider({ root, measurements, now: () => new Date() });
    server = createHttpsServer({ key: identity.keyPem, cert: identity.certPem }, handlerWith(provider));
    port = await listen(server);
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('answers application/cbor with the raw COSE_Sign1, no token needed; the document signed is an attestation event, a refused nonce is none', async () => {
    const events: AttestationEvent[] = [];
    const stop = subscribeAttestations((event) => events.push(event));
    const nonce = randomBytes(32);
    const answer = await ask(true, port, `/attestation?nonce=${nonce.toString('hex')}`);
    assert.equal((await ask(true, port, '/attestation?nonce=zz')).status, 400);
    stop();
    assert.deepEqual(events.map((event) => event.outcome), ['signed'], 'a client\'s refused request must not tell the host its status');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'application/cbor');
    assert.equal(answer.headers['cache-control'], 'no-store');
    assert.equal(answer.body[0], 0x84);
    checkDocument(answer.body, nonce, answer.peerCertificate ?? Buffer.alloc(0), answer.exporter);
  });

  test('answers JSON {document, format, provider} when Accept asks for application/json; upper-case hex works', async () => {
    const nonce = randomBytes(512);
    const answer = await ask(true, port, `/attestation?nonce=${nonce.toString('hex').toUpperCase()}`, { headers: { accept: 'application/json' } });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'application/json');
    const body = JSON.parse(answer.body.toString()) as { document: string; format: string; provider: string };
    assert.deepEqual(Object.keys(body), ['document', 'format', 'provider']);
    assert.equal(body.format, 'cose_sign1');
    assert.equal(body.provider, 'dev');
    checkDocument(Buffer.from(body.document, 'base64'), nonce, answer.peerCertificate ?? Buffer.alloc(0), answer.exporter);
  });

  test('400 INVALID_NONCE: missing, empty, odd length, not hex, above 512 bytes, given twice', async () => {
    const cases = [
      '/attestation',
      '/attestation?',
      '/attestation?nonce=',
      '/attestation?nonce=abc',
      '/attestation?nonce=zz',
      '/attestation?nonce=0x00',
      `/attestation?nonce=${'ab'.repeat(513)}`,
      '/attestation?nonce=00&nonce=01',
      '/attestation?other=00',
    ];
    for (const path of cases) {
      const answer = await ask(true, port, path);
      assert.equal(answer.status, 400, path);
      assert.equal(errorCode(answer), 'INVALID_NONCE', path);
    }
  });

  test('405 for other methods, with Allow: GET', async () => {
    const answer = await ask(true, port, '/attestation?nonce=00', { method: 'POST' });
    assert.equal(answer.status, 405);
    assert.equal(errorCode(answer), 'METHOD_NOT_ALLOWED');
    assert.equal(answer.headers['allow'], 'GET');
  });
});

describe('GET /attestation without a provider or without TLS', () => {
  test('ATTESTATION_PROVIDER=none: 404 ATTESTATION_UNAVAILABLE', async () => {
    const identity = generateEphemeralTlsIdentity({ now: new Date() });
    const server = createHttpsServer({ key: identity.keyPem, cert: identity.certPem }, handlerWith(undefined));
    try {
      const answer = await ask(true, await listen(server), '/attestation?nonce=00');
      assert.equal(answer.status, 404);
      assert.equal(errorCode(answer), 'ATTESTATION_UNAVAILABLE');
    } finally {
      server.close();
    }
  });

  test('plain HTTP (USE_TLS=false): 404 ATTESTATION_UNAVAILABLE even with a provider', async () => {
    const root = generateDevAttestationRoot(new Date());
    const measurements = { pcr0: Buffer.alloc(48, 1), pcr1: Buffer.alloc(48, 2), pcr2: Buffer.alloc(48, 3) };
    const provider = createDevAttestationProvider({ root, measurements, now: () => new Date() });
    const server = createHttpServer(handlerWith(provider));
    try {
      const answer = await ask(false, await listen(server), '/attestation?nonce=00');
      assert.equal(answer.status, 404);
      assert.equal(errorCode(answer), 'ATTESTATION_UNAVAILABLE');
    } finally {
      server.close();
    }
  });
});

test('Accept negotiation: JSON only when application/json is listed and ranked above application/cbor', () => {
  assert.equal(prefersJson(undefined), false);
  assert.equal(prefersJson('*/*'), false);
  assert.equal(prefersJson('application/cbor'), false);
  assert.equal(prefersJson('application/json'), true);
  assert.equal(prefersJson('Application/JSON; charset=utf-8'), true);
  assert.equal(prefersJson('application/json;q=0'), false);
  assert.equal(prefersJson('application/cbor, application/json'), false);
  assert.equal(prefersJson('application/cbor;q=0.5, application/json'), true);
  assert.equal(prefersJson('application/json;q=0.5, application/cbor'), false);
});
