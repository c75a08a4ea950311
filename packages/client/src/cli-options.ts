// Command-line options of `http-enclave`, parsed strictly: an unknown option
// or a malformed value is a usage error (exit 2), never ignored.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MAX_CLOCK_SKEW_MS } from '@http-enclave/attestation';
import type { AttestedPolicy } from './attested-client.js';

/** The CLI's default leeway for this machine's clock (--clock-skew). */
export const DEFAULT_CLOCK_SKEW_SECONDS = 30;

import { UsageError } from './client-errors.js';

export { UsageError };

export const USAGE = `usage:
  http-enclave verify https://HOST:PORT [--measurements FILE ...] [--pcr N=HEX ...] [--root aws|FILE] [--allow-debug] [--json]
  http-enclave verify-doc FILE [--at TIME] [--root aws|FILE] [--measurements FILE ...] [--pcr N=HEX ...] [--allow-debug] [--nonce HEX] [--tls-cert PEM] [--json]
  http-enclave put https://HOST:PORT [NAME] [--data JSON | --file FILE] [verify options]
  http-enclave get https://HOST:PORT [NAME] [verify options]
  http-enclave keys status|rotate|reseal https://HOST:PORT [verify options]
  http-enclave keys retire https://HOST:PORT KEYID [verify options]

  put and get send the bearer token from HTTP_ENCLAVE_TOKEN (or --token, which
  other local users can see in the process list), and only after the enclave's
  attestation document verified; every connection is pinned to the attested key.
  keys sends the admin token from HTTP_ENCLAVE_ADMIN_TOKEN, the same way.
  With the AWS root, put, get and keys need the enclave's code pinned: each
  --measurements FILE is the JSON that nitro-cli build-enclave or describe-eif
  prints (or build-enclave.sh writes), and the enclave must match every PCR of
  one of them (give two during a rolling upgrade); --pcr N=HEX pins one more
  PCR. --insecure-any-enclave accepts any genuine enclave, including one the
  operator built from other code. --clock-skew SECONDS (0-600, default 30)
  is the leeway for this machine's clock on certificate validity and document
  age alike. --json prints the report (or the failure:
  {"verified": false, "code", "reason", "message"}) as JSON on stdout.
  TIME is ISO 8601 (2025-01-06T16:07:05Z) or Unix seconds. FILE for --root is a
  PEM root certificate (for the dev provider); the default is the AWS Nitro root.
exit codes: 0 success, 1 a check failed (the reason is printed), 2 usage error
`;

export interface CommonOptions {
  readonly root: 'aws' | { readonly certificatePem: string };
  readonly policy: AttestedPolicy;
  readonly insecureAnyEnclave: boolean;
}

const OPTION_SPEC = {
  pcr: { type: 'string', multiple: true },
  measurements: { type: 'string', multiple: true },
  'insecure-any-enclave': { type: 'boolean' },
  json: { type: 'boolean' },
  'clock-skew': { type: 'string' },
  root: { type: 'string' },
  'allow-debug': { type: 'boolean' },
  at: { type: 'string' },
  nonce: { type: 'string' },
  'tls-cert': { type: 'string' },
  data: { type: 'string' },
  file: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function parseCommandLine(argv: readonly string[]): { command: string; positionals: string[]; values: ReturnType<typeof parse>['values'] } {
  const parsed = parse(argv);
  const [command = '', ...positionals] = parsed.positionals;
  return { command, positionals, values: parsed.values };
}

function parse(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTION_SPEC, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export function readCommonOptions(values: {
  pcr?: string[] | undefined;
  measurements?: string[] | undefined;
  root?: string | undefined;
  'allow-debug'?: boolean | undefined;
  'insecure-any-enclave'?: boolean | undefined;
  'clock-skew'?: string | undefined;
}): CommonOptions {
  const pcrs: Record<number, string> = {};
  for (const entry of values.pcr ?? []) {
    const match = /^(\d{1,2})=([0-9a-fA-F]+)$/.exec(entry);
    if (match === null || Number(match[1]) > 31 || (match[2] ?? '').length !== 96) {
      throw new UsageError(`--pcr ${entry}: expected N=HEX with N in 0..31 and 48 bytes of hex (SHA-384)`);
    }
    pcrs[Number(match[1])] = (match[2] ?? '').toLowerCase();
  }
  let root: CommonOptions['root'] = 'aws';
  if (values.root !== undefined && values.root !== 'aws') {
    try {
      root = { certificatePem: readFileSync(values.root, 'utf8') };
    } catch (error) {
      throw new UsageError(`--root ${values.root}: cannot read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  const pcrSets = (values.measurements ?? []).map(readMeasurementsFile);
  const skew = values['clock-skew'] ?? String(DEFAULT_CLOCK_SKEW_SECONDS);
  if (!/^\d{1,3}$/.test(skew) || Number(skew) > MAX_CLOCK_SKEW_MS / 1000) throw new UsageError(`--clock-skew ${skew}: expected whole seconds, 0 to ${MAX_CLOCK_SKEW_MS / 1000}`);
  return {
    root,
    policy: { pcrs, ...(pcrSets.length > 0 ? { pcrSets } : {}), allowDebug: values['allow-debug'] === true, clockSkewMs: Number(skew) * 1000 },
    insecureAnyEnclave: values['insecure-any-enclave'] === true,
  };
}

/**
 * One accepted measurement set from a file: the JSON nitro-cli prints for
 * build-enclave and describe-eif ({"Measurements": {"HashAlgorithm": …,
 * "PCR0": hex, "PCR1": hex, "PCR2": hex, …}}), or just that inner object.
 * Every PCRn entry counts; at least one must be there.
 */
export function readMeasurementsFile(file: string): Record<number, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    const why = error instanceof SyntaxError ? 'not JSON' : ((error as NodeJS.ErrnoException).code ?? 'error');
    throw new UsageError(`--measurements ${file}: cannot read (${why})`);
  }
  const outer = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const inner = typeof outer['Measurements'] === 'object' && outer['Measurements'] !== null ? (outer['Measurements'] as Record<string, unknown>) : outer;
  const set: Record<number, string> = {};
  for (const [key, value] of Object.entries(inner)) {
    const match = /^PCR(\d{1,2})$/.exec(key);
    if (match === null) continue;
    if (typeof value !== 'string' || !/^[0-9a-fA-F]+$/.test(value) || value.length !== 96 || Number(match[1]) > 31) {
      throw new UsageError(`--measurements ${file}: ${key} is not 48 bytes of hex (SHA-384)`);
    }
    set[Number(match[1])] = value.toLowerCase();
  }
  if (Object.keys(set).length === 0) throw new UsageError(`--measurements ${file}: no PCR0, PCR1, … entries (expected the JSON of nitro-cli build-enclave or describe-eif)`);
  return set;
}

/** ISO 8601 or Unix seconds. */
export function parseTime(text: string): Date {
  if (/^\d{1,12}(\.\d+)?$/.test(text)) return new Date(Number(text) * 1000);
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text)) {
    const date = new Date(text);
    if (!Number.isNaN(date.getTime())) return date;
  }
  throw new UsageError(`--at ${text}: expected ISO 8601 (2025-01-06T16:07:05Z) or Unix seconds`);
}

export function parseHex(text: string, option: string): Buffer {
  if (!/^([0-9a-fA-F]{2})+$/.test(text)) throw new UsageError(`${option}: expected an even number of hex digits`);
  return Buffer.from(text, 'hex');
}
