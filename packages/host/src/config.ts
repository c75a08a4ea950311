// Host configuration: the schema (every variable declared once: default,
// parser with its bounds, meaning; the README table and env.example are
// generated from it by `npm run docs:config`) and one pure function from the
// environment to a frozen object. Every bad variable is reported at once, as
// `NAME: problem` (ConfigInvalidError); values are taken exactly as written,
// an empty value is an error (unset the variable to get its default), and an
// unknown HOST_* or EGRESS_* name is a typo (packages/program,
// config-reader.ts).

import { parseTransportAddress, type TransportAddress } from '@http-enclave/protocol';
import {
  ConfigProblems,
  ConfigReader,
  defineSchema,
  documentedDefault,
  fromThrowing,
  integer,
  matching,
  offOr,
  oneOf,
  refine,
  schemaVariables,
  text,
  type EnvironmentRules,
  type ValueParser,
} from '@http-enclave/program';
import { EgressAllowListError, defaultEgressAllowText, parseEgressAllowList } from './egress/egress-allow-list.js';
import { AWS_CREDENTIALS_SOURCES } from './credentials/aws-credentials-provider.js';
import { LOG_LEVELS } from './log.js';
import type { EgressAllowList } from './egress/egress-allow-list.js';
import type { AwsCredentialsSource } from './credentials/aws-credentials-provider.js';
import type { LogLevel } from './log.js';

export const STORAGE_BACKENDS = ['sqlite', 'postgres'] as const;
export type StorageBackend = (typeof STORAGE_BACKENDS)[number];

/** Settings of STORAGE_BACKEND=postgres. */
export interface DatabaseSettings {
  readonly url: string;
  readonly poolSize: number;
  readonly statementTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

export interface HostConfig {
  /** Where clients connect (BIND_ADDR). */
  readonly bindAddress: TransportAddress;
  /** Where the enclave listens (ENCLAVE_ADDR, or derived from ENCLAVE_CID / ENCLAVE_PORT). */
  readonly enclaveAddress: TransportAddress;
  /** Where the storage service listens for the enclave (STORAGE_LISTEN). */
  readonly storageListenAddress: TransportAddress;
  /** SQLite database file (STORAGE_PATH), as given: relative paths are relative to the working directory. */
  readonly storagePath: string;
  /** Where records are kept (STORAGE_BACKEND): the SQLite file above, or a shared PostgreSQL database. */
  readonly storageBackend: StorageBackend;
  /** With STORAGE_BACKEND=postgres only. `url` holds the database password: never log this object's `database`. */
  readonly database: DatabaseSettings | undefined;
  readonly maxConnections: number;
  /** HOST_MAX_CONNECTIONS_PER_SOURCE: connections one remote address may hold at once. */
  readonly maxConnectionsPerSource: number;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly drainTimeoutMs: number;
  /** Where the credentials handed to the enclave come from (AWS_CREDENTIALS_SOURCE). The keys themselves are not in the config. */
  readonly awsCredentialsSource: AwsCredentialsSource;
  /** IMDS origin, http://HOST[:PORT] (AWS_IMDS_ENDPOINT). */
  readonly awsImdsEndpoint: string;
  readonly logLevel: LogLevel;
  /** AWS region of the KMS endpoints (AWS_REGION); decides the default EGRESS_ALLOW. */
  readonly awsRegion: string;
  /** Where the enclave's telemetry (log lines, metrics) arrives (TELEMETRY_LISTEN); undefined when off. */
  readonly telemetryListenAddress: TransportAddress | undefined;
  /** Where the admin listener serves /healthz, /readyz and /metrics (ADMIN_LISTEN); undefined when ADMIN_LISTEN=off. */
  readonly adminListenAddress: TransportAddress | undefined;
  /** Where the egress forwarder listens for the enclave (EGRESS_LISTEN); undefined when EGRESS_LISTEN=off. */
  readonly egressListenAddress: TransportAddress | undefined;
  /** Destinations the enclave may reach through the egress forwarder (EGRESS_ALLOW). */
  readonly egressAllowList: EgressAllowList;
  readonly egressMaxConnections: number;
  readonly egressConnectTimeoutMs: number;
  readonly egressIdleTimeoutMs: number;
}

export interface HostEnvVariable {
  readonly name: string;
  /** Default as a string, or null when the variable has no default. */
  readonly default: string | null;
  readonly description: string;
}

/** An AWS region name: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ap-southeast-5. */
const AWS_REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/**
 * AWS_IMDS_ENDPOINT: http://HOST[:PORT] and nothing more. IMDS speaks plain
 * HTTP on a link-local address; a path, query or user part would be silently
 * dropped by the client, so it is refused here. Returns the origin.
 */
function parseImdsEndpoint(text: string): string | { readonly problem: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: 'must be an http://HOST[:PORT] URL' };
  }
  if (url.protocol !== 'http:') return { problem: `must be an http:// URL (IMDS speaks plain HTTP), got ${url.protocol}` };
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '' || url.pathname !== '/') {
    return { problem: 'must be http://HOST[:PORT] without path, query, fragment or user' };
  }
  return url.origin;
}

const listenAddress: ValueParser<TransportAddress> = fromThrowing((value) => parseTransportAddress(value));
const imdsEndpoint: ValueParser<string> = (value) => {
  const origin = parseImdsEndpoint(value);
  return typeof origin === 'string' ? { ok: true, value: origin } : { ok: false, problem: origin.problem };
};
const storagePath: ValueParser<string> = refine(text(), (path) =>
  path === ':memory:' || path.startsWith('file:') ? 'must be a file path (in-memory or URI databases are not durable)' : undefined,
);

/** Every variable the host reads, in the order of the README table and env.example. Integer bounds are inclusive. */
export const HOST_CONFIG_SCHEMA = defineSchema({
  BIND_ADDR: {
    default: '0.0.0.0:443',
    parse: refine(fromThrowing((value) => parseTransportAddress(value, { allowBareHostPort: true })), (address) =>
      address.scheme === 'vsock' ? 'clients connect over tcp or unix, not vsock' : undefined,
    ),
    meaning: 'Client listener: HOST:PORT, tcp://HOST:PORT or unix:///path.sock',
  },
  ENCLAVE_ADDR: {
    parse: refine(listenAddress, (address) => (address.scheme === 'vsock' && address.cid === 'any' ? 'vsock CID "any" is for listening; give the enclave CID' : undefined)),
    meaning: 'Enclave address (tcp://, unix://, vsock://CID:PORT); when set it wins over ENCLAVE_CID and ENCLAVE_PORT',
  },
  ENCLAVE_CID: {
    shownDefault: '16',
    parse: integer(0, 0xffff_ffff), // u32, struct sockaddr_vm.svm_cid
    meaning: 'Enclave vsock CID; when set (and ENCLAVE_ADDR is not), the enclave is vsock://ENCLAVE_CID:ENCLAVE_PORT',
  },
  ENCLAVE_PORT: {
    default: '5005',
    parse: integer(1, 65_535), // a TCP / vsock port; 0 (any) makes no sense for a connect target
    meaning: 'Enclave port; without ENCLAVE_ADDR and ENCLAVE_CID the enclave is tcp://127.0.0.1:ENCLAVE_PORT',
  },
  STORAGE_LISTEN: {
    default: 'tcp://127.0.0.1:5006',
    parse: listenAddress,
    meaning: 'Storage service listener for the enclave (tcp://, unix://, or vsock://any:PORT on a Nitro parent)',
  },
  STORAGE_PATH: {
    default: './data/http-enclave.db',
    parse: storagePath,
    meaning: 'SQLite database file; its directory is created if missing',
  },
  STORAGE_BACKEND: {
    default: 'sqlite',
    parse: oneOf(STORAGE_BACKENDS),
    meaning: '`sqlite`: records in the file STORAGE_PATH (one host). `postgres`: records in the PostgreSQL database DATABASE_URL, shared by several hosts and enclaves (run `npm run migrate` first)',
  },
  DATABASE_URL: {
    shownDefault: '(required with postgres)',
    example: 'postgres://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full',
    parse: refine(text(), (url) => (/^postgres(ql)?:\/\/[^\s]+$/.test(url) ? undefined : 'must be a postgres:// or postgresql:// URL')),
    meaning: 'The PostgreSQL database of STORAGE_BACKEND=postgres; `sslmode=verify-full` (with `sslrootcert=FILE` for a private CA) for TLS to the database. Holds the password: never logged',
  },
  DATABASE_POOL_SIZE: {
    default: '10',
    parse: integer(1, 1_000),
    meaning: 'Connections to PostgreSQL this host keeps at most',
  },
  DATABASE_STATEMENT_TIMEOUT_MS: {
    default: '5000',
    parse: integer(100, 600_000),
    meaning: 'A PostgreSQL statement not done in this time is cancelled and the enclave gets ERROR Unavailable (503 for the client). Keep it below the enclave\'s STORAGE_TIMEOUT_MS',
  },
  DATABASE_CONNECT_TIMEOUT_MS: {
    default: '5000',
    parse: integer(100, 600_000),
    meaning: 'Time to open a connection to PostgreSQL before a request fails with ERROR Unavailable',
  },
  HOST_MAX_CONNECTIONS: {
    default: '900',
    parse: integer(1, 1_000_000), // above the fd limits of any sane machine
    meaning: "Most client connections open at once; more are closed on accept. Below the enclave's MAX_CONNECTIONS (1000), so the host sheds load first",
  },
  HOST_MAX_CONNECTIONS_PER_SOURCE: {
    default: '64',
    parse: integer(1, 1_000_000),
    meaning: 'Most client connections one remote address (an IPv6 client: its /64) may hold at once; more are closed on accept (a load balancer that hides client addresses needs this raised)',
  },
  HOST_CONNECT_TIMEOUT_MS: {
    default: '5000',
    parse: integer(10, 600_000), // 10 ms .. 10 min
    meaning: 'Time to connect to the enclave before the client connection is closed',
  },
  HOST_IDLE_TIMEOUT_MS: {
    default: '300000',
    parse: integer(100, 86_400_000), // 100 ms .. 1 day
    meaning: 'A connection with no bytes in either direction for this long is closed',
  },
  HOST_DRAIN_TIMEOUT_MS: {
    default: '30000',
    parse: integer(0, 3_600_000), // 0 (close at once) .. 1 h
    meaning: 'On SIGTERM/SIGINT, time open connections get to finish before they are closed',
  },
  LOG_LEVEL: {
    default: 'info',
    parse: oneOf<LogLevel>(LOG_LEVELS),
    meaning: 'debug, info, warn or error',
  },
  TELEMETRY_LISTEN: {
    default: 'tcp://127.0.0.1:5008',
    parse: offOr(listenAddress),
    meaning: "Listener for the enclave's telemetry (its log lines and metrics; tcp://, unix://, or vsock://any:PORT on a Nitro parent); `off` disables it",
  },
  ADMIN_LISTEN: {
    default: 'tcp://127.0.0.1:8404',
    parse: offOr(listenAddress),
    meaning: 'Admin listener: GET /healthz, /readyz and /metrics (Prometheus); loopback by default, never the client port (tcp:// or unix://); `off` disables it',
  },
  AWS_CREDENTIALS_SOURCE: {
    default: 'auto',
    parse: oneOf<AwsCredentialsSource>(AWS_CREDENTIALS_SOURCES),
    meaning: 'AWS credentials the host hands the enclave for KMS: env, imds (IMDSv2 instance role), none, or auto (env when AWS_ACCESS_KEY_ID is set, else imds)',
  },
  AWS_IMDS_ENDPOINT: {
    default: 'http://169.254.169.254',
    parse: imdsEndpoint,
    meaning: 'IMDS base URL, http://HOST[:PORT]; change it only to point tests at an IMDS double',
  },
  // The three credential variables are declared (documented, and an empty one is refused) but never
  // parsed into the config: they are secrets, and the config is meant to be loggable. The credentials
  // provider reads them.
  AWS_ACCESS_KEY_ID: {
    parse: text(),
    meaning: 'Access key id of the env credentials source; read by the credentials provider, never logged',
  },
  AWS_SECRET_ACCESS_KEY: {
    parse: text(),
    meaning: 'Secret key of the env credentials source; never logged',
  },
  AWS_SESSION_TOKEN: {
    parse: text(),
    meaning: 'Session token of the env credentials source (temporary credentials); never logged',
  },
  AWS_REGION: {
    default: 'us-east-1',
    parse: matching(AWS_REGION_PATTERN, 'must look like us-east-1 (lower-case letters, dashes, a number)'),
    meaning: 'AWS region of KMS (for example eu-west-1); sets the default EGRESS_ALLOW',
  },
  EGRESS_LISTEN: {
    default: 'tcp://127.0.0.1:5007',
    parse: offOr(listenAddress),
    meaning: 'Egress forwarder listener for the enclave (tcp://, unix://, or vsock://any:PORT on a Nitro parent); `off` disables it',
  },
  EGRESS_ALLOW: {
    shownDefault: 'kms.${AWS_REGION}.amazonaws.com:443,kms-fips.${AWS_REGION}.amazonaws.com:443',
    parse: fromThrowing(parseEgressAllowList, EgressAllowListError),
    meaning: 'Destinations the enclave may CONNECT to: comma-separated HOST:PORT, `*` for one whole DNS label (only under amazonaws.com or amazonaws.com.cn), IP literals exact (`[::1]:443`); amazonaws.com.cn in cn-* regions',
  },
  EGRESS_MAX_CONNECTIONS: {
    default: '64',
    parse: integer(1, 10_000), // KMS calls from one enclave; far above what it needs
    meaning: 'Most enclave egress connections open at once; more get 503',
  },
  EGRESS_CONNECT_TIMEOUT_MS: {
    default: '5000',
    parse: integer(10, 600_000), // 10 ms .. 10 min
    meaning: 'Time to connect to an egress destination before the enclave gets 504',
  },
  EGRESS_IDLE_TIMEOUT_MS: {
    default: '60000',
    parse: integer(100, 86_400_000), // 100 ms .. 1 day
    meaning: 'An egress tunnel with no bytes in either direction for this long is closed',
  },
});

/**
 * Typos such as HOST_IDLE_TIMEOUT would otherwise be ignored in silence.
 * EGRESS_ADDR is the enclave's (one .env feeds both programs in `npm start`).
 */
export const HOST_ENVIRONMENT_RULES: EnvironmentRules = Object.freeze({
  program: 'host',
  ownPrefixes: Object.freeze(['HOST_', 'EGRESS_']),
  readElsewhere: Object.freeze(['EGRESS_ADDR']),
});

/** Every variable the host reads, with its documented default (from HOST_CONFIG_SCHEMA). */
export const HOST_ENV_VARIABLES: readonly HostEnvVariable[] = Object.freeze(
  schemaVariables(HOST_CONFIG_SCHEMA).map((v) => Object.freeze({ name: v.name, default: documentedDefault(v) ?? null, description: v.meaning })),
);

const S = HOST_CONFIG_SCHEMA;

/** A frozen copy of an address. */
function frozen(address: TransportAddress): TransportAddress;
function frozen(address: TransportAddress | undefined): TransportAddress | undefined;
function frozen(address: TransportAddress | undefined): TransportAddress | undefined {
  return address === undefined ? undefined : Object.freeze({ ...address });
}

/** Throws ConfigInvalidError (CONFIG_INVALID) with every problem, each `NAME: problem`. */
export function loadHostConfig(env: NodeJS.ProcessEnv): HostConfig {
  const problems = new ConfigProblems();
  const reader = new ConfigReader(env, schemaVariables(S), HOST_ENVIRONMENT_RULES, problems);

  const bindAddress = reader.get(S.BIND_ADDR);
  const enclavePort = reader.get(S.ENCLAVE_PORT);
  const enclaveCid = reader.read(S.ENCLAVE_CID);
  let enclaveAddress: TransportAddress | undefined;
  if (reader.isSet(S.ENCLAVE_ADDR)) enclaveAddress = reader.read(S.ENCLAVE_ADDR);
  else if (reader.isSet(S.ENCLAVE_CID)) {
    if (enclaveCid !== undefined) enclaveAddress = { scheme: 'vsock', cid: enclaveCid, port: enclavePort };
  } else enclaveAddress = { scheme: 'tcp', host: '127.0.0.1', port: enclavePort };

  const storageListenAddress = reader.get(S.STORAGE_LISTEN);
  const storagePathValue = reader.get(S.STORAGE_PATH);
  const storageBackend = reader.get(S.STORAGE_BACKEND);
  let database: DatabaseSettings | undefined;
  const databaseUrl = reader.read(S.DATABASE_URL);
  if (storageBackend === 'postgres') {
    if (databaseUrl === undefined && !problems.has('DATABASE_URL')) problems.add('DATABASE_URL', 'is required with STORAGE_BACKEND=postgres');
    const poolSize = reader.get(S.DATABASE_POOL_SIZE);
    const statementTimeoutMs = reader.get(S.DATABASE_STATEMENT_TIMEOUT_MS);
    const connectTimeoutMs = reader.get(S.DATABASE_CONNECT_TIMEOUT_MS);
    if (databaseUrl !== undefined) database = Object.freeze({ url: databaseUrl, poolSize, statementTimeoutMs, connectTimeoutMs });
  } else if (reader.isSet(S.DATABASE_URL)) {
    problems.add('DATABASE_URL', 'only used with STORAGE_BACKEND=postgres');
  }
  const maxConnections = reader.get(S.HOST_MAX_CONNECTIONS);
  const maxConnectionsPerSource = reader.get(S.HOST_MAX_CONNECTIONS_PER_SOURCE);
  const connectTimeoutMs = reader.get(S.HOST_CONNECT_TIMEOUT_MS);
  const idleTimeoutMs = reader.get(S.HOST_IDLE_TIMEOUT_MS);
  const drainTimeoutMs = reader.get(S.HOST_DRAIN_TIMEOUT_MS);
  const logLevel = reader.get(S.LOG_LEVEL);
  const awsCredentialsSource = reader.get(S.AWS_CREDENTIALS_SOURCE);
  const awsImdsEndpoint = reader.get(S.AWS_IMDS_ENDPOINT);
  const awsRegion = reader.get(S.AWS_REGION);
  const telemetryListenAddress = reader.read(S.TELEMETRY_LISTEN);
  const adminListenAddress = reader.read(S.ADMIN_LISTEN);
  const egressListenAddress = reader.read(S.EGRESS_LISTEN);
  // The default allow-list follows AWS_REGION; a bad region is reported once, without a second problem here.
  const egressAllowList = reader.isSet(S.EGRESS_ALLOW)
    ? reader.read(S.EGRESS_ALLOW)
    : problems.has('AWS_REGION')
      ? undefined
      : reader.parseAs(S.EGRESS_ALLOW, defaultEgressAllowText(awsRegion));
  const egressMaxConnections = reader.get(S.EGRESS_MAX_CONNECTIONS);
  const egressConnectTimeoutMs = reader.get(S.EGRESS_CONNECT_TIMEOUT_MS);
  const egressIdleTimeoutMs = reader.get(S.EGRESS_IDLE_TIMEOUT_MS);
  reader.finish();
  problems.throwIfAny();
  if (enclaveAddress === undefined || egressAllowList === undefined) {
    // Only narrows types: every undefined above came with a problem.
    throw new Error('host config: internal error (a value is missing without a problem)');
  }
  return Object.freeze({
    bindAddress: frozen(bindAddress),
    enclaveAddress: frozen(enclaveAddress),
    storageListenAddress: frozen(storageListenAddress),
    storagePath: storagePathValue,
    storageBackend,
    database,
    maxConnections,
    maxConnectionsPerSource,
    connectTimeoutMs,
    idleTimeoutMs,
    drainTimeoutMs,
    logLevel,
    awsCredentialsSource,
    awsImdsEndpoint,
    awsRegion,
    telemetryListenAddress: frozen(telemetryListenAddress),
    adminListenAddress: frozen(adminListenAddress),
    egressListenAddress: frozen(egressListenAddress),
    egressAllowList,
    egressMaxConnections,
    egressConnectTimeoutMs,
    egressIdleTimeoutMs,
  });
}
