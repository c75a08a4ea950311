// Enclave configuration: the schema (every variable declared once: default,
// parser with its bounds, meaning; the README table and env.example are
// generated from it by `npm run docs:config`) and one pure function from the
// environment to a frozen object. Every bad variable is reported at once, as
// `NAME: problem` (ConfigInvalidError); values are taken exactly as written,
// an empty value is an error, and an unknown name with the enclave's own
// prefixes is a typo (packages/program, config-reader.ts). The master key is
// parsed here and kept as bytes; this object must never be logged, and no
// problem ever repeats the key.

import { parseTransportAddress, TransportAddressError, type TransportAddress } from '@http-enclave/protocol';
import {
  boolean,
  ConfigProblems,
  ConfigReader,
  defineSchema,
  documentedDefault,
  fromThrowing,
  integer,
  ConfigInvalidError,
  matching,
  offOr,
  oneOf,
  schemaVariables,
  text,
  type EnvironmentRules,
  type ParseResult,
  type ValueParser,
} from '@http-enclave/program';
import { ATTESTATION_PROVIDER_SETTINGS, type AttestationProviderSetting } from './attest/attestation-provider.js';
import { MASTER_KEY_VARIABLE, parseMasterKeyBase64 } from './keys/master-key.js';
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

/** Largest accepted MAX_BODY_BYTES: the storage channel carries sealed blobs up to 8 MiB of plaintext. */
export const MAX_BODY_BYTES_LIMIT = 8 * 1024 * 1024;

const HOUR_MS = 3_600_000;

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

const address: ValueParser<TransportAddress> = fromThrowing((value) => parseTransportAddress(value), TransportAddressError);

/** ENCLAVE_KEY_BASE64 through keys/master-key.ts; its problems give lengths only, never the key. */
function parseMasterKey(value: string | undefined): ParseResult<Buffer> {
  try {
    return { ok: true, value: parseMasterKeyBase64(value) };
  } catch (error) {
    if (!(error instanceof ConfigInvalidError)) throw error;
    return { ok: false, problem: error.problems.map((p) => p.problem).join('; ') };
  }
}

const kmsEndpoint: ValueParser<URL> = (value) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, problem: 'must be a URL of the form https://HOST[:PORT]' };
  }
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    return { ok: false, problem: 'must be a URL of the form https://HOST[:PORT] (https, no path, query or credentials)' };
  }
  return { ok: true, value: url };
};

/** Every variable the enclave reads, in the order of the README table and env.example. */
export const ENCLAVE_CONFIG_SCHEMA = defineSchema({
  ENCLAVE_MODE: {
    default: 'development',
    parse: oneOf<EnclaveMode>(['production', 'development']),
    meaning: '`production` (the Nitro image sets it) refuses, one start-up line each, KEY_SOURCE=env, ATTESTATION_PROVIDER=dev or none, USE_TLS=false, AUTH_MODE=none, KMS_CA_PATH and a KMS_ENDPOINT outside *.amazonaws.com. `development` allows them and labels each in its start-up log.',
  },
  KEY_SOURCE: {
    default: 'env',
    parse: oneOf<KeySourceSetting>(['env', 'kms']),
    meaning: '`env`: the master key is ENCLAVE_KEY_BASE64 (development only: the operator can read it). `kms`: the master keyring is released by AWS KMS only to this attested enclave (README, "The master keys on Nitro").',
  },
  ENCLAVE_KEY_BASE64: {
    shownDefault: '(required with KEY_SOURCE=env)',
    parse: parseMasterKey,
    exampleActive: true,
    meaning: 'Master key, standard base64 of exactly 32 bytes (`openssl rand -base64 32`). Only with KEY_SOURCE=env; refused with kms.',
  },
  KMS_KEY_ID: {
    shownDefault: '(required with KEY_SOURCE=kms)',
    parse: text(),
    example: 'arn:aws:kms:us-east-1:111122223333:key/...',
    meaning: 'The full ARN of the KMS key that wraps the keyring (arn:aws:kms:AWS_REGION:ACCOUNT:key/ID), in the region AWS_REGION. Never an alias or a bare key id: those resolve in the account of whoever signs the request, and the host supplies the credentials. Sent on every call; an answer for another key is refused.',
  },
  AWS_REGION: {
    default: 'us-east-1',
    parse: matching(AWS_REGION_PATTERN, 'must be an AWS region name such as us-east-1'),
    meaning: 'Region of the KMS key; names the default endpoint https://kms.REGION.amazonaws.com.',
  },
  KMS_ENDPOINT: {
    shownDefault: '(unset)',
    parse: kmsEndpoint,
    meaning: 'Overrides the KMS endpoint (https://HOST[:PORT]). Outside *.amazonaws.com it is development only (the KMS double of the tests).',
  },
  KMS_CA_PATH: {
    shownDefault: '(unset)',
    parse: text(),
    meaning: 'PEM CA bundle trusted for TLS to KMS instead of the public CAs. Development only.',
  },
  EGRESS_ADDR: {
    default: 'tcp://127.0.0.1:5007',
    parse: address,
    meaning: "The host's egress forwarder (HTTP CONNECT), through which TLS to KMS passes as ciphertext (Nitro image: vsock://3:5007).",
  },
  KMS_TIMEOUT_MS: {
    default: '10000',
    parse: integer(100, 600_000),
    meaning: 'One KMS request (connect, TLS, answer) must finish within this time.',
  },
  KMS_MAX_ATTEMPTS: {
    default: '4',
    parse: integer(1, 10),
    meaning: 'Attempts per KMS request on network errors, throttling and 5xx answers, with exponential backoff; refusals are never retried.',
  },
  KEYRING_REFRESH_MS: {
    default: '30000',
    parse: integer(1_000, HOUR_MS),
    meaning: 'With KEY_SOURCE=kms: how often the stored keyring is checked for a change by another enclave (then released again through KMS). Retiring a key waits two periods after the active key changed.',
  },
  ADMIN_TOKEN_SHA256: {
    default: 'off',
    // `off`, not empty, turns the admin endpoints off: the image's Dockerfile
    // sets it from a build argument whose default is `off`, so leaving the
    // argument out gives an enclave without admin, never one that cannot start.
    parse: offOr(matching(SHA256_HEX, 'must be off or 64 hex digits (the SHA-256 of the admin token: printf %s "$TOKEN" | sha256sum)')),
    meaning: 'Hex SHA-256 of the admin token that authorizes /admin/keys/* (key rotation, re-seal). `off`: those endpoints answer 404. Only the hash is in the image.',
  },
  USE_TLS: {
    default: 'true',
    parse: boolean(),
    meaning: '`false` serves plain HTTP (logged as a warning; for debugging only).',
  },
  TLS_CERT_PATH: {
    default: 'cert.pem',
    parse: text(),
    meaning: 'PEM certificate. With TLS_KEY_PATH: both present are used, neither present means a P-256 key and certificate generated in memory, one alone stops start-up.',
  },
  TLS_KEY_PATH: {
    default: 'key.pem',
    parse: text(),
    meaning: 'PEM private key matching TLS_CERT_PATH.',
  },
  ALLOW_TLS_KEY_FILES: {
    default: 'false',
    parse: boolean(),
    meaning: "In production mode with ATTESTATION_PROVIDER=nsm a TLS key from files is refused: the files are in the image, so the operator can relay clients with the enclave's own key (clients that check the TLS session still catch it; browsers do not). `true` allows it, and the start-up log says so.",
  },
  ENCLAVE_PORT: {
    default: '5005',
    parse: integer(0, 65_535),
    meaning: 'Port of the default ENCLAVE_LISTEN.',
  },
  ENCLAVE_LISTEN: {
    shownDefault: 'tcp://127.0.0.1:${ENCLAVE_PORT}',
    parse: address,
    meaning: 'Address the HTTPS server listens on: tcp://HOST:PORT, unix:///PATH or vsock://any:PORT (Nitro image: vsock://any:5005).',
  },
  TELEMETRY_ADDR: {
    default: 'tcp://127.0.0.1:5008',
    parse: offOr(address),
    meaning: "The host's telemetry listener: the enclave's log lines and metrics, lossy and bounded (it never blocks on the host); off sends nothing (Nitro image: vsock://3:5008).",
  },
  STORAGE_ADDR: {
    default: 'tcp://127.0.0.1:5006',
    parse: address,
    meaning: "Address of the host's storage service (Nitro image: vsock://3:5006, the parent's CID).",
  },
  AUTH_MODE: {
    default: 'token',
    parse: oneOf<AuthMode>(['token', 'none']),
    meaning: '`token`: each `Authorization: Bearer` token owns a private namespace. `none`: one shared anonymous namespace (logged as a warning).',
  },
  MAX_BODY_BYTES: {
    default: '1048576',
    parse: integer(1, MAX_BODY_BYTES_LIMIT),
    meaning: `Largest request body; larger is refused with 413 before it is read. At most ${MAX_BODY_BYTES_LIMIT}.`,
  },
  BODY_MEMORY_BUDGET_BYTES: {
    default: '268435456',
    parse: integer(1, 64 * 1024 * 1024 * 1024),
    meaning: 'Request bodies held in memory at once, across all connections (each upload reserves its Content-Length, or MAX_BODY_BYTES when chunked, until its answer is sent); an upload that does not fit gets 503 OVERLOADED. At least MAX_BODY_BYTES.',
  },
  MAX_CONNECTIONS: {
    default: '1000',
    parse: integer(1, 1_000_000),
    meaning: 'Concurrent client connections; more are closed at accept.',
  },
  HANDSHAKE_TIMEOUT_MS: {
    default: '10000',
    parse: integer(100, HOUR_MS),
    meaning: 'TLS handshake must finish within this time.',
  },
  HEADERS_TIMEOUT_MS: {
    default: '10000',
    parse: integer(100, HOUR_MS),
    meaning: 'Request headers must arrive within this time.',
  },
  REQUEST_TIMEOUT_MS: {
    default: '30000',
    parse: integer(100, HOUR_MS),
    meaning: 'Whole request (headers and body) must arrive within this time.',
  },
  KEEP_ALIVE_TIMEOUT_MS: {
    default: '5000',
    parse: integer(100, HOUR_MS),
    meaning: 'Idle keep-alive connections are closed after this time.',
  },
  MAX_HEADER_BYTES: {
    default: '16384',
    parse: integer(1024, 1024 * 1024),
    meaning: 'Largest request head; larger gets 431.',
  },
  STORAGE_TIMEOUT_MS: {
    default: '5000',
    parse: integer(10, HOUR_MS),
    meaning: 'A storage request not answered within this time fails with 503 STORAGE_UNAVAILABLE.',
  },
  STORAGE_MAX_IN_FLIGHT: {
    default: '256',
    parse: integer(1, 65_536),
    meaning: 'Storage requests in flight at once; more fail at once with 503 STORAGE_UNAVAILABLE.',
  },
  ROLLBACK_CACHE_ENTRIES: {
    default: '100000',
    parse: integer(1_000, 10_000_000),
    meaning: 'Records whose last seen version (rollback detection) the enclave keeps in memory, about 150 bytes each. Beyond them a record is not forgotten: it moves to a sealed watermark page on the host whose version the enclave anchors, and a cold read of it costs one more storage read. 1000 to 10000000.',
  },
  RECORD_CREATES_PER_SECOND: {
    default: '100',
    parse: integer(1, 1_000_000),
    meaning: "New records one token (owner) may create per second, in bursts of ten seconds' worth; past it 429 RECORD_CREATE_RATE_LIMITED with Retry-After. Rewrites and deletes are not counted. 1 to 1000000.",
  },
  LOG_LEVEL: {
    default: 'info',
    parse: oneOf<LogLevel>(['debug', 'info', 'warn', 'error']),
    meaning: 'debug, info, warn or error.',
  },
  ATTESTATION_PROVIDER: {
    default: 'none',
    parse: oneOf<AttestationProviderSetting>(ATTESTATION_PROVIDER_SETTINGS),
    meaning: "`none`: `GET /attestation` answers 404. `dev`: documents signed by a local development CA, never trusted by default (logged as a warning with the dev root's SHA-256). `nsm`: the Nitro Secure Module (/dev/nsm, through the @http-enclave/vsock addon); without /dev/nsm or the addon, start-up stops with ATTESTATION_UNAVAILABLE.",
  },
  ATTESTATION_DEV_ROOT_KEY_PATH: {
    shownDefault: '(unset)',
    parse: text(),
    meaning: 'PEM P-384 private key of the dev root CA (only with `dev`). With ATTESTATION_DEV_ROOT_CERT_PATH: both set load the root from files, so a pinned dev root survives restarts; neither means one generated in memory; one alone stops start-up.',
  },
  ATTESTATION_DEV_ROOT_CERT_PATH: {
    shownDefault: '(unset)',
    parse: text(),
    meaning: "PEM self-signed CA certificate of that key; its subject must be a single CN (`openssl req -x509 -subj '/CN=…'`).",
  },
});

/**
 * The enclave's environment is its image's: a name with one of these
 * prefixes that the enclave does not read is a typo. ENCLAVE_ADDR and
 * ENCLAVE_CID are the host's (one .env feeds both programs in `npm start`);
 * KMS_DOUBLE_* are the test KMS double's. Prefixes shared with the world
 * (AWS_, MAX_, STORAGE_ …) are not checked.
 */
export const ENCLAVE_ENVIRONMENT_RULES: EnvironmentRules = Object.freeze({
  program: 'enclave',
  ownPrefixes: Object.freeze(['ENCLAVE_', 'KMS_', 'KEYRING_', 'TLS_', 'ATTESTATION_']),
  readElsewhere: Object.freeze(['ENCLAVE_ADDR', 'ENCLAVE_CID']),
  foreignPrefixes: Object.freeze(['KMS_DOUBLE_']),
});

export interface EnvVariable {
  readonly name: string;
  readonly default: string;
  readonly description: string;
}

/** Every variable the enclave reads, with its default as documented (from ENCLAVE_CONFIG_SCHEMA). */
export const ENCLAVE_ENV_VARIABLES: readonly EnvVariable[] = Object.freeze(
  schemaVariables(ENCLAVE_CONFIG_SCHEMA).map((v) => Object.freeze({ name: v.name, default: documentedDefault(v) ?? '(unset)', description: v.meaning })),
);

/** The public KMS endpoint of a region (China regions use amazonaws.com.cn). */
export function defaultKmsEndpoint(region: string): URL {
  return new URL(`https://kms.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`);
}

/** True for the hosts AWS serves KMS on; anything else is a development override. */
export function isAwsKmsHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host.endsWith('.amazonaws.com') || host.endsWith('.amazonaws.com.cn');
}


/** Ends every problem that is a development choice refused in production mode (main.ts prints each on its own line). */
export const PRODUCTION_REFUSAL_SUFFIX = ': refused in production mode (ENCLAVE_MODE=production)';

const S = ENCLAVE_CONFIG_SCHEMA;

/** Variables that only KEY_SOURCE=kms reads: set with `env`, they are a mistake worth a line. */
const KMS_ONLY_VARIABLES = [S.KMS_KEY_ID, S.KMS_ENDPOINT, S.KMS_CA_PATH, S.KMS_TIMEOUT_MS, S.KMS_MAX_ATTEMPTS] as const;

function readKmsSettings(reader: ConfigReader, problems: ConfigProblems): KmsSettings {
  const region = reader.get(S.AWS_REGION);
  const keyId = reader.read(S.KMS_KEY_ID) ?? '';
  if (!reader.isSet(S.KMS_KEY_ID)) problems.add('KMS_KEY_ID', 'must be set with KEY_SOURCE=kms (the ARN of the KMS key that wraps the keyring)');
  else if (keyId !== '') {
    const arn = KMS_KEY_ARN_PATTERN.exec(keyId);
    if (arn === null) problems.add('KMS_KEY_ID', 'must be the full key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); an alias or a bare key id resolves in the account of the credentials, which the host supplies');
    else if (arn[2] !== region && !problems.has('AWS_REGION')) problems.add('KMS_KEY_ID', `the key ARN is in region ${arn[2] ?? '?'}, but AWS_REGION is ${region}`);
  }
  return {
    keyId,
    region,
    endpoint: reader.read(S.KMS_ENDPOINT) ?? defaultKmsEndpoint(region),
    caPath: reader.read(S.KMS_CA_PATH),
    egressAddress: reader.get(S.EGRESS_ADDR),
    timeoutMs: reader.get(S.KMS_TIMEOUT_MS),
    maxAttempts: reader.get(S.KMS_MAX_ATTEMPTS),
  };
}

/** Throws ConfigInvalidError (CONFIG_INVALID) with every problem, each `NAME: problem`. */
export function loadEnclaveConfig(env: NodeJS.ProcessEnv): EnclaveConfig {
  const problems = new ConfigProblems();
  const reader = new ConfigReader(env, schemaVariables(S), ENCLAVE_ENVIRONMENT_RULES, problems);
  const useTls = reader.get(S.USE_TLS);
  const port = reader.get(S.ENCLAVE_PORT);
  const listen = (reader.isSet(S.ENCLAVE_LISTEN) ? reader.read(S.ENCLAVE_LISTEN) : reader.parseAs(S.ENCLAVE_LISTEN, `tcp://127.0.0.1:${port}`)) ?? { scheme: 'tcp', host: '127.0.0.1', port: 0 };
  const storageAddress = reader.get(S.STORAGE_ADDR);
  const telemetryAddress = reader.read(S.TELEMETRY_ADDR);
  const enclaveMode = reader.get(S.ENCLAVE_MODE);
  const keySource = reader.get(S.KEY_SOURCE);
  let masterKey: Buffer | undefined;
  let kms: KmsSettings | undefined;
  if (keySource === 'env') {
    if (reader.isSet(S.ENCLAVE_KEY_BASE64)) masterKey = reader.read(S.ENCLAVE_KEY_BASE64);
    else {
      const unset = parseMasterKey(undefined);
      if (!unset.ok) problems.add(MASTER_KEY_VARIABLE, unset.problem);
    }
    for (const variable of KMS_ONLY_VARIABLES) {
      if ((env[variable.name] ?? '').trim() !== '') problems.add(variable.name, 'only used with KEY_SOURCE=kms');
    }
  } else {
    // A key in the environment next to KMS would be a second, unprotected key source: refuse it, never pick one silently.
    if (reader.isSet(S.ENCLAVE_KEY_BASE64)) problems.add(MASTER_KEY_VARIABLE, 'must not be set with KEY_SOURCE=kms (the keyring comes from KMS only)');
    kms = readKmsSettings(reader, problems);
  }
  const adminTokenHex = reader.get(S.ADMIN_TOKEN_SHA256);
  const adminTokenSha256 = adminTokenHex === undefined ? undefined : Buffer.from(adminTokenHex, 'hex');
  const keyringRefreshMs = reader.get(S.KEYRING_REFRESH_MS);
  const config: Omit<EnclaveConfig, 'developmentChoices'> = {
    useTls,
    enclaveMode,
    keySource,
    kms,
    adminTokenSha256,
    keyringRefreshMs,
    tlsCertPath: reader.get(S.TLS_CERT_PATH),
    tlsKeyPath: reader.get(S.TLS_KEY_PATH),
    allowTlsKeyFiles: reader.get(S.ALLOW_TLS_KEY_FILES),
    listen,
    storageAddress,
    telemetryAddress,
    masterKey,
    authMode: reader.get(S.AUTH_MODE),
    maxBodyBytes: reader.get(S.MAX_BODY_BYTES),
    bodyMemoryBudgetBytes: reader.get(S.BODY_MEMORY_BUDGET_BYTES),
    rollbackCacheEntries: reader.get(S.ROLLBACK_CACHE_ENTRIES),
    recordCreatesPerSecond: reader.get(S.RECORD_CREATES_PER_SECOND),
    maxConnections: reader.get(S.MAX_CONNECTIONS),
    handshakeTimeoutMs: reader.get(S.HANDSHAKE_TIMEOUT_MS),
    headersTimeoutMs: reader.get(S.HEADERS_TIMEOUT_MS),
    requestTimeoutMs: reader.get(S.REQUEST_TIMEOUT_MS),
    keepAliveTimeoutMs: reader.get(S.KEEP_ALIVE_TIMEOUT_MS),
    maxHeaderBytes: reader.get(S.MAX_HEADER_BYTES),
    storageTimeoutMs: reader.get(S.STORAGE_TIMEOUT_MS),
    storageMaxInFlight: reader.get(S.STORAGE_MAX_IN_FLIGHT),
    logLevel: reader.get(S.LOG_LEVEL),
    attestationProvider: reader.get(S.ATTESTATION_PROVIDER),
    attestationDevRootKeyPath: reader.read(S.ATTESTATION_DEV_ROOT_KEY_PATH),
    attestationDevRootCertPath: reader.read(S.ATTESTATION_DEV_ROOT_CERT_PATH),
  };
  reader.finish();
  if (keySource === 'kms' && config.attestationProvider === 'none' && !problems.has('ATTESTATION_PROVIDER')) {
    problems.add('ATTESTATION_PROVIDER', 'must be nsm (or dev in development) with KEY_SOURCE=kms: KMS releases keys only against an attestation document');
  }
  const developmentChoices = listDevelopmentChoices(config);
  if (enclaveMode === 'production') {
    for (const choice of developmentChoices) problems.add(choice.variable, `${choice.label}${PRODUCTION_REFUSAL_SUFFIX}`);
  }
  if (config.bodyMemoryBudgetBytes < config.maxBodyBytes && !problems.has('BODY_MEMORY_BUDGET_BYTES', 'MAX_BODY_BYTES')) {
    problems.add('BODY_MEMORY_BUDGET_BYTES', 'must be at least MAX_BODY_BYTES (or no upload of the largest size could ever be accepted)');
  }
  if (config.headersTimeoutMs > config.requestTimeoutMs && !problems.has('HEADERS_TIMEOUT_MS', 'REQUEST_TIMEOUT_MS')) {
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
    if (other !== undefined && other[1] === undefined && !problems.has(other[0])) problems.add(other[0], `must be set too when ${name} is set (both or neither)`);
  }
  problems.throwIfAny();
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
