// Enclave configuration: one pure function from the environment to a frozen
// object. Every bad variable is reported at once, by name; an unknown value is
// an error, never a silent default. The master key is parsed here and kept as
// bytes; this object must never be logged.

import { parseTransportAddress, TransportAddressError, type TransportAddress } from '@http-enclave/protocol';
import { ATTESTATION_PROVIDER_SETTINGS, type AttestationProviderSetting } from './attest/attestation-provider.js';
import { parseMasterKeyBase64 } from './keys/master-key.js';
import type { LogLevel } from './log.js';

export type AuthMode = 'token' | 'none';

export interface EnclaveConfig {
  readonly useTls: boolean;
  readonly tlsCertPath: string;
  readonly tlsKeyPath: string;
  readonly listen: TransportAddress;
  readonly storageAddress: TransportAddress;
  readonly masterKey: Buffer;
  readonly authMode: AuthMode;
  readonly maxBodyBytes: number;
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
  { name: 'ENCLAVE_KEY_BASE64', default: '(required)', description: 'Master key, standard base64 of exactly 32 bytes (`openssl rand -base64 32`). Development key source.' },
  { name: 'USE_TLS', default: 'true', description: '`false` serves plain HTTP (logged as a warning; for debugging only).' },
  { name: 'TLS_CERT_PATH', default: 'cert.pem', description: 'PEM certificate. With TLS_KEY_PATH: both present are used, neither present means a P-256 key and certificate generated in memory, one alone stops start-up.' },
  { name: 'TLS_KEY_PATH', default: 'key.pem', description: 'PEM private key matching TLS_CERT_PATH.' },
  { name: 'ENCLAVE_PORT', default: '5005', description: 'Port of the default ENCLAVE_LISTEN.' },
  { name: 'ENCLAVE_LISTEN', default: 'tcp://127.0.0.1:${ENCLAVE_PORT}', description: 'Address the HTTPS server listens on: tcp://HOST:PORT, unix:///PATH or vsock://any:PORT (Nitro image: vsock://any:5005).' },
  { name: 'STORAGE_ADDR', default: 'tcp://127.0.0.1:5006', description: "Address of the host's storage service (Nitro image: vsock://3:5006, the parent's CID)." },
  { name: 'AUTH_MODE', default: 'token', description: '`token`: each `Authorization: Bearer` token owns a private namespace. `none`: one shared anonymous namespace (logged as a warning).' },
  { name: 'MAX_BODY_BYTES', default: '1048576', description: `Largest request body; larger is refused with 413 before it is read. At most ${MAX_BODY_BYTES_LIMIT}.` },
  { name: 'MAX_CONNECTIONS', default: '1000', description: 'Concurrent client connections; more are closed at accept.' },
  { name: 'HANDSHAKE_TIMEOUT_MS', default: '10000', description: 'TLS handshake must finish within this time.' },
  { name: 'HEADERS_TIMEOUT_MS', default: '10000', description: 'Request headers must arrive within this time.' },
  { name: 'REQUEST_TIMEOUT_MS', default: '30000', description: 'Whole request (headers and body) must arrive within this time.' },
  { name: 'KEEP_ALIVE_TIMEOUT_MS', default: '5000', description: 'Idle keep-alive connections are closed after this time.' },
  { name: 'MAX_HEADER_BYTES', default: '16384', description: 'Largest request head; larger gets 431.' },
  { name: 'STORAGE_TIMEOUT_MS', default: '5000', description: 'A storage request not answered within this time fails with 503 STORAGE_UNAVAILABLE.' },
  { name: 'STORAGE_MAX_IN_FLIGHT', default: '256', description: 'Storage requests in flight at once; more fail at once with 503 STORAGE_UNAVAILABLE.' },
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

export function loadEnclaveConfig(env: NodeJS.ProcessEnv): EnclaveConfig {
  const problems = new ProblemList();
  const useTls = readChoice(env, 'USE_TLS', 'true', ['true', 'false'], problems) === 'true';
  const port = readInteger(env, 'ENCLAVE_PORT', 5005, 0, 65535, problems);
  const listen = readAddress(env, 'ENCLAVE_LISTEN', `tcp://127.0.0.1:${port}`, problems);
  const storageAddress = readAddress(env, 'STORAGE_ADDR', 'tcp://127.0.0.1:5006', problems);
  let masterKey = Buffer.alloc(0);
  try {
    masterKey = parseMasterKeyBase64(env['ENCLAVE_KEY_BASE64']);
  } catch (error) {
    problems.problems.push(error instanceof Error ? error.message : 'ENCLAVE_KEY_BASE64: invalid');
  }
  const config: EnclaveConfig = {
    useTls,
    tlsCertPath: env['TLS_CERT_PATH'] !== undefined && env['TLS_CERT_PATH'] !== '' ? env['TLS_CERT_PATH'] : 'cert.pem',
    tlsKeyPath: env['TLS_KEY_PATH'] !== undefined && env['TLS_KEY_PATH'] !== '' ? env['TLS_KEY_PATH'] : 'key.pem',
    listen,
    storageAddress,
    masterKey,
    authMode: readChoice(env, 'AUTH_MODE', 'token', ['token', 'none'], problems),
    maxBodyBytes: readInteger(env, 'MAX_BODY_BYTES', 1024 * 1024, 1, MAX_BODY_BYTES_LIMIT, problems),
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
  return Object.freeze(config);
}
