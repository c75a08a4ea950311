// Host configuration: one pure function from the environment to a frozen
// object. Every bad variable is reported at once, by name; an unknown or
// garbage value is an error, never a silent default. An empty value is an
// error too (unset the variable to get its default).

import { parseTransportAddress, type TransportAddress } from '@http-enclave/protocol';
import { EgressAllowListError, defaultEgressAllowText, parseEgressAllowList, type EgressAllowList } from './egress/egress-allow-list.js';
import { AWS_CREDENTIALS_SOURCES, type AwsCredentialsSource } from './credentials/aws-credentials-provider.js';
import { LOG_LEVELS, type LogLevel } from './log.js';

export interface HostConfig {
  /** Where clients connect (BIND_ADDR). */
  readonly bindAddress: TransportAddress;
  /** Where the enclave listens (ENCLAVE_ADDR, or derived from ENCLAVE_CID / ENCLAVE_PORT). */
  readonly enclaveAddress: TransportAddress;
  /** Where the storage service listens for the enclave (STORAGE_LISTEN). */
  readonly storageListenAddress: TransportAddress;
  /** SQLite database file (STORAGE_PATH), as given: relative paths are relative to the working directory. */
  readonly storagePath: string;
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

/** Every variable the host reads. The README table is checked against this list. */
export const HOST_ENV_VARIABLES: readonly HostEnvVariable[] = Object.freeze([
  { name: 'BIND_ADDR', default: '0.0.0.0:443', description: 'Client listener: HOST:PORT, tcp://HOST:PORT or unix:///path.sock' },
  {
    name: 'ENCLAVE_ADDR',
    default: null,
    description: 'Enclave address (tcp://, unix://, vsock://CID:PORT); when set it wins over ENCLAVE_CID and ENCLAVE_PORT',
  },
  { name: 'ENCLAVE_CID', default: '16', description: 'Enclave vsock CID; when set (and ENCLAVE_ADDR is not), the enclave is vsock://ENCLAVE_CID:ENCLAVE_PORT' },
  { name: 'ENCLAVE_PORT', default: '5005', description: 'Enclave port; without ENCLAVE_ADDR and ENCLAVE_CID the enclave is tcp://127.0.0.1:ENCLAVE_PORT' },
  { name: 'STORAGE_LISTEN', default: 'tcp://127.0.0.1:5006', description: 'Storage service listener for the enclave (tcp://, unix://, or vsock://any:PORT on a Nitro parent)' },
  { name: 'STORAGE_PATH', default: './data/http-enclave.db', description: 'SQLite database file; its directory is created if missing' },
  { name: 'HOST_MAX_CONNECTIONS', default: '900', description: "Most client connections open at once; more are closed on accept. Below the enclave's MAX_CONNECTIONS (1000), so the host sheds load first" },
  { name: 'HOST_MAX_CONNECTIONS_PER_SOURCE', default: '64', description: 'Most client connections one remote address (an IPv6 client: its /64) may hold at once; more are closed on accept (a load balancer that hides client addresses needs this raised)' },
  { name: 'HOST_CONNECT_TIMEOUT_MS', default: '5000', description: 'Time to connect to the enclave before the client connection is closed' },
  { name: 'HOST_IDLE_TIMEOUT_MS', default: '300000', description: 'A connection with no bytes in either direction for this long is closed' },
  { name: 'HOST_DRAIN_TIMEOUT_MS', default: '30000', description: 'On SIGTERM/SIGINT, time open connections get to finish before they are closed' },
  { name: 'LOG_LEVEL', default: 'info', description: 'debug, info, warn or error' },
  {
    name: 'TELEMETRY_LISTEN',
    default: 'tcp://127.0.0.1:5008',
    description: "Listener for the enclave's telemetry (its log lines and metrics; tcp://, unix://, or vsock://any:PORT on a Nitro parent); off disables it",
  },
  {
    name: 'ADMIN_LISTEN',
    default: 'tcp://127.0.0.1:8404',
    description: 'Admin listener: GET /healthz, /readyz and /metrics (Prometheus); loopback by default, never the client port (tcp:// or unix://); off disables it',
  },
  {
    name: 'AWS_CREDENTIALS_SOURCE',
    default: 'auto',
    description: 'AWS credentials the host hands the enclave for KMS: env, imds (IMDSv2 instance role), none, or auto (env when AWS_ACCESS_KEY_ID is set, else imds)',
  },
  { name: 'AWS_IMDS_ENDPOINT', default: 'http://169.254.169.254', description: 'IMDS base URL, http://HOST[:PORT]; change it only to point tests at an IMDS double' },
  { name: 'AWS_ACCESS_KEY_ID', default: null, description: 'Access key id of the env credentials source; read by the credentials provider, never logged' },
  { name: 'AWS_SECRET_ACCESS_KEY', default: null, description: 'Secret key of the env credentials source; never logged' },
  { name: 'AWS_SESSION_TOKEN', default: null, description: 'Session token of the env credentials source (temporary credentials); never logged' },
  { name: 'AWS_REGION', default: 'us-east-1', description: 'AWS region of KMS (for example eu-west-1); sets the default EGRESS_ALLOW' },
  {
    name: 'EGRESS_LISTEN',
    default: 'tcp://127.0.0.1:5007',
    description: 'Egress forwarder listener for the enclave (tcp://, unix://, or vsock://any:PORT on a Nitro parent); off disables it',
  },
  {
    name: 'EGRESS_ALLOW',
    default: 'kms.${AWS_REGION}.amazonaws.com:443,kms-fips.${AWS_REGION}.amazonaws.com:443',
    description: 'Destinations the enclave may CONNECT to: comma-separated HOST:PORT, * for one whole DNS label (only under amazonaws.com or amazonaws.com.cn), IP literals exact ([::1]:443); amazonaws.com.cn in cn-* regions',
  },
  { name: 'EGRESS_MAX_CONNECTIONS', default: '64', description: 'Most enclave egress connections open at once; more get 503' },
  { name: 'EGRESS_CONNECT_TIMEOUT_MS', default: '5000', description: 'Time to connect to an egress destination before the enclave gets 504' },
  { name: 'EGRESS_IDLE_TIMEOUT_MS', default: '60000', description: 'An egress tunnel with no bytes in either direction for this long is closed' },
].map((v) => Object.freeze(v)));

/** Bounds of the integer variables: [min, max], inclusive, with units in the name. */
const INTEGER_BOUNDS = {
  ENCLAVE_PORT: [1, 65_535], // a TCP / vsock port; 0 (any) makes no sense for a connect target
  ENCLAVE_CID: [0, 0xffff_ffff], // u32, struct sockaddr_vm.svm_cid
  HOST_MAX_CONNECTIONS: [1, 1_000_000], // above the fd limits of any sane machine
  HOST_MAX_CONNECTIONS_PER_SOURCE: [1, 1_000_000],
  HOST_CONNECT_TIMEOUT_MS: [10, 600_000], // 10 ms .. 10 min
  HOST_IDLE_TIMEOUT_MS: [100, 86_400_000], // 100 ms .. 1 day
  HOST_DRAIN_TIMEOUT_MS: [0, 3_600_000], // 0 (close at once) .. 1 h
  EGRESS_MAX_CONNECTIONS: [1, 10_000], // KMS calls from one enclave; far above what it needs
  EGRESS_CONNECT_TIMEOUT_MS: [10, 600_000], // 10 ms .. 10 min
  EGRESS_IDLE_TIMEOUT_MS: [100, 86_400_000], // 100 ms .. 1 day
} as const satisfies Record<string, readonly [number, number]>;

type IntegerVariable = keyof typeof INTEGER_BOUNDS;

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

export interface ConfigProblem {
  readonly variable: string;
  readonly problem: string;
}

/** One or more bad variables. `message` is one line: `VAR: problem; VAR2: problem`. */
export class HostConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map((p) => `${p.variable}: ${p.problem}`).join('; '));
    this.name = 'HostConfigError';
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}

const KNOWN_NAMES = new Set(HOST_ENV_VARIABLES.map((v) => v.name));

function defaultOf(name: string): string {
  const value = HOST_ENV_VARIABLES.find((v) => v.name === name)?.default;
  if (value === undefined || value === null) throw new Error(`no default for ${name}`);
  return value;
}

/** Single line, no control characters: values may end up in an error line. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, '?');
}

export function loadHostConfig(env: NodeJS.ProcessEnv): HostConfig {
  const problems: ConfigProblem[] = [];
  const fail = (variable: string, problem: string): undefined => {
    problems.push({ variable, problem: oneLine(problem) });
    return undefined;
  };
  const raw = (name: string): string | undefined => {
    const value = env[name];
    if (value === undefined) return undefined;
    if (value.trim() === '') return fail(name, 'is empty (unset it to use the default)');
    return value;
  };
  const integer = (name: IntegerVariable, fallback: string | undefined): number | undefined => {
    const text = raw(name) ?? fallback;
    if (text === undefined) return undefined;
    const [min, max] = INTEGER_BOUNDS[name];
    if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) return fail(name, `must be a decimal integer in ${min}..${max}`);
    const value = Number(text);
    if (value < min || value > max) return fail(name, `must be in ${min}..${max}`);
    return value;
  };
  const address = (name: string, text: string, bare: boolean): TransportAddress | undefined => {
    try {
      return parseTransportAddress(text, { allowBareHostPort: bare });
    } catch (error) {
      return fail(name, error instanceof Error ? error.message : 'invalid address');
    }
  };

  // Typos such as HOST_IDLE_TIMEOUT would otherwise be ignored in silence.
  for (const name of Object.keys(env).sort()) {
    if ((name.startsWith('HOST_') || name.startsWith('EGRESS_')) && !KNOWN_NAMES.has(name)) fail(name, 'unknown variable (see HOST_ENV_VARIABLES)');
  }

  const bindAddress = address('BIND_ADDR', raw('BIND_ADDR') ?? defaultOf('BIND_ADDR'), true);
  if (bindAddress?.scheme === 'vsock') fail('BIND_ADDR', 'clients connect over tcp or unix, not vsock');

  const enclavePort = integer('ENCLAVE_PORT', defaultOf('ENCLAVE_PORT'));
  const enclaveCid = integer('ENCLAVE_CID', undefined);
  const enclaveAddrText = raw('ENCLAVE_ADDR');
  let enclaveAddress: TransportAddress | undefined;
  if (enclaveAddrText !== undefined) {
    enclaveAddress = address('ENCLAVE_ADDR', enclaveAddrText, false);
    if (enclaveAddress?.scheme === 'vsock' && enclaveAddress.cid === 'any') {
      enclaveAddress = fail('ENCLAVE_ADDR', 'vsock CID "any" is for listening; give the enclave CID');
    }
  } else if (env['ENCLAVE_CID'] !== undefined) {
    if (enclaveCid !== undefined && enclavePort !== undefined) enclaveAddress = { scheme: 'vsock', cid: enclaveCid, port: enclavePort };
  } else if (enclavePort !== undefined) {
    enclaveAddress = { scheme: 'tcp', host: '127.0.0.1', port: enclavePort };
  }

  const storageListenAddress = address('STORAGE_LISTEN', raw('STORAGE_LISTEN') ?? defaultOf('STORAGE_LISTEN'), false);

  let storagePath = raw('STORAGE_PATH') ?? defaultOf('STORAGE_PATH');
  if (storagePath.includes('\0')) storagePath = fail('STORAGE_PATH', 'contains a NUL byte') ?? '';
  else if (storagePath === ':memory:' || storagePath.startsWith('file:')) {
    storagePath = fail('STORAGE_PATH', 'must be a file path (in-memory or URI databases are not durable)') ?? '';
  }

  const maxConnections = integer('HOST_MAX_CONNECTIONS', defaultOf('HOST_MAX_CONNECTIONS'));
  const maxConnectionsPerSource = integer('HOST_MAX_CONNECTIONS_PER_SOURCE', defaultOf('HOST_MAX_CONNECTIONS_PER_SOURCE'));
  const connectTimeoutMs = integer('HOST_CONNECT_TIMEOUT_MS', defaultOf('HOST_CONNECT_TIMEOUT_MS'));
  const idleTimeoutMs = integer('HOST_IDLE_TIMEOUT_MS', defaultOf('HOST_IDLE_TIMEOUT_MS'));
  const drainTimeoutMs = integer('HOST_DRAIN_TIMEOUT_MS', defaultOf('HOST_DRAIN_TIMEOUT_MS'));

  const logLevelText = raw('LOG_LEVEL') ?? defaultOf('LOG_LEVEL');
  const logLevel = (LOG_LEVELS as readonly string[]).includes(logLevelText)
    ? (logLevelText as LogLevel)
    : fail('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);

  // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN are not read here: they are
  // secrets, and the config is meant to be loggable. The credentials provider reads them.
  const awsCredentialsSourceText = raw('AWS_CREDENTIALS_SOURCE') ?? defaultOf('AWS_CREDENTIALS_SOURCE');
  const awsCredentialsSource = (AWS_CREDENTIALS_SOURCES as readonly string[]).includes(awsCredentialsSourceText)
    ? (awsCredentialsSourceText as AwsCredentialsSource)
    : fail('AWS_CREDENTIALS_SOURCE', `must be one of ${AWS_CREDENTIALS_SOURCES.join(', ')}`);
  const imdsEndpoint = parseImdsEndpoint(raw('AWS_IMDS_ENDPOINT') ?? defaultOf('AWS_IMDS_ENDPOINT'));
  const awsImdsEndpoint = typeof imdsEndpoint === 'string' ? imdsEndpoint : fail('AWS_IMDS_ENDPOINT', imdsEndpoint.problem);

  const awsRegionText = raw('AWS_REGION') ?? defaultOf('AWS_REGION');
  const awsRegion = AWS_REGION_PATTERN.test(awsRegionText) ? awsRegionText : fail('AWS_REGION', 'must look like us-east-1 (lower-case letters, dashes, a number)');
  const telemetryListenText = raw('TELEMETRY_LISTEN') ?? defaultOf('TELEMETRY_LISTEN');
  const telemetryListenAddress = telemetryListenText === 'off' ? undefined : address('TELEMETRY_LISTEN', telemetryListenText, false);
  const adminListenText = raw('ADMIN_LISTEN') ?? defaultOf('ADMIN_LISTEN');
  const adminListenAddress = adminListenText === 'off' ? undefined : address('ADMIN_LISTEN', adminListenText, false);
  const egressListenText = raw('EGRESS_LISTEN') ?? defaultOf('EGRESS_LISTEN');
  const egressListenAddress = egressListenText === 'off' ? undefined : address('EGRESS_LISTEN', egressListenText, false);
  let egressAllowList: EgressAllowList | undefined;
  const egressAllowText = raw('EGRESS_ALLOW') ?? (awsRegion === undefined ? undefined : defaultEgressAllowText(awsRegion));
  if (egressAllowText !== undefined) {
    try {
      egressAllowList = parseEgressAllowList(egressAllowText);
    } catch (error) {
      fail('EGRESS_ALLOW', error instanceof EgressAllowListError ? error.message : 'invalid');
    }
  }
  const egressMaxConnections = integer('EGRESS_MAX_CONNECTIONS', defaultOf('EGRESS_MAX_CONNECTIONS'));
  const egressConnectTimeoutMs = integer('EGRESS_CONNECT_TIMEOUT_MS', defaultOf('EGRESS_CONNECT_TIMEOUT_MS'));
  const egressIdleTimeoutMs = integer('EGRESS_IDLE_TIMEOUT_MS', defaultOf('EGRESS_IDLE_TIMEOUT_MS'));

  if (
    problems.length > 0 ||
    bindAddress === undefined ||
    enclaveAddress === undefined ||
    storageListenAddress === undefined ||
    maxConnections === undefined ||
    maxConnectionsPerSource === undefined ||
    connectTimeoutMs === undefined ||
    idleTimeoutMs === undefined ||
    drainTimeoutMs === undefined ||
    awsCredentialsSource === undefined ||
    awsImdsEndpoint === undefined ||
    logLevel === undefined ||
    awsRegion === undefined ||
    (egressListenAddress === undefined && egressListenText !== 'off') ||
    (adminListenAddress === undefined && adminListenText !== 'off') ||
    (telemetryListenAddress === undefined && telemetryListenText !== 'off') ||
    egressAllowList === undefined ||
    egressMaxConnections === undefined ||
    egressConnectTimeoutMs === undefined ||
    egressIdleTimeoutMs === undefined
  ) {
    // The undefined checks only narrow types: every undefined above came with a problem.
    throw new HostConfigError(problems.length > 0 ? problems : [{ variable: 'config', problem: 'internal error' }]);
  }
  return Object.freeze({
    bindAddress: Object.freeze({ ...bindAddress }),
    enclaveAddress: Object.freeze({ ...enclaveAddress }),
    storageListenAddress: Object.freeze({ ...storageListenAddress }),
    storagePath,
    maxConnections,
    maxConnectionsPerSource,
    connectTimeoutMs,
    idleTimeoutMs,
    drainTimeoutMs,
    logLevel,
    awsCredentialsSource,
    awsImdsEndpoint,
    awsRegion,
    telemetryListenAddress: telemetryListenAddress === undefined ? undefined : Object.freeze({ ...telemetryListenAddress }),
    adminListenAddress: adminListenAddress === undefined ? undefined : Object.freeze({ ...adminListenAddress }),
    egressListenAddress: egressListenAddress === undefined ? undefined : Object.freeze({ ...egressListenAddress }),
    egressAllowList,
    egressMaxConnections,
    egressConnectTimeoutMs,
    egressIdleTimeoutMs,
  });
}
