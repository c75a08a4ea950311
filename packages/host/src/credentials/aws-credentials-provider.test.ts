// Tests of the AWS credentials provider: the env source, and the IMDSv2
// source against an IMDS double written here (a real node:http server on
// 127.0.0.1 that insists on the session token, like IMDSv2 does), with the
// clock pinned for the refresh decisions. Every test also checks that no
// secret or token reached a log line or an error message.

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, test } from 'node:test';
import { collectingLogger, freePort } from '../test-support.js';
import {
  createAwsCredentialsProvider,
  encodeCredentialsDocument,
  MIN_REMAINING_TO_SERVE_MS,
  REFRESH_BEFORE_EXPIRY_MS,
  type AwsCredentialsProviderOptions,
  type AwsCredentialsSource,
} from './aws-credentials-provider.js';
import { IMDS_TOKEN_TTL_SECONDS } from './imds-client.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const HOUR_MS = 3_600_000;
const ACCESS_KEY_ID = 'ASIAEXAMPLEKEYID0001';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY1';
const TOKEN = 'IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN+/=';
/** Substrings that must never appear in a log line or an error message. */
const SECRETS = [SECRET, TOKEN, 'SECRETKEY', 'SESSIONTOKEN', 'imds-token-'];

/** Short IMDS timings so that the failure tests take well under a second each. */
const FAST_IMDS = { requestTimeoutMs: 200, maxAttempts: 3, backoffBaseMs: 20, fetchDeadlineMs: 2_000 } as const;

type Mode =
  | 'ok'
  | 'status-503'
  | 'hang'
  | 'oversize-announced'
  | 'oversize-chunked'
  | 'garbage'
  | 'code-failure'
  | 'two-roles'
  | 'bad-role-name'
  | 'no-role'
  | 'bad-key-id'
  | 'expired'
  | 'no-token-field';

/** An IMDSv2 double: PUT /latest/api/token (TTL header required), then GETs that require the token. */
class ImdsDouble {
  readonly server: Server;
  mode: Mode = 'ok';
  /** Which credentials the next document carries (bumped by tests to see a refresh). */
  generation = 1;
  expiration = new Date(T0 + HOUR_MS).toISOString();
  readonly requests: string[] = [];
  readonly #tokens = new Set<string>();
  readonly #hanging = new Set<ServerResponse>();
  port = 0;

  constructor() {
    this.server = createServer((req, res) => this.#handle(req, res));
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  count(prefix: string): number {
    return this.requests.filter((r) => r.startsWith(prefix)).length;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push(`${req.method} ${req.url}`);
    if (this.mode === 'status-503') return void res.writeHead(503).end();
    if (this.mode === 'hang') return void this.#hanging.add(res);
    if (req.url === '/latest/api/token') {
      if (req.method !== 'PUT') return void res.writeHead(405).end();
      if (req.headers['x-aws-ec2-metadata-token-ttl-seconds'] !== String(IMDS_TOKEN_TTL_SECONDS)) return void res.writeHead(400).end();
      const token = `imds-token-${this.#tokens.size}-AQAEAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx==`;
      this.#tokens.add(token);
      return void res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
    }
    // IMDSv2 only: every GET needs a token this double issued.
    const token = req.headers['x-aws-ec2-metadata-token'];
    if (req.method !== 'GET' || typeof token !== 'string' || !this.#tokens.has(token)) return void res.writeHead(401).end();
    if (req.url === '/latest/meta-data/iam/security-credentials/') {
      if (this.mode === 'no-role') return void res.writeHead(404).end();
      if (this.mode === 'two-roles') return void res.writeHead(200).end('role-a\nrole-b\n');
      if (this.mode === 'bad-role-name') return void res.writeHead(200).end('../../user-data');
      return void res.writeHead(200).end('enclave-role');
    }
    if (req.url === '/latest/meta-data/iam/security-credentials/enclave-role') {
      if (this.mode === 'garbage') return void res.writeHead(200).end('<html>not json</html>');
      if (this.mode === 'oversize-announced') return void res.writeHead(200, { 'content-length': String(1024 * 1024) }).end();
      if (this.mode === 'oversize-chunked') {
        res.writeHead(200); // no content-length: chunked, the size only shows as it arrives
        for (let i = 0; i < 64; i += 1) res.write(Buffer.alloc(1024, 0x20));
        return void res.end();
      }
      const document: Record<string, unknown> = {
        Code: this.mode === 'code-failure' ? 'Failure' : 'Success',
        LastUpdated: new Date(T0).toISOString(),
        Type: 'AWS-HMAC',
        AccessKeyId: this.mode === 'bad-key-id' ? 'not-a-key-id' : `${ACCESS_KEY_ID.slice(0, -1)}${this.generation}`,
        SecretAccessKey: `${SECRET.slice(0, -1)}${this.generation}`,
        Token: `${TOKEN}${this.generation}`,
        Expiration: this.mode === 'expired' ? new Date(T0 - 1_000).toISOString() : this.expiration,
      };
      if (this.mode === 'no-token-field') delete document['Token'];
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document, null, 2));
    }
    res.writeHead(404).end();
  }
}

const doubles = new Set<ImdsDouble>();
after(async () => {
  for (const d of doubles) await d.stop();
});

async function startDouble(): Promise<ImdsDouble> {
  const d = await new ImdsDouble().start();
  doubles.add(d);
  return d;
}

function provider(
  source: AwsCredentialsSource,
  overrides: Partial<AwsCredentialsProviderOptions> = {},
): { credentials: ReturnType<typeof createAwsCredentialsProvider>; lines: Array<Record<string, unknown>>; clock: { now: number } } {
  const { logger, lines } = collectingLogger();
  const clock = { now: T0 };
  const credentials = createAwsCredentialsProvider({
    source,
    imdsEndpoint: 'http://127.0.0.1:1',
    env: {},
    logger,
    now: () => clock.now,
    imds: FAST_IMDS,
    ...overrides,
  });
  return { credentials, lines, clock };
}

/** Rejects with exactly `code`, and its message holds no secret. */
async function rejectsWithCode(promise: Promise<unknown>, code: string, messageFragment?: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.equal((error as { code?: unknown }).code, code, `got ${String(error)}`);
    const message = error instanceof Error ? error.message : '';
    for (const secret of SECRETS) assert.ok(!message.includes(secret), `error message leaks ${secret.slice(0, 4)}…`);
    if (messageFragment !== undefined) assert.ok(message.includes(messageFragment), `message "${message}" lacks "${messageFragment}"`);
    return true;
  });
}

function assertNoSecretsLogged(lines: ReadonlyArray<Record<string, unknown>>): void {
  const text = JSON.stringify(lines);
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `a log line leaks ${secret.slice(0, 4)}…`);
}

test('env source: the standard variables, a document with only the fields given, and nothing secret in the log', async () => {
  const env = { AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET, AWS_SESSION_TOKEN: TOKEN };
  const { credentials, lines } = provider('env', { env });
  assert.equal(credentials.source, 'env');
  assert.deepEqual(await credentials.getCredentials(), { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET, sessionToken: TOKEN, expiration: undefined });
  assert.deepEqual(JSON.parse((await credentials.credentialsDocument()).toString('utf8')), {
    accessKeyId: ACCESS_KEY_ID,
    secretAccessKey: SECRET,
    sessionToken: TOKEN,
  });
  const obtained = lines.filter((l) => l['msg'] === 'aws credentials obtained');
  assert.equal(obtained.length, 1, 'env credentials are read once');
  assert.equal(obtained[0]?.['source'], 'env');
  assert.equal(obtained[0]?.['role'], false);
  assertNoSecretsLogged(lines);

  const withoutToken = provider('env', { env: { AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET } }).credentials;
  assert.deepEqual(JSON.parse((await withoutToken.credentialsDocument()).toString('utf8')), { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET });
});

test('env source: missing or malformed variables are named, with lengths and never values', async () => {
  await rejectsWithCode(provider('env').credentials.getCredentials(), 'AWS_CREDENTIALS_NOT_CONFIGURED', 'AWS_ACCESS_KEY_ID is not set');
  await rejectsWithCode(
    provider('env', { env: { AWS_ACCESS_KEY_ID: ACCESS_KEY_ID } }).credentials.getCredentials(),
    'AWS_CREDENTIALS_INVALID',
    'AWS_SECRET_ACCESS_KEY is not set',
  );
  await rejectsWithCode(
    provider('env', { env: { AWS_ACCESS_KEY_ID: 'asia-lowercase-SECRETKEY', AWS_SECRET_ACCESS_KEY: SECRET } }).credentials.getCredentials(),
    'AWS_CREDENTIALS_INVALID',
    'AWS_ACCESS_KEY_ID must be 16..128 characters of [A-Z0-9], got 24 characters',
  );
  await rejectsWithCode(
    provider('env', { env: { AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: `${SECRET} ` } }).credentials.getCredentials(),
    'AWS_CREDENTIALS_INVALID',
    'AWS_SECRET_ACCESS_KEY must be 1..128 visible ASCII characters, got 41 characters',
  );
  await rejectsWithCode(
    provider('env', { env: { AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET, AWS_SESSION_TOKEN: 'x'.repeat(4_097) } }).credentials.getCredentials(),
    'AWS_CREDENTIALS_INVALID',
    'AWS_SESSION_TOKEN must be 1..4096 visible ASCII characters, got 4097 characters',
  );
});

test('none answers AWS_CREDENTIALS_NOT_CONFIGURED; auto picks env when AWS_ACCESS_KEY_ID is set, else imds', async () => {
  const none = provider('none', { env: { AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET } }).credentials;
  assert.equal(none.source, 'none');
  await rejectsWithCode(none.credentialsDocument(), 'AWS_CREDENTIALS_NOT_CONFIGURED');
  assert.equal(provider('auto', { env: { AWS_ACCESS_KEY_ID: ACCESS_KEY_ID } }).credentials.source, 'env');
  assert.equal(provider('auto', { env: { AWS_SECRET_ACCESS_KEY: SECRET } }).credentials.source, 'imds');
});

test('imds source: token first (TTL header), role, credentials; cached; refreshed once under 5 minutes left; concurrent requests share a fetch', async () => {
  const imds = await startDouble();
  const { credentials, lines, clock } = provider('imds', { imdsEndpoint: imds.endpoint });
  assert.equal(credentials.source, 'imds');
  const first = await credentials.getCredentials();
  assert.deepEqual(imds.requests, [
    'PUT /latest/api/token',
    'GET /latest/meta-data/iam/security-credentials/',
    'GET /latest/meta-data/iam/security-credentials/enclave-role',
  ]);
  assert.equal(first.accessKeyId, 'ASIAEXAMPLEKEYID0001');
  assert.equal(first.secretAccessKey, `${SECRET.slice(0, -1)}1`);
  assert.equal(first.sessionToken, `${TOKEN}1`);
  assert.deepEqual(first.expiration, new Date(T0 + HOUR_MS));
  assert.deepEqual(JSON.parse((await credentials.credentialsDocument()).toString('utf8')), {
    accessKeyId: first.accessKeyId,
    secretAccessKey: first.secretAccessKey,
    sessionToken: first.sessionToken,
    expiration: '2030-01-01T01:00:00.000Z',
  });

  // 54 minutes later: 6 minutes left, still cached.
  clock.now = T0 + HOUR_MS - REFRESH_BEFORE_EXPIRY_MS - 60_000;
  imds.generation = 2;
  imds.expiration = new Date(T0 + 2 * HOUR_MS).toISOString();
  assert.equal((await credentials.getCredentials()).accessKeyId, first.accessKeyId);
  assert.equal(imds.count('PUT'), 1);

  // 56 minutes: 4 minutes left; three concurrent requests, one new fetch with a new token.
  clock.now = T0 + HOUR_MS - REFRESH_BEFORE_EXPIRY_MS + 60_000;
  const refreshed = await Promise.all([credentials.getCredentials(), credentials.getCredentials(), credentials.getCredentials()]);
  for (const c of refreshed) assert.equal(c.accessKeyId, 'ASIAEXAMPLEKEYID0002');
  assert.equal(imds.count('PUT'), 2);
  assert.equal(imds.count('GET /latest/meta-data/iam/security-credentials/enclave-role'), 2);

  const obtained = lines.filter((l) => l['msg'] === 'aws credentials obtained');
  assert.deepEqual(
    obtained.map((l) => [l['source'], l['role'], l['expiration']]),
    [
      ['imds', true, '2030-01-01T01:00:00.000Z'],
      ['imds', true, '2030-01-01T02:00:00.000Z'],
    ],
  );
  assertNoSecretsLogged(lines);
});

test('a failed refresh serves the cached credentials while more than a minute is left, then fails', async () => {
  const imds = await startDouble();
  const { credentials, lines, clock } = provider('imds', { imdsEndpoint: imds.endpoint });
  const first = await credentials.getCredentials();
  imds.mode = 'status-503';
  clock.now = T0 + HOUR_MS - MIN_REMAINING_TO_SERVE_MS - 1_000;
  assert.equal((await credentials.getCredentials()).accessKeyId, first.accessKeyId);
  const warning = lines.find((l) => l['msg'] === 'aws credentials refresh failed; serving the cached ones');
  assert.equal(warning?.['code'], 'IMDS_UNAVAILABLE');
  clock.now = T0 + HOUR_MS - MIN_REMAINING_TO_SERVE_MS + 1_000;
  await rejectsWithCode(credentials.getCredentials(), 'IMDS_UNAVAILABLE');
  assertNoSecretsLogged(lines);
});

test('IMDS down: bounded retries with backoff, then IMDS_UNAVAILABLE naming the last cause', async () => {
  // Nobody listening.
  const refused = provider('imds', { imdsEndpoint: `http://127.0.0.1:${await freePort()}` }).credentials;
  await rejectsWithCode(refused.getCredentials(), 'IMDS_UNAVAILABLE', 'within 3 attempts (last: ECONNREFUSED)');

  // Answering 503: exactly maxAttempts token requests, with the backoff between them.
  const failing = await startDouble();
  failing.mode = 'status-503';
  const started = Date.now();
  await rejectsWithCode(provider('imds', { imdsEndpoint: failing.endpoint }).credentials.getCredentials(), 'IMDS_UNAVAILABLE', 'last: HTTP_503');
  assert.equal(failing.count('PUT /latest/api/token'), FAST_IMDS.maxAttempts);
  assert.ok(Date.now() - started >= FAST_IMDS.backoffBaseMs * 3, 'backed off 20 + 40 ms');

  // Accepting and never answering: each request times out; the whole fetch is bounded.
  const silent = await startDouble();
  silent.mode = 'hang';
  const hangStarted = Date.now();
  await rejectsWithCode(provider('imds', { imdsEndpoint: silent.endpoint }).credentials.getCredentials(), 'IMDS_UNAVAILABLE', 'last: TIMEOUT');
  const elapsed = Date.now() - hangStarted;
  assert.equal(silent.count('PUT'), FAST_IMDS.maxAttempts);
  assert.ok(elapsed >= 3 * FAST_IMDS.requestTimeoutMs && elapsed < FAST_IMDS.fetchDeadlineMs + 500, `took ${elapsed} ms`);

  // The overall deadline wins over the attempts: one 200 ms attempt fits in 250 ms, not three.
  silent.requests.length = 0;
  const bounded = provider('imds', { imdsEndpoint: silent.endpoint, imds: { ...FAST_IMDS, fetchDeadlineMs: 250 } }).credentials;
  const boundedStarted = Date.now();
  await rejectsWithCode(bounded.getCredentials(), 'IMDS_UNAVAILABLE');
  assert.ok(Date.now() - boundedStarted < 600);
  assert.ok(silent.count('PUT') <= 2);
});

test('oversize, garbage or undocumented IMDS answers are refused at once (no retry) with the exact code', async () => {
  const imds = await startDouble();
  const cases: Array<[Mode, string, string]> = [
    ['oversize-announced', 'IMDS_BAD_RESPONSE', 'announces 1048576 bytes, above 16384'],
    ['oversize-chunked', 'IMDS_BAD_RESPONSE', 'credentials answer is above 16384 bytes'],
    ['garbage', 'IMDS_BAD_RESPONSE', 'IMDS credentials are not JSON (21 bytes)'],
    ['code-failure', 'IMDS_BAD_RESPONSE', 'Code is not "Success"'],
    ['two-roles', 'IMDS_BAD_RESPONSE', 'exactly one role, got 2 lines'],
    ['bad-role-name', 'IMDS_BAD_RESPONSE', 'not an IAM role name (15 characters)'],
    ['no-role', 'IMDS_BAD_RESPONSE', 'IMDS role request answered HTTP 404'],
    ['bad-key-id', 'AWS_CREDENTIALS_INVALID', 'IMDS AccessKeyId must be 16..128 characters of [A-Z0-9], got 12 characters'],
    ['expired', 'AWS_CREDENTIALS_INVALID', 'IMDS Expiration is in the past'],
    ['no-token-field', 'AWS_CREDENTIALS_INVALID', 'IMDS Token is missing'],
  ];
  for (const [mode, code, fragment] of cases) {
    imds.mode = mode;
    imds.requests.length = 0;
    const { credentials, lines } = provider('imds', { imdsEndpoint: imds.endpoint });
    await rejectsWithCode(credentials.getCredentials(), code, fragment);
    assert.equal(imds.count('PUT'), 1, `${mode}: not retried`);
    assertNoSecretsLogged(lines);
  }
});

test('the document encoder leaves out absent fields and writes the expiry in ISO-8601', () => {
  assert.equal(
    encodeCredentialsDocument({ accessKeyId: ACCESS_KEY_ID, secretAccessKey: 'x', sessionToken: undefined, expiration: new Date(T0) }).toString('utf8'),
    `{"accessKeyId":"${ACCESS_KEY_ID}","secretAccessKey":"x","expiration":"2030-01-01T00:00:00.000Z"}`,
  );
});
