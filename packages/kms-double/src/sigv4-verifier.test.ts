// The SigV4 verifier against @smithy/signature-v4 as an oracle: requests the
// SDK signs are accepted; each mutation is rejected with the exact error type.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { verifySigV4Request, type SigV4Credential, type SigV4Request, type SigV4VerifyOptions } from './sigv4-verifier.js';
import { signWithSmithy, type SignedRequestInput } from './test-support.js';

const NOW = new Date('2025-06-01T12:00:00.000Z');
const REGION = 'eu-central-1';
const LONG_TERM: SigV4Credential = { accessKeyId: 'AKIDEXAMPLELONGTERM', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const SESSION: SigV4Credential = { accessKeyId: 'ASIAEXAMPLESESSION', secretAccessKey: 'c2Vzc2lvbi1zZWNyZXQtZXhhbXBsZQ', sessionToken: 'FwoGZXIvYXdzEXAMPLE//token+with/slashes==' };
const BODY = JSON.stringify({ KeyId: 'arn:aws:kms:eu-central-1:111122223333:key/0f0e0d0c-0b0a-4908-8706-050403020100', KeySpec: 'AES_256' });
const HOST = 'kms.eu-central-1.amazonaws.com';

const options = (overrides: Partial<SigV4VerifyOptions> = {}): SigV4VerifyOptions => ({
  region: REGION,
  service: 'kms',
  now: NOW,
  findCredential: (id) => [LONG_TERM, SESSION].find((c) => c.accessKeyId === id),
  ...overrides,
});

async function signed(overrides: Partial<SignedRequestInput> = {}, path = '/', query = ''): Promise<SigV4Request & { headers: Record<string, string> }> {
  const input: SignedRequestInput = {
    credential: LONG_TERM,
    region: REGION,
    host: HOST,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.GenerateDataKey' },
    body: BODY,
    signingDate: NOW,
    ...overrides,
  };
  const headers = await signWithSmithy(input);
  return { method: 'POST', target: `${path}${query}`, rawHeaders: Object.entries(headers).flat(), body: Buffer.from(input.body), headers };
}

function withHeaders(request: SigV4Request, headers: Record<string, string>): SigV4Request {
  return { ...request, rawHeaders: Object.entries(headers).flat() };
}

function expectError(result: ReturnType<typeof verifySigV4Request>, errorType: string): void {
  assert.equal(result.ok, false, 'the verifier accepted a request it must refuse');
  if (!result.ok) assert.equal(result.errorType, errorType, result.message);
}

describe('SigV4 verifier vs @smithy/signature-v4', () => {
  it('accepts a request signed with long-term credentials', async () => {
    const result = verifySigV4Request(await signed(), options());
    assert.deepEqual(result, { ok: true, accessKeyId: LONG_TERM.accessKeyId });
  });

  it('accepts a request signed with session credentials (x-amz-security-token signed)', async () => {
    const request = await signed({ credential: SESSION });
    assert.equal(request.headers['x-amz-security-token'], SESSION.sessionToken);
    assert.deepEqual(verifySigV4Request(request, options()), { ok: true, accessKeyId: SESSION.accessKeyId });
  });

  it('accepts a request without x-amz-content-sha256 (applyChecksum false)', async () => {
    const request = await signed({ applyChecksum: false });
    assert.equal(request.headers['x-amz-content-sha256'], undefined);
    assert.equal(verifySigV4Request(request, options()).ok, true);
  });

  it('accepts an encoded path and a query string (canonical URI and query)', async () => {
    const request = await signed({ path: '/a%20b/c', query: { 'z key': 'v/1', a: 'x y' } }, '/a%20b/c', '?z%20key=v%2F1&a=x%20y');
    assert.equal(verifySigV4Request(request, options()).ok, true);
  });

  it('accepts dates up to 5 minutes off, refuses beyond', async () => {
    for (const offsetMs of [-299_000, 299_000]) {
      const request = await signed({ signingDate: new Date(NOW.getTime() + offsetMs) });
      assert.equal(verifySigV4Request(request, options()).ok, true, `offset ${offsetMs}`);
    }
    for (const offsetMs of [-301_000, 301_000]) {
      expectError(verifySigV4Request(await signed({ signingDate: new Date(NOW.getTime() + offsetMs) }), options()), 'InvalidSignatureException');
    }
  });

  it('refuses a changed body byte (with and without x-amz-content-sha256)', async () => {
    for (const applyChecksum of [true, false]) {
      const request = await signed({ applyChecksum });
      const body = Buffer.from(request.body);
      body[10] = (body[10] ?? 0) ^ 0x01;
      expectError(verifySigV4Request({ ...request, body }, options()), 'InvalidSignatureException');
    }
  });

  it('refuses a changed signed header, method or path', async () => {
    const request = await signed();
    expectError(verifySigV4Request(withHeaders(request, { ...request.headers, 'x-amz-target': 'TrentService.Decrypt' }), options()), 'InvalidSignatureException');
    expectError(verifySigV4Request(withHeaders(request, { ...request.headers, host: 'evil.example' }), options()), 'InvalidSignatureException');
    expectError(verifySigV4Request({ ...request, method: 'PUT' }, options()), 'InvalidSignatureException');
    expectError(verifySigV4Request({ ...request, target: '/x' }, options()), 'InvalidSignatureException');
  });

  it('refuses a signature made for another region or service', async () => {
    expectError(verifySigV4Request(await signed({ region: 'us-east-1' }), options()), 'InvalidSignatureException');
    expectError(verifySigV4Request(await signed({ service: 'sts' }), options()), 'InvalidSignatureException');
  });

  it('refuses a wrong secret', async () => {
    const request = await signed({ credential: { ...LONG_TERM, secretAccessKey: `${LONG_TERM.secretAccessKey}x` } });
    expectError(verifySigV4Request(request, options()), 'InvalidSignatureException');
  });

  it('refuses a session credential without its token, or with another token', async () => {
    const { sessionToken: _omitted, ...withoutToken } = SESSION;
    expectError(verifySigV4Request(await signed({ credential: withoutToken }), options()), 'UnrecognizedClientException');
    expectError(verifySigV4Request(await signed({ credential: { ...SESSION, sessionToken: 'other' } }), options()), 'UnrecognizedClientException');
    const request = await signed({ credential: SESSION });
    const { 'x-amz-security-token': _token, ...rest } = request.headers;
    expectError(verifySigV4Request(withHeaders(request, rest), options()), 'IncompleteSignatureException');
  });

  it('refuses an expired session token with ExpiredTokenException', async () => {
    const expired = { ...SESSION, expiresAt: new Date(NOW.getTime() - 1) };
    expectError(verifySigV4Request(await signed({ credential: SESSION }), options({ findCredential: () => expired })), 'ExpiredTokenException');
  });

  it('refuses an unknown access key with UnrecognizedClientException', async () => {
    expectError(verifySigV4Request(await signed({ credential: { ...LONG_TERM, accessKeyId: 'AKIDUNKNOWN' } }), options()), 'UnrecognizedClientException');
  });

  it('refuses a missing or malformed Authorization with IncompleteSignatureException', async () => {
    const request = await signed();
    const { authorization, ...rest } = request.headers;
    expectError(verifySigV4Request(withHeaders(request, rest), options()), 'IncompleteSignatureException');
    expectError(verifySigV4Request(withHeaders(request, { ...rest, authorization: 'AWS4-HMAC-SHA256 Credential=x' }), options()), 'IncompleteSignatureException');
    expectError(verifySigV4Request(withHeaders(request, { ...rest, authorization: (authorization ?? '').replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA512') }), options()), 'IncompleteSignatureException');
    const { 'x-amz-date': _date, ...noDate } = request.headers;
    expectError(verifySigV4Request(withHeaders(request, noDate), options()), 'IncompleteSignatureException');
  });
});
