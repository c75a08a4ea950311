#!/usr/bin/env node
// `http-enclave`: verify an enclave (live, or a document on disk) and put or
// get private data only after verification passed, pinned to the attested
// key. Exit codes: 0 success, 1 a check failed, 2 usage error.

import { readFileSync } from 'node:fs';
import { pinsMeasurements, verifyAttestationDocument } from '@http-enclave/attestation';
import { createAttestedClient, type AttestedClient } from './attested-client.js';
import { AttestedClientError } from './client-errors.js';
import { parseCommandLine, parseHex, parseTime, readCommonOptions, USAGE, UsageError, type CommonOptions } from './cli-options.js';
import { formatVerificationReport, verificationReportJson } from './verification-report.js';
import { parseKeyAdminAction, runKeyAdminAction } from './key-admin-command.js';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
/** keys: the enclave bounds a retirement scan at 10 minutes (RETIRE_SCAN_MAX_MS); wait a little longer than that. */
const KEY_ADMIN_TIMEOUT_MS = 11 * 60_000;
/** Names as the API accepts them (see the enclave's api-handler.ts). */
const NAME_PATTERN = /^[A-Za-z0-9._~-]{1,128}$/;

async function main(argv: readonly string[]): Promise<number> {
  const { command, positionals, values } = parseCommandLine(argv);
  if (values.help === true || command === '' || command === 'help') {
    process.stdout.write(USAGE);
    return command === '' && values.help !== true ? EXIT_USAGE : 0;
  }
  const common = readCommonOptions(values);
  switch (command) {
    case 'verify': {
      const url = requireUrl(positionals[0]);
      if (positionals.length > 1) throw new UsageError('verify takes one URL');
      const client = createAttestedClient({ url, root: common.root, policy: common.policy });
      try {
        const verified = await client.verify();
        const extra = { endpoint: url, tlsFingerprint256: verified.certificate.fingerprint256, measurementsPinned: client.measurementsPinned };
        process.stdout.write(values.json === true ? verificationReportJson(verified.result, extra) : formatVerificationReport(verified.result, extra));
      } finally {
        client.close();
      }
      return 0;
    }
    case 'verify-doc': {
      const file = positionals[0];
      if (file === undefined || positionals.length > 1) throw new UsageError('verify-doc takes one FILE');
      const document = readDocument(file);
      let tlsCertificate: string | undefined;
      if (values['tls-cert'] !== undefined) tlsCertificate = readText(values['tls-cert'], '--tls-cert');
      const result = verifyAttestationDocument(document, {
        now: values.at === undefined ? new Date() : parseTime(values.at),
        root: common.root,
        policy: {
          ...common.policy,
          ...(values.nonce === undefined ? {} : { nonce: parseHex(values.nonce, '--nonce') }),
          ...(tlsCertificate === undefined ? {} : { tlsCertificate }),
        },
      });
      if (!result.ok) throw new AttestedClientError('ATTESTATION_FAILED', `attestation failed: ${result.reason}: ${result.message}`, result.reason);
      const extra = { measurementsPinned: pinsMeasurements(common.policy) };
      process.stdout.write(values.json === true ? verificationReportJson(result, extra) : formatVerificationReport(result, extra));
      return 0;
    }
    case 'put':
    case 'get': {
      const url = requireUrl(positionals[0]);
      const name = positionals[1];
      if (positionals.length > 2 || (name !== undefined && !NAME_PATTERN.test(name))) {
        throw new UsageError(`${command} takes a URL and an optional NAME of 1-128 characters A-Z a-z 0-9 . _ ~ -`);
      }
      const token = values.token ?? process.env['HTTP_ENCLAVE_TOKEN'];
      if (token === undefined || token === '') throw new UsageError(`${command} needs a bearer token in HTTP_ENCLAVE_TOKEN (or --token)`);
      const path = name === undefined ? '/private-data' : `/private-data/${name}`;
      let body: string | undefined;
      if (command === 'put') {
        if (values.data !== undefined && values.file !== undefined) throw new UsageError('put takes --data or --file, not both');
        body = values.data ?? (values.file !== undefined ? readText(values.file, '--file') : readFileSync(0, 'utf8'));
      }
      const client = createAttestedClient({ url, root: common.root, policy: common.policy, insecureAnyEnclave: common.insecureAnyEnclave });
      try {
        requireMeasurements(client, common);
        const verified = await client.verify();
        process.stderr.write(`attestation verified (${verified.result.document.moduleId}); sending to the attested key only\n`);
        const response = await client.request({
          method: command === 'put' ? (name === undefined ? 'POST' : 'PUT') : 'GET',
          path,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body }),
        });
        process.stdout.write(response.body);
        if (!response.body.toString('utf8').endsWith('\n')) process.stdout.write('\n');
        return response.status >= 200 && response.status < 300 ? 0 : EXIT_FAILED;
      } finally {
        client.close();
      }
    }
    case 'keys': {
      const action = parseKeyAdminAction(positionals[0]);
      const url = requireUrl(positionals[1]);
      if (positionals.length > (action === 'retire' ? 3 : 2)) throw new UsageError(`keys ${action} takes a URL${action === 'retire' ? ' and a KEYID' : ''}`);
      const adminToken = process.env['HTTP_ENCLAVE_ADMIN_TOKEN'];
      if (adminToken === undefined || adminToken === '') throw new UsageError('keys needs the admin token in HTTP_ENCLAVE_ADMIN_TOKEN');
      // A retirement opens every record before it answers (about 0.4 ms each here): give it the scan's own limit.
      const client = createAttestedClient({ url, root: common.root, policy: common.policy, timeoutMs: KEY_ADMIN_TIMEOUT_MS, insecureAnyEnclave: common.insecureAnyEnclave });
      try {
        requireMeasurements(client, common);
        await client.verify();
        return await runKeyAdminAction(client, action, adminToken, positionals[2], (line) => process.stdout.write(`${line}\n`));
      } finally {
        client.close();
      }
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/**
 * Before any connection: with the AWS root, sending data needs the code
 * pinned (--measurements or --pcr), or --insecure-any-enclave, which says so.
 */
function requireMeasurements(client: AttestedClient, common: CommonOptions): void {
  if (common.root !== 'aws' || client.measurementsPinned) return;
  if (!common.insecureAnyEnclave) {
    throw new UsageError(
      'no measurements pinned: any genuine Nitro enclave would pass, including one the operator built from other code; give --measurements FILE (nitro-cli build-enclave / describe-eif JSON) or --pcr 0=HEX, or --insecure-any-enclave',
    );
  }
  process.stderr.write('WARNING: --insecure-any-enclave: measurements are not pinned; any genuine Nitro enclave is accepted, including one the operator built from other code\n');
}

function requireUrl(text: string | undefined): string {
  if (text === undefined) throw new UsageError('expected https://HOST:PORT');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${text}: not a URL (expected https://HOST:PORT)`);
  }
  if (url.protocol !== 'https:' || (url.pathname !== '/' && url.pathname !== '')) throw new UsageError(`${text}: expected https://HOST:PORT`);
  return url.origin;
}

function readText(path: string, option: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${option} ${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** A document on disk: raw CBOR (starts with an array of 4, or tag 18), or base64 text. */
function readDocument(path: string): Uint8Array {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new UsageError(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (bytes[0] === 0x84 || bytes[0] === 0xd2) return bytes;
  const text = bytes.toString('latin1').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) && !/^[A-Za-z0-9_-]+$/.test(text)) {
    throw new UsageError(`${path}: neither raw CBOR nor base64 text`);
  }
  return Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
}

/** --json asked for (read again here: a usage error may come before the options are parsed). */
const wantsJson = process.argv.includes('--json');

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`http-enclave: ${error.message}\n${USAGE}`);
      process.exit(EXIT_USAGE);
    }
    if (error instanceof AttestedClientError) {
      if (wantsJson) process.stdout.write(`${JSON.stringify({ verified: false, code: error.code, reason: error.reason ?? null, message: error.message })}\n`);
      process.stderr.write(`http-enclave: ${error.code}${error.reason === undefined ? '' : ` ${error.reason}`}: ${error.message}\n`);
      process.exit(EXIT_FAILED);
    }
    process.stderr.write(`http-enclave: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(EXIT_FAILED);
  },
);
