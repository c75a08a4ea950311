// The KMS client against a real HTTPS server behind a real CONNECT tunnel
// (a minimal forwarder written here; the host's own is tested in the host
// package): request shape and signature headers, answers with Plaintext
// refused, error types mapped to stable reasons, bounded retries, bounded
// answers, and the forwarder's refusals.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { KmsClient, type AwsCredentials } from './kms-client.js';
import { KmsRequestError } from '../../enclave-errors.js';

const credentials: AwsCredentials = { accessKeyId: 'ASIATESTTESTTEST0001', secretAccessKey: 'test-secret-made-at-test-time', sessionToken: 'token-made-at-test-time', expiration: undefined };
const recipient = { attestationDocument: Buffer.from('not a real document: the client does not look inside') };

let dir: string;
let caPem: string;
let kms: HttpsServer;
let kmsPort: number;
let forwarder: NetServer;
let forwarderPort: number;
let answer: (req: IncomingMessage, body: string, res: ServerResponse) => void = () => undefined;
const seen: { headers: IncomingMessage['headers']; body: string }[] = [];
let refuseConnect = false;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kms-client-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  caPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
  kms = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: caPem }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ headers: req.headers, body });
      answer(req, body, res);
    });
  });
  await new Promise<void>((resolve) => kms.listen(0, '127.0.0.1', resolve));
  kmsPort = (kms.address() as { port: number }).port;
  forwarder = createNetServer((client) => {
    client.once('data', (head: Buffer) => {
      const match = /^CONNECT localhost:(\d+) HTTP\/1\.1\r\n/.exec(head.toString('latin1'));
      if (refuseConnect || match === null) {
        client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
        return;
      }
      const upstream: Socket = netConnect(Number(match[1]), '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        client.pipe(upstream).pipe(client);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
  });
  await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.1', resolve));
  forwarderPort = (forwarder.address() as { port: number }).port;
});

after(async () => {
  await new Promise((resolve) => kms.close(resolve));
  await new Promise((resolve) => forwarder.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function client(overrides: { maxAttempts?: number; timeoutMs?: number; ca?: string | undefined } = {}): KmsClient {
  return new KmsClient({
    region: 'eu-west-3',
    endpoint: new URL(`https://localhost:${kmsPort}`),
    egressAddress: { scheme: 'tcp', host: '127.0.0.1', port: forwarderPort },
    ca: 'ca' in overrides ? overrides.ca : caPem,
    timeoutMs: overrides.timeoutMs ?? 3_000,
    maxAttempts: overrides.maxAttempts ?? 3,
    credentials: () => Promise.resolve(credentials),
    sleep: () => Promise.resolve(),
  });
}

function reply(status: number, value: unknown, headers: Record<string, string> = {}): (req: IncomingMessage, body: string, res: ServerResponse) => void {
  return (_req, _body, res) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', ...headers });
    res.end(typeof value === 'string' ? value : JSON.stringify(value));
  };
}

async function failure(promise: Promise<unknown>): Promise<KmsRequestError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof KmsRequestError) return error;
    throw error;
  }
  assert.fail('expected a KmsRequestError');
}

const decryptRequest = { ciphertextBlob: Buffer.from([1, 2, 3]), keyId: 'arn:aws:kms:eu-west-3:111122223333:key/k', encryptionContext: { a: 'b' }, recipient };

test('Decrypt: JSON 1.1 request with target, SigV4 headers and the Recipient; the answer is read', async () => {
  seen.length = 0;
  answer = reply(200, { KeyId: 'arn:aws:kms:eu-west-3:111122223333:key/k', CiphertextForRecipient: Buffer.from('cms').toString('base64') });
  const result = await client().decryptForRecipient(decryptRequest);
  assert.equal(result.ciphertextForRecipient.toString(), 'cms');
  const request = seen[0];
  assert.ok(request !== undefined);
  assert.equal(request.headers['x-amz-target'], 'TrentService.Decrypt');
  assert.equal(request.headers['content-type'], 'application/x-amz-json-1.1');
  assert.equal(request.headers['host'], `localhost:${kmsPort}`);
  assert.equal(request.headers['x-amz-security-token'], credentials.sessionToken);
  assert.match(String(request.headers['authorization']), /^AWS4-HMAC-SHA256 Credential=ASIATESTTESTTEST0001\/\d{8}\/eu-west-3\/kms\/aws4_request, SignedHeaders=[a-z0-9;-]*x-amz-target[a-z0-9;-]*, Signature=[0-9a-f]{64}$/);
  assert.doesNotMatch(JSON.stringify(request.headers), new RegExp(credentials.secretAccessKey));
  const body = JSON.parse(request.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['CiphertextBlob', 'EncryptionContext', 'KeyId', 'Recipient']);
  assert.deepEqual(body['Recipient'], { AttestationDocument: recipient.attestationDocument.toString('base64'), KeyEncryptionAlgorithm: 'RSAES_OAEP_SHA_256' });
});

test('GenerateDataKey asks for AES_256 with the Recipient and returns CiphertextBlob and CiphertextForRecipient', async () => {
  seen.length = 0;
  answer = reply(200, { KeyId: 'k', CiphertextBlob: Buffer.from('blob').toString('base64'), CiphertextForRecipient: Buffer.from('cms').toString('base64') });
  const result = await client().generateDataKeyForRecipient({ keyId: 'k', encryptionContext: {}, recipient });
  assert.equal(result.ciphertextBlob.toString(), 'blob');
  assert.equal(JSON.parse(seen[0]?.body ?? '{}').KeySpec, 'AES_256');
});

test('an answer that carries Plaintext is refused, even next to CiphertextForRecipient', async () => {
  answer = reply(200, { KeyId: 'k', Plaintext: Buffer.alloc(32, 7).toString('base64'), CiphertextForRecipient: Buffer.from('cms').toString('base64') });
  const error = await failure(client().decryptForRecipient(decryptRequest));
  assert.equal(error.reason, 'KMS_PLAINTEXT_REFUSED');
  assert.doesNotMatch(error.message, /BwcH/);
});

test('KMS error types: refusals are not retried and keep their type; 5xx and throttling are retried, bounded', async () => {
  seen.length = 0;
  answer = reply(400, { __type: 'AccessDeniedException', message: 'The ciphertext refers to a key that you do not have access to' });
  const denied = await failure(client().decryptForRecipient(decryptRequest));
  assert.equal(denied.reason, 'KMS_REFUSED');
  assert.equal(denied.awsErrorType, 'AccessDeniedException');
  assert.equal(seen.length, 1, 'a refusal is asked once');

  seen.length = 0;
  answer = reply(400, { message: 'x' }, { 'x-amzn-ErrorType': 'IncorrectKeyException:http://internal.amazon.com/coral/com.amazonaws.kms/' });
  assert.equal((await failure(client().decryptForRecipient(decryptRequest))).awsErrorType, 'IncorrectKeyException');

  seen.length = 0;
  answer = reply(400, { __type: 'com.amazonaws.kms#ThrottlingException', message: 'slow down' });
  const throttled = await failure(client({ maxAttempts: 3 }).decryptForRecipient(decryptRequest));
  assert.equal(throttled.reason, 'KMS_UNREACHABLE');
  assert.equal(seen.length, 3, 'three attempts, then it gives up');

  seen.length = 0;
  let calls = 0;
  answer = (req, body, res) => {
    calls += 1;
    if (calls === 1) reply(500, { __type: 'KMSInternalException' })(req, body, res);
    else reply(200, { KeyId: 'k', CiphertextForRecipient: 'Y21z' })(req, body, res);
  };
  assert.equal((await client().decryptForRecipient(decryptRequest)).ciphertextForRecipient.toString(), 'cms');
  assert.equal(seen.length, 2);
});

test('malformed answers: not JSON, missing or non-base64 fields, oversize, an error without a type', async () => {
  for (const [value, status] of [
    ['not json', 200],
    [{ KeyId: 'k' }, 200],
    [{ KeyId: 'k', CiphertextForRecipient: 'not base64!' }, 200],
    [{ KeyId: 'k', CiphertextForRecipient: 'A'.repeat(8200) }, 200],
    [{ CiphertextForRecipient: 'Y21z' }, 200],
    [[1, 2], 200],
    ['{"message":"no type"}', 400],
  ] as const) {
    answer = reply(status, value);
    assert.equal((await failure(client({ maxAttempts: 1 }).decryptForRecipient(decryptRequest))).reason, 'KMS_BAD_REPLY', JSON.stringify(value).slice(0, 40));
  }
  answer = (_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
    res.end(Buffer.alloc(100_000, 0x20));
  };
  assert.equal((await failure(client({ maxAttempts: 1 }).decryptForRecipient(decryptRequest))).reason, 'KMS_BAD_REPLY');
});

test('the forwarder refusing CONNECT, an untrusted certificate and a silent server: clear reasons, bounded time', async () => {
  refuseConnect = true;
  try {
    const refused = await failure(client().decryptForRecipient(decryptRequest));
    assert.equal(refused.reason, 'KMS_UNREACHABLE');
    assert.match(refused.message, /egress forwarder refused CONNECT localhost:\d+: HTTP\/1\.1 403/);
  } finally {
    refuseConnect = false;
  }
  answer = reply(200, { KeyId: 'k', CiphertextForRecipient: 'Y21z' });
  const untrusted = await failure(client({ ca: undefined, maxAttempts: 1 }).decryptForRecipient(decryptRequest));
  assert.equal(untrusted.reason, 'KMS_UNREACHABLE');
  assert.match(untrusted.message, /certificate|SELF_SIGNED|UNABLE_TO_VERIFY/i);

  answer = () => undefined; // never answers
  const started = Date.now();
  const silent = await failure(client({ timeoutMs: 300, maxAttempts: 2 }).decryptForRecipient(decryptRequest));
  assert.equal(silent.reason, 'KMS_TIMEOUT');
  assert.ok(Date.now() - started < 5_000);
});
