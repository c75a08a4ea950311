// The host's AWS credentials provider: temporary credentials the host hands
// the enclave on a CREDENTIALS storage request (for its KMS calls).
//
// They are not secret from the host operator, who owns the IAM role (the KMS
// key policy, with its attestation conditions, is what protects the key), but
// they are credentials: they never appear in a log line or an error message.
// Logs say only the source, whether a role was used, and the expiry time.
//
// Sources (AWS_CREDENTIALS_SOURCE):
//   env   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (the
//         standard variables), read from the env object given here, never
//         through HostConfig (which is meant to be loggable).
//   imds  the instance role, through IMDSv2 (imds-client.ts).
//   auto  env when AWS_ACCESS_KEY_ID is set, else imds (decided once, at creation).
//   none  every request fails with AWS_CREDENTIALS_NOT_CONFIGURED (the
//         enclave gets ERROR NoCredentials).
//
// Cache: credentials are kept until REFRESH_BEFORE_EXPIRY_MS before their
// expiry; a request after that fetches new ones (one fetch at a time, shared by
// concurrent requests). If that fetch fails while the cached ones still have
// MIN_REMAINING_TO_SERVE_MS left, the cached ones are served (and the failure
// logged by code).
//
// Validation is the same as the enclave's (storage-client.ts), so an operator
// sees a bad key at the host, by field name and length: accessKeyId 16..128 of
// [A-Z0-9]; secretAccessKey 1..128 and sessionToken 1..4096 visible ASCII
// (0x21..0x7e); expiration an ISO-8601 date-time in the future.

import { AwsCredentialsInvalid, AwsCredentialsNotConfigured } from '../host-errors.js';
import type { Logger } from '../log.js';
import { fetchImdsCredentials, type ImdsClientOptions } from './imds-client.js';

export type AwsCredentialsSource = 'auto' | 'env' | 'imds' | 'none';
export const AWS_CREDENTIALS_SOURCES: readonly AwsCredentialsSource[] = ['auto', 'env', 'imds', 'none'];

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string | undefined;
  readonly expiration: Date | undefined;
}

/** Refresh this long before expiry: the AWS SDKs' margin, and IMDS offers new credentials at least this early. */
export const REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;
/** A failed refresh still serves cached credentials with at least this much life left (one KMS call needs seconds). */
export const MIN_REMAINING_TO_SERVE_MS = 60_000;
/** Access key ids: AKIA/ASIA + 16 characters today; IAM allows 16..128 of [A-Z0-9] (IAM API reference, AccessKey). */
const ACCESS_KEY_ID = /^[A-Z0-9]{16,128}$/;
/** Secret keys are 40 characters today; 128 leaves room and bounds the document. */
const MAX_SECRET_CHARS = 128;
/** Session tokens have no documented maximum; STS tokens are under 2 KiB in practice. Fits MAX_CREDENTIALS_BYTES (8 KiB). */
const MAX_SESSION_TOKEN_CHARS = 4_096;
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;
/** ISO-8601 date-time with seconds and a zone, as IMDS and STS write it. */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export interface AwsCredentialsProviderOptions {
  readonly source: AwsCredentialsSource;
  /** http://HOST[:PORT] of IMDS (HostConfig.awsImdsEndpoint). */
  readonly imdsEndpoint: string;
  /** Where the env source reads AWS_ACCESS_KEY_ID and the rest (process.env in production). */
  readonly env: NodeJS.ProcessEnv;
  readonly logger: Logger;
  /** Clock for expiry decisions (ms since the epoch). Default Date.now. */
  readonly now?: () => number;
  /** IMDS timeouts, attempts and backoff (tests shorten them). */
  readonly imds?: Omit<ImdsClientOptions, 'endpoint'>;
}

export interface AwsCredentialsProvider {
  /** The source in use: auto resolved to env or imds. */
  readonly source: 'env' | 'imds' | 'none';
  getCredentials(): Promise<AwsCredentials>;
  /** The CREDENTIALS_OK document: UTF-8 JSON {accessKeyId, secretAccessKey, sessionToken?, expiration?}. */
  credentialsDocument(): Promise<Buffer>;
}

export function createAwsCredentialsProvider(options: AwsCredentialsProviderOptions): AwsCredentialsProvider {
  const now = options.now ?? Date.now;
  const logger = options.logger;
  const env = {
    accessKeyId: options.env['AWS_ACCESS_KEY_ID'],
    secretAccessKey: options.env['AWS_SECRET_ACCESS_KEY'],
    sessionToken: options.env['AWS_SESSION_TOKEN'],
  };
  const source = options.source === 'auto' ? (env.accessKeyId !== undefined ? 'env' : 'imds') : options.source;

  const fetchFresh = async (): Promise<AwsCredentials> => {
    switch (source) {
      case 'none':
        throw new AwsCredentialsNotConfigured('AWS_CREDENTIALS_SOURCE is none');
      case 'env': {
        if (env.accessKeyId === undefined) throw new AwsCredentialsNotConfigured('AWS_ACCESS_KEY_ID is not set');
        if (env.secretAccessKey === undefined) throw new AwsCredentialsInvalid('AWS_SECRET_ACCESS_KEY is not set (AWS_ACCESS_KEY_ID is)');
        return validateAwsCredentials(
          { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey, sessionToken: env.sessionToken, expiration: undefined },
          now(),
          { accessKeyId: 'AWS_ACCESS_KEY_ID', secretAccessKey: 'AWS_SECRET_ACCESS_KEY', sessionToken: 'AWS_SESSION_TOKEN', expiration: 'expiration' },
        );
      }
      case 'imds': {
        const raw = await fetchImdsCredentials({ ...options.imds, endpoint: options.imdsEndpoint });
        // Role credentials are always temporary: without a token or an expiry they are not what IMDS documents.
        if (raw.sessionToken === undefined) throw new AwsCredentialsInvalid('IMDS Token is missing');
        if (raw.expiration === undefined) throw new AwsCredentialsInvalid('IMDS Expiration is missing');
        return validateAwsCredentials(raw, now(), {
          accessKeyId: 'IMDS AccessKeyId',
          secretAccessKey: 'IMDS SecretAccessKey',
          sessionToken: 'IMDS Token',
          expiration: 'IMDS Expiration',
        });
      }
    }
  };

  let cached: AwsCredentials | undefined;
  let fetching: Promise<AwsCredentials> | undefined;
  const refresh = (): Promise<AwsCredentials> => {
    fetching ??= fetchFresh()
      .then((fresh) => {
        cached = fresh;
        logger.info('aws credentials obtained', {
          source,
          role: source === 'imds',
          expiration: fresh.expiration?.toISOString() ?? null,
        });
        return fresh;
      })
      .finally(() => {
        fetching = undefined;
      });
    return fetching;
  };
  const remainingMs = (credentials: AwsCredentials): number =>
    credentials.expiration === undefined ? Number.POSITIVE_INFINITY : credentials.expiration.getTime() - now();

  const getCredentials = async (): Promise<AwsCredentials> => {
    const held = cached;
    if (held !== undefined && remainingMs(held) > REFRESH_BEFORE_EXPIRY_MS) return held;
    try {
      return await refresh();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (held !== undefined && remainingMs(held) > MIN_REMAINING_TO_SERVE_MS) {
        logger.warn('aws credentials refresh failed; serving the cached ones', {
          source,
          code: typeof code === 'string' ? code : 'UNKNOWN',
          expiration: held.expiration?.toISOString() ?? null,
        });
        return held;
      }
      throw error;
    }
  };

  return {
    source,
    getCredentials,
    credentialsDocument: async () => encodeCredentialsDocument(await getCredentials()),
  };
}

/** The CREDENTIALS_OK document (protocol storage-frame.ts); optional fields are left out when absent. */
export function encodeCredentialsDocument(credentials: AwsCredentials): Buffer {
  return Buffer.from(
    JSON.stringify({
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      ...(credentials.sessionToken === undefined ? {} : { sessionToken: credentials.sessionToken }),
      ...(credentials.expiration === undefined ? {} : { expiration: credentials.expiration.toISOString() }),
    }),
    'utf8',
  );
}

type FieldNames = Readonly<Record<keyof AwsCredentials, string>>;

/** Checks raw values (from env or IMDS) field by field; messages give the field's name and length, never its value. */
export function validateAwsCredentials(
  raw: { readonly accessKeyId: unknown; readonly secretAccessKey: unknown; readonly sessionToken: unknown; readonly expiration: unknown },
  nowMs: number,
  names: FieldNames,
): AwsCredentials {
  const text = (value: unknown, name: string): string => {
    if (typeof value !== 'string') throw new AwsCredentialsInvalid(`${name} must be a string, got ${value === null ? 'null' : typeof value}`);
    return value;
  };
  const accessKeyId = text(raw.accessKeyId, names.accessKeyId);
  if (!ACCESS_KEY_ID.test(accessKeyId)) {
    throw new AwsCredentialsInvalid(`${names.accessKeyId} must be 16..128 characters of [A-Z0-9], got ${accessKeyId.length} characters`);
  }
  const secretAccessKey = text(raw.secretAccessKey, names.secretAccessKey);
  if (secretAccessKey.length > MAX_SECRET_CHARS || !VISIBLE_ASCII.test(secretAccessKey)) {
    throw new AwsCredentialsInvalid(`${names.secretAccessKey} must be 1..${MAX_SECRET_CHARS} visible ASCII characters, got ${secretAccessKey.length} characters`);
  }
  let sessionToken: string | undefined;
  if (raw.sessionToken !== undefined) {
    sessionToken = text(raw.sessionToken, names.sessionToken);
    if (sessionToken.length > MAX_SESSION_TOKEN_CHARS || !VISIBLE_ASCII.test(sessionToken)) {
      throw new AwsCredentialsInvalid(`${names.sessionToken} must be 1..${MAX_SESSION_TOKEN_CHARS} visible ASCII characters, got ${sessionToken.length} characters`);
    }
  }
  let expiration: Date | undefined;
  if (raw.expiration !== undefined) {
    const textValue = text(raw.expiration, names.expiration);
    const ms = ISO_DATE_TIME.test(textValue) ? Date.parse(textValue) : Number.NaN;
    if (Number.isNaN(ms)) throw new AwsCredentialsInvalid(`${names.expiration} must be an ISO-8601 date-time, got ${textValue.length} characters`);
    if (ms <= nowMs) throw new AwsCredentialsInvalid(`${names.expiration} is in the past`);
    expiration = new Date(ms);
  }
  return { accessKeyId, secretAccessKey, sessionToken, expiration };
}
