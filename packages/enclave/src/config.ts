// Enclave configuration: one pure function from the environment to a frozen
// object. Every bad variable is reported at once, by name; an unknown value is
// an error, never a silent default. The master key is parsed here and kept as
// bytes; this object must never be logged.

import { parseTransportAddress, TransportAddressError, type TransportAddress } from '@http-enclave/protocol';
import { ATTESTATION_PROVIDER_SETTINGS, type AttestationProviderSetting } from './attest/attestation-provider.js';
import { parseMasterKeyBase64 } from './keys/master-key.js';
import type { LogLevel } from './log.js';

export type AuthMode = 'token' | 'none';
/** Where the master keys come from: `env` (ENCLAVE_KEY_BASE64, development) or `kms` (AWS KMS, attested). */
export type KeySourceSetting = 'env' | 'kms';
/** `production` refuses every development-only choice; `development` allows them and labels each. */
export type EnclaveMode = 'production' | 'development';

/** Settings of KEY_SOURCE=kms. */
export interface KmsSettings {
  /** The KMS key's full ARN, in `region`; passed on every call, and every answer must name it. */
  readonly keyId: string;
  readonly region: string;
  /** https://kms.REGION.amazonaws.com unless KMS_ENDPOINT overrides it (development only outside *.amazonaws.com). */
  readonly endpoint: URL;
  /** PEM CA bundle that replaces the public CAs for TLS to KMS (development only). */
  readonly caPath: string | undefined;
  /** The host's egress forwarder (HTTP CONNECT), the only way out of the enclave. */
  readonly egressAddress: TransportAddress;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
}

export interface EnclaveConfig {
  readonly useTls: boolean;
  readonly tlsCertPath: string;
  readonly tlsKeyPath: string;
  readonly allowTlsKeyFiles: boolean;
  readonly listen: TransportAddress;
  readonly storageAddress: TransportAddress;
  /** Where the enclave's log lines and metrics go (TELEMETRY_ADDR); undefined when off. */
  readonly telemetryAddress: TransportAddress | undefined;
  readonly enclaveMode: EnclaveMode;
  readonly keySource: KeySourceSetting;
  /** ENCLAVE_KEY_BASE64, with KEY_SOURCE=env only. */
  readonly masterKey: Buffer | undefined;
  /** With KEY_SOURCE=kms only. */
  readonly kms: KmsSettings | undefined;
  /** SHA-256 of the admin token (ADMIN_TOKEN_SHA256); undefined turns the /admin endpoints off. */
  readonly adminTokenSha256: Buffer | undefined;
  readonly keyringRefreshMs: number;
  /** Development-only choices in effect (empty in production mode), one label each, logged at start-up. */
  readonly developmentChoices: readonly string[];
  readonly authMode: AuthMode;
  readonly maxBodyBytes: number;
  readonly bodyMemoryBudgetBytes: number;
  readonly rollbackCacheEntries: number;
  readonly recordCreatesPerSecond: number;
  readonly maxConnections: number;
  readonly handshakeTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxHeaderBytes: number;
  readonly storageTimeoutMs: number;
  readonly storageMaxInFlight: number;
  readonly logLevel: LogLevel;
  readonly attestationProvider: AttestationProviderSetting;
  /** Both set or both undefined; only with attestationProvider 'dev'. */
  readonly attestationDevRootKeyPath: string | undefined;
  readonly attestationDevRootCertPath: string | undefined;
}

export class EnclaveConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('; '));
    this.name = 'EnclaveConfigError';
    this.problems = problems;
  }
}

/** Largest accepted MAX_BODY_BYTES: the storage channel carries sealed blobs up to 8 MiB of plaintext. */
export const MAX_BODY_BYTES_LIMIT = 8 * 1024 * 1024;

export interface EnvVariable {
  readonly name: string;
  readonly default: string;
  readonly description: string;
}

/** Every variable the enclave reads, with its default as documented (the README is checked against this). */
export const ENCLAVE_ENV_VARIABLES: readonly EnvVariable[] = [
  { name: 'ENCLAVE_MODE', default: 'development', description: '`production` (the Nitro image sets it) refuses, one start-up line each, KEY_SOURCE=env, ATTESTATION_PROVIDER=dev or none, USE_TLS=false, AUTH_MODE=none, KMS_CA_PATH and a KMS_ENDPOINT outside *.amazonaws.com. `development` allows them and labels each in its start-up log.' },
  { name: 'KEY_SOURCE', default: 'env', description: '`env`: the master key is ENCLAVE_KEY_BASE64 (development only: the operator can read it). `kms`: the master keyring is released by AWS KMS only to this attested enclave (README, "The master keys on Nitro").' },
  { name: 'ENCLAVE_KEY_BASE64', default: '(required with KEY_SOURCE=env)', description: 'Master key, standard base64 of exactly 32 bytes (`openssl rand -base64 32`). Only with KEY_SOURCE=env; refused with kms.' },
  { name: 'KMS_KEY_ID', default: '(required with KEY_SOURCE=kms)', description: 'The full ARN of the KMS key that wraps the keyring (arn:aws:kms:AWS_REGION:ACCOUNT:key/ID), in the region AWS_REGION. Never an alias or a bare key id: those resolve in the account of whoever signs the request, and the host supplies the credentials. Sent on every call; an answer for another key is refused.' },
  { name: 'AWS_REGION', default: 'us-east-1', description: 'Region of the KMS key; names the default endpoint https://kms.REGION.amazonaws.com.' },
  { name: 'KMS_ENDPOINT', default: '(unset)', description: 'Overrides the KMS endpoint (https://HOST[:PORT]). Outside *.amazonaws.com it is development only (the KMS double of the tests).' },
  { name: 'KMS_CA_PATH', default: '(unset)', description: 'PEM CA bundle trusted for TLS to KMS instead of the public CAs. Development only.' },
  { name: 'EGRESS_ADDR', default: 'tcp://127.0.0.1:5007', description: "The host's egress forwarder (HTTP CONNECT), through which TLS to KMS passes as ciphertext (Nitro image: vsock://3:5007)." },
  { name: 'KMS_TIMEOUT_MS', default: '10000', description: 'One KMS request (connect, TLS, answer) must finish within this time.' },
  { name: 'KMS_MAX_ATTEMPTS', default: '4', description: 'Attempts per KMS request on network errors, throttling and 5xx answers, with exponential backoff; refusals are never retried.' },
  { name: 'KEYRING_REFRESH_MS', default: '30000', description: 'With KEY_SOURCE=kms: how often the stored keyring is checked for a change by another enclave (then released again through KMS). Retiring a key waits two periods after the active key changed.' },
  { name: 'ADMIN_TOKEN_SHA256', default: '(unset)', description: 'Hex SHA-256 of the admin token that authorizes /admin/keys/* (key rotation, re-seal). Unset: those endpoints answer 404. Only the hash is in the image.' },
  { name: 'USE_TLS', default: 'true', description: '`false` serves plain HTTP (logged as a warning; for debugging only).' },
  { name: 'TLS_CERT_PATH', default: 'cert.pem', description: 'PEM certificate. With TLS_KEY_PATH: both present are used, neither present means a P-256 key and certificate generated in memory, one alone stops start-up.' },
  { name: 'TLS_KEY_PATH', default: 'key.pem', description: 'PEM private key matching TLS_CERT_PATH.' },
  { name: 'ALLOW_TLS_KEY_FILES', default: 'false', description: 'In production mode with ATTESTATION_PROVIDER=nsm a TLS key from files is refused: the files are in the image, so the operator can relay clients with the enclave\'s own key (clients that check the TLS session still catch it; browsers do not). `true` allows it, and the start-up log says so.' },
  { name: 'ENCLAVE_PORT', default: '5005', description: 'Port of the default ENCLAVE_LISTEN.' },
  { name: 'ENCLAVE_LISTEN', default: 'tcp://127.0.0.1:${ENCLAVE_PORT}', description: 'Address the HTTPS server listens on: tcp://HOST:PORT, unix:///PATH or vsock://any:PORT (Nitro image: vsock://any:5005).' },
  { name: 'TELEMETRY_ADDR', default: 'tcp://127.0.0.1:5008', description: "The host's telemetry listener: the enclave's log lines and metrics, lossy and bounded (it never blocks on the host); off sends nothing (Nitro image: vsock://3:5008)." },
  { name: 'STORAGE_ADDR', default: 'tcp://127.0.0.1:5006', description: "Address of the host's storage service (Nitro image: vsock://3:5006, the parent's CID)." },
  { name: 'AUTH_MODE', default: 'token', description: '`token`: each `Authorization: Bearer` token owns a private namespace. `none`: one shared anonymous namespace (logged as a warning).' },
  { name: 'MAX_BODY_BYTES', default: '1048576', description: `Largest request body; larger is refused with 413 before it is read. At most ${MAX_BODY_BYTES_LIMIT}.` },
  { name: 'BODY_MEMORY_BUDGET_BYTES', default: '268435456', description: 'Request bodies held in memory at once, across all connections (each upload reserves its Content-Length, or MAX_BODY_BYTES when chunked, until its answer is sent); an upload that does not fit gets 503 OVERLOADED. At least MAX_BODY_BYTES.' },
  { name: 'MAX_CONNECTIONS', default: '1000', description: 'Concurrent client connections; more are closed at accept.' },
  { name: 'HANDSHAKE_TIMEOUT_MS', default: '10000', description: 'TLS handshake must finish within this time.' },
  { name: 'HEADERS_TIMEOUT_MS', default: '10000', description: 'Request headers must arrive within this time.' },
  { name: 'REQUEST_TIMEOUT_MS', default: '30000', description: 'Whole request (headers and body) must arrive within this time.' },
  { name: 'KEEP_ALIVE_TIMEOUT_MS', default: '5000', description: 'Idle keep-alive connections are closed after this time.' },
  { name: 'MAX_HEADER_BYTES', default: '16384', description: 'Largest request head; larger gets 431.' },
  { name: 'STORAGE_TIMEOUT_MS', default: '5000', description: 'A storage request not answered within this time fails with 503 STORAGE_UNAVAILABLE.' },
  { name: 'STORAGE_MAX_IN_FLIGHT', default: '256', description: 'Storage requests in flight at once; more fail at once with 503 STORAGE_UNAVAILABLE.' },
  { name: 'ROLLBACK_CACHE_ENTRIES', default: '100000', description: 'Records whose last seen version (rollback detection) the enclave keeps in memory, about 150 bytes each. Beyond them a record is not forgotten: it moves to a sealed watermark page on the host whose version the enclave anchors, and a cold read of it costs one more storage read. 1000 to 10000000.' },
  { name: 'RECORD_CREATES_PER_SECOND', default: '100', description: 'New records one token (owner) may create per second, in bursts of ten seconds\' worth; past it 429 RECORD_CREATE_RATE_LIMITED with Retry-After. Rewrites and deletes are not counted. 1 to 1000000.' },
  { name: 'LOG_LEVEL', default: 'info', description: 'debug, info, warn or error.' },
  { name: 'ATTESTATION_PROVIDER', default: 'none', description: '`none`: `GET /attestation` answers 404. `dev`: documents signed by a local development CA, never trusted by default (logged as a warning with the dev root\'s SHA-256). `nsm`: the Nitro Secure Module (/dev/nsm, through the @http-enclave/vsock addon); without /dev/nsm or the addon, start-up stops with ATTESTATION_UNAVAILABLE.' },
  { name: 'ATTESTATION_DEV_ROOT_KEY_PATH', default: '(unset)', description: 'PEM P-384 private key of the dev root CA (only with `dev`). With ATTESTATION_DEV_ROOT_CERT_PATH: both set load the root from files, so a pinned dev root survives restarts; neither means one generated in memory; one alone stops start-up.' },
  { name: 'ATTESTATION_DEV_ROOT_CERT_PATH', default: '(unset)', description: "PEM self-signed CA certificate of that key; its subject must be a single CN (`openssl req -x509 -subj '/CN=…'`)." },
];

class ProblemList {
  readonly problems: string[] = [];
  add(name: string, problem: string): void {
    this.problems.push(`${name}: ${problem}`);
  }
}

function readInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number, problems: ProblemList): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[0-9]+$/.test(raw.trim())) {
    problems.add(name, 'must be a decimal integer');
    return fallback;
  }
  const value = Number(raw.trim());
  if (value < min || value > max) {
    problems.add(name, `must be between ${min} and ${max}`);
    return fallback;
  }
  return value;
}

function readChoice<T extends string>(env: NodeJS.ProcessEnv, name: string, fallback: T, choices: readonly T[], problems: ProblemList): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = raw.trim().toLowerCase();
  if ((choices as readonly string[]).includes(value)) return value as T;
  problems.add(name, `must be one of ${choices.join(', ')}`);
  return fallback;
}

function readAddress(env: NodeJS.ProcessEnv, name: string, fallback: string, problems: ProblemList): TransportAddress {
  const raw = env[name];
  try {
    return parseTransportAddress(raw === undefined || raw === '' ? fallback : raw);
  } catch (error) {
    if (!(error instanceof TransportAddressError)) throw error;
    problems.add(name, error.message);
    return { scheme: 'tcp', host: '127.0.0.1', port: 0 };
  }
}

const HOUR_MS = 3_600_000;

function readOptionalPath(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

/** AWS region names: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ap-southeast-5 … */
const AWS_REGION_PATTERN = /^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$/;
/**
 * A full key ARN only: arn:PARTITION:kms:REGION:ACCOUNT(12 digits):key/ID (a
 * UUID, or mrk- and 32 hex digits for a multi-Region key). An alias or a bare
 * key id is resolved by KMS in the account of the credentials that sign the
 * request; the host hands those over, so it could point an alias at a key
 * of its own whose policy releases plaintext. A key ARN names the account.
 */
const KMS_KEY_ARN_PATTERN = /^arn:(aws|aws-cn|aws-us-gov):kms:([a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}):([0-9]{12}):key\/((?:mrk-)?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;
const SHA256_HEX = /^[0-9a-f]{64}$/i;

/** The public KMS endpoint of a region (China regions use amazonaws.com.cn). */
export function defaultKmsEndpoint(region: string): URL {
  return new URL(`https://kms.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`);
}

/** True for the hosts AWS serves KMS on; anything else is a development override. */
export function isAwsKmsHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host.endsWith('.amazonaws.com') || host.endsWith('.amazonaws.com.cn');
}

function readKmsEndpoint(env: NodeJS.ProcessEnv, region: string, problems: ProblemList): URL {
  const raw = env['KMS_ENDPOINT'];
  if (raw === undefined || raw === '') return defaultKmsEndpoint(region);
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    problems.add('KMS_ENDPOINT', 'must be a URL of the form https://HOST[:PORT]');
    return defaultKmsEndpoint(region);
  }
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    problems.add('KMS_ENDPOINT', 'must be a URL of the form https://HOST[:PORT] (https, no path, query or credentials)');
  }
  return url;
}

function readKmsSettings(env: NodeJS.ProcessEnv, problems: ProblemList): KmsSettings {
  const rawRegion = (env['AWS_REGION'] ?? '').trim();
  const region = rawRegion === '' ? 'us-east-1' : rawRegion;
  if (!AWS_REGION_PATTERN.test(region)) problems.add('AWS_REGION', 'must be an AWS region name such as us-east-1');
  const keyId = (env['KMS_KEY_ID'] ?? '').trim();
  if (keyId === '') problems.add('KMS_KEY_ID', 'must be set with KEY_SOURCE=kms (the ARN of the KMS key that wraps the keyring)');
  else {
    const arn = KMS_KEY_ARN_PATTERN.exec(keyId);
    if (arn === null) problems.add('KMS_KEY_ID', 'must be the full key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); an alias or a bare key id resolves in the account of the credentials, which the host supplies');
    else if (arn[2] !== region) problems.add('KMS_KEY_ID', `the key ARN is in region ${arn[2] ?? '?'}, but AWS_REGION is ${region}`);
  }
  return {
    keyId,
    region,
    endpoint: readKmsEndpoint(env, region, problems),
    caPath: readOptionalPath(env, 'KMS_CA_PATH'),
    egressAddress: readAddress(env, 'EGRESS_ADDR', 'tcp://127.0.0.1:5007', problems),
    timeoutMs: readInteger(env, 'KMS_TIMEOUT_MS', 10_000, 100, 600_000, problems),
    maxAttempts: readInteger(env, 'KMS_MAX_ATTEMPTS', 4, 1, 10, problems),
  };
}

/** Ends every problem that is a development choice refused in production mode (main.ts prints each on its own line). */
export const PRODUCTION_REFUSAL_SUFFIX = ': refused in production mode (ENCLAVE_MODE=production)';

/** Variables that only KEY_SOURCE=kms reads: set with `env`, they are a mistake worth a line. */
const KMS_ONLY_VARIABLES = ['KMS_KEY_ID', 'KMS_ENDPOINT', 'KMS_CA_PATH', 'KMS_TIMEOUT_MS', 'KMS_MAX_ATTEMPTS'] as const;

function readAdminTokenHash(env: NodeJS.ProcessEnv, problems: ProblemList): Buffer | undefined {
  const raw = (env['ADMIN_TOKEN_SHA256'] ?? '').trim();
  if (raw === '') return undefined;
  if (!SHA256_HEX.test(raw)) {
    problems.add('ADMIN_TOKEN_SHA256', 'must be 64 hex digits (the SHA-256 of the admin token: printf %s "$TOKEN" | sha256sum)');
    return undefined;
  }
  return Buffer.from(raw, 'hex');
}

export function loadEnclaveConfig(env: NodeJS.ProcessEnv): EnclaveConfig {
  const problems = new ProblemList();
  const useTls = readChoice(env, 'USE_TLS', 'true', ['true', 'false'], problems) === 'true';
  const port = readInteger(env, 'ENCLAVE_PORT', 5005, 0, 65535, problems);
  const listen = readAddress(env, 'ENCLAVE_LISTEN', `tcp://127.0.0.1:${port}`, problems);
  const storageAddress = readAddress(env, 'STORAGE_ADDR', 'tcp://127.0.0.1:5006', problems);
  const telemetryAddress = (env['TELEMETRY_ADDR'] ?? '').trim() === 'off' ? undefined : readAddress(env, 'TELEMETRY_ADDR', 'tcp://127.0.0.1:5008', problems);
  const enclaveMode = readChoice<EnclaveMode>(env, 'ENCLAVE_MODE', 'development', ['production', 'development'], problems);
  const keySource = readChoice<KeySourceSetting>(env, 'KEY_SOURCE', 'env', ['env', 'kms'], problems);
  let masterKey: Buffer | undefined;
  let kms: KmsSettings | undefined;
  if (keySource === 'env') {
    try {
      masterKey = parseMasterKeyBase64(env['ENCLAVE_KEY_BASE64']);
    } catch (error) {
      problems.problems.push(error instanceof Error ? error.message : 'ENCLAVE_KEY_BASE64: invalid');
    }
    for (const name of KMS_ONLY_VARIABLES) {
      if ((env[name] ?? '') !== '') problems.add(name, 'only used with KEY_SOURCE=kms');
    }
  } else {
    // A key in the environment next to KMS would be a second, unprotected key source: refuse it, never pick one silently.
    if (env['ENCLAVE_KEY_BASE64'] !== undefined) problems.add('ENCLAVE_KEY_BASE64', 'must not be set with KEY_SOURCE=kms (the keyring comes from KMS only)');
    kms = readKmsSettings(env, problems);
  }
  const adminTokenSha256 = readAdminTokenHash(env, problems);
  const keyringRefreshMs = readInteger(env, 'KEYRING_REFRESH_MS', 30_000, 1_000, HOUR_MS, problems);
  const config: Omit<EnclaveConfig, 'developmentChoices'> = {
    useTls,
    enclaveMode,
    keySource,
    kms,
    adminTokenSha256,
    keyringRefreshMs,
    tlsCertPath: env['TLS_CERT_PATH'] !== undefined && env['TLS_CERT_PATH'] !== '' ? env['TLS_CERT_PATH'] : 'cert.pem',
    tlsKeyPath: env['TLS_KEY_PATH'] !== undefined && env['TLS_KEY_PATH'] !== '' ? env['TLS_KEY_PATH'] : 'key.pem',
    allowTlsKeyFiles: readChoice(env, 'ALLOW_TLS_KEY_FILES', 'false', ['true', 'false'], problems) === 'true',
    listen,
    storageAddress,
    telemetryAddress,
    masterKey,
    authMode: readChoice(env, 'AUTH_MODE', 'token', ['token', 'none'], problems),
    maxBodyBytes: readInteger(env, 'MAX_BODY_BYTES', 1024 * 1024, 1, MAX_BODY_BYTES_LIMIT, problems),
    bodyMemoryBudgetBytes: readInteger(env, 'BODY_MEMORY_BUDGET_BYTES', 256 * 1024 * 1024, 1, 64 * 1024 * 1024 * 1024, problems),
    rollbackCacheEntries: readInteger(env, 'ROLLBACK_CACHE_ENTRIES', 100_000, 1_000, 10_000_000, problems),
    recordCreatesPerSecond: readInteger(env, 'RECORD_CREATES_PER_SECOND', 100, 1, 1_000_000, problems),
    maxConnections: readInteger(env, 'MAX_CONNECTIONS', 1000, 1, 1_000_000, problems),
    handshakeTimeoutMs: readInteger(env, 'HANDSHAKE_TIMEOUT_MS', 10_000, 100, HOUR_MS, problems),
    headersTimeoutMs: readInteger(env, 'HEADERS_TIMEOUT_MS', 10_000, 100, HOUR_MS, problems),
    requestTimeoutMs: readInteger(env, 'REQUEST_TIMEOUT_MS', 30_000, 100, HOUR_MS, problems),
    keepAliveTimeoutMs: readInteger(env, 'KEEP_ALIVE_TIMEOUT_MS', 5_000, 100, HOUR_MS, problems),
    maxHeaderBytes: readInteger(env, 'MAX_HEADER_BYTES', 16_384, 1024, 1024 * 1024, problems),
    storageTimeoutMs: readInteger(env, 'STORAGE_TIMEOUT_MS', 5_000, 10, HOUR_MS, problems),
    storageMaxInFlight: readInteger(env, 'STORAGE_MAX_IN_FLIGHT', 256, 1, 65_536, problems),
    logLevel: readChoice(env, 'LOG_LEVEL', 'info', ['debug', 'info', 'warn', 'error'], problems),
    attestationProvider: readChoice(env, 'ATTESTATION_PROVIDER', 'none', ATTESTATION_PROVIDER_SETTINGS, problems),
    attestationDevRootKeyPath: readOptionalPath(env, 'ATTESTATION_DEV_ROOT_KEY_PATH'),
    attestationDevRootCertPath: readOptionalPath(env, 'ATTESTATION_DEV_ROOT_CERT_PATH'),
  };
  if (keySource === 'kms' && config.attestationProvider === 'none') {
    problems.add('ATTESTATION_PROVIDER', 'must be nsm (or dev in development) with KEY_SOURCE=kms: KMS releases keys only against an attestation document');
  }
  const developmentChoices = listDevelopmentChoices(config);
  if (enclaveMode === 'production') {
    for (const choice of developmentChoices) problems.add(choice.variable, `${choice.label}${PRODUCTION_REFUSAL_SUFFIX}`);
  }
  if (config.bodyMemoryBudgetBytes < config.maxBodyBytes) {
    problems.add('BODY_MEMORY_BUDGET_BYTES', 'must be at least MAX_BODY_BYTES (or no upload of the largest size could ever be accepted)');
  }
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    problems.add('HEADERS_TIMEOUT_MS', 'must not be larger than REQUEST_TIMEOUT_MS');
  }
  const devRootPaths = [
    ['ATTESTATION_DEV_ROOT_KEY_PATH', config.attestationDevRootKeyPath],
    ['ATTESTATION_DEV_ROOT_CERT_PATH', config.attestationDevRootCertPath],
  ] as const;
  for (const [name, value] of devRootPaths) {
    if (value === undefined) continue;
    if (config.attestationProvider !== 'dev') problems.add(name, 'only used with ATTESTATION_PROVIDER=dev');
    const other = devRootPaths.find(([otherName]) => otherName !== name);
    if (other !== undefined && other[1] === undefined) problems.add(other[0], `must be set too when ${name} is set (both or neither)`);
  }
  if (problems.problems.length > 0) throw new EnclaveConfigError(problems.problems);
  return Object.freeze({ ...config, developmentChoices: enclaveMode === 'production' ? [] : developmentChoices.map((c) => `${c.variable}: ${c.label}`) });
}

interface DevelopmentChoice {
  readonly variable: string;
  readonly label: string;
}

/**
 * Every setting that gives the host operator (or a local CA) a way in. In
 * production each one stops start-up; in development each is logged.
 */
function listDevelopmentChoices(config: Omit<EnclaveConfig, 'developmentChoices'>): DevelopmentChoice[] {
  const choices: DevelopmentChoice[] = [];
  if (config.keySource === 'env') choices.push({ variable: 'KEY_SOURCE', label: 'env (the master key is in the environment, which the operator sets and can read)' });
  if (config.attestationProvider === 'dev') choices.push({ variable: 'ATTESTATION_PROVIDER', label: 'dev (documents signed by a local CA, not AWS)' });
  if (config.attestationProvider === 'none') choices.push({ variable: 'ATTESTATION_PROVIDER', label: 'none (clients cannot verify this enclave)' });
  if (!config.useTls) choices.push({ variable: 'USE_TLS', label: 'false (plain HTTP, readable by the host)' });
  if (config.authMode === 'none') choices.push({ variable: 'AUTH_MODE', label: 'none (every caller shares one namespace)' });
  if (config.kms?.caPath !== undefined) choices.push({ variable: 'KMS_CA_PATH', label: 'set (TLS to KMS trusts a custom CA)' });
  if (config.kms !== undefined && !isAwsKmsHost(config.kms.endpoint.hostname)) {
    choices.push({ variable: 'KMS_ENDPOINT', label: `${config.kms.endpoint.host} (not an AWS KMS endpoint)` });
  }
  return choices;
}
