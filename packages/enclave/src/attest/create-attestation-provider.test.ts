// The factory: none → no provider, nsm → ATTESTATION_UNAVAILABLE at start-up (outside a Nitro Enclave),
// dev → a provider and a start-up warning naming the dev root's fingerprint.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';

import { isVsockAvailable, vsockAbsenceReason } from '@http-enclave/vsock';

import { createLogger } from '../log.js';
import { createAttestationProvider } from './create-attestation-provider.js';
import { AttestationUnavailableError, CodeMeasurementError } from '../enclave-errors.js';

const measure = () => ({ pcr0: Buffer.alloc(48, 1), pcr1: Buffer.alloc(48, 2), pcr2: Buffer.alloc(48, 3) });

test('none: no provider', () => {
  const lines: string[] = [];
  const logger = createLogger('debug', (line) => lines.push(line));
  assert.equal(createAttestationProvider({ setting: 'none', devRootKeyPath: undefined, devRootCertPath: undefined }, { now: () => new Date(), logger, measure }), undefined);
  assert.deepEqual(lines, []);
});

test('nsm: ATTESTATION_UNAVAILABLE naming /dev/nsm and the native addon, and which one is missing', { skip: existsSync('/dev/nsm') ? 'inside a Nitro Enclave' : false }, () => {
  const logger = createLogger('error', () => {});
  assert.throws(
    () => createAttestationProvider({ setting: 'nsm', devRootKeyPath: undefined, devRootCertPath: undefined }, { now: () => new Date(), logger, measure }),
    (error: unknown) =>
      error instanceof AttestationUnavailableError &&
      error.code === 'ATTESTATION_UNAVAILABLE' &&
      error.message ===
        (isVsockAvailable()
          ? 'the nsm provider needs /dev/nsm and the native addon: /dev/nsm does not exist: not inside an AWS Nitro Enclave'
          : `the nsm provider needs /dev/nsm and the native addon: the @http-enclave/vsock addon is not available (${vsockAbsenceReason() ?? 'unknown reason'})`),
  );
});

test('dev: a dev provider, and one warning with the dev root SHA-256 and the dev module id', () => {
  const lines: string[] = [];
  const logger = createLogger('info', (line) => lines.push(line));
  const provider = createAttestationProvider({ setting: 'dev', devRootKeyPath: undefined, devRootCertPath: undefined }, { now: () => new Date(), logger, measure });
  assert.equal(provider?.kind, 'dev');
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
  assert.equal(line['level'], 'warn');
  assert.match(String(line['msg']), /ATTESTATION_PROVIDER=dev.*not AWS/);
  assert.match(String(line['devRootSha256']), /^[0-9a-f]{64}$/);
  assert.match(String(line['moduleId']), /^dev-/);
  assert.equal(line['devRootSource'], 'generated');
});

test('dev: code that cannot be measured (a symbolic link in a package) stops start-up with ATTESTATION_UNAVAILABLE, no document is served', () => {
  const logger = createLogger('info', () => undefined);
  const refuse = (): never => {
    throw new CodeMeasurementError('refusing to measure /x: dist/y.js is a symbolic link or a special file, which the loader could follow to unmeasured code');
  };
  assert.throws(
    () => createAttestationProvider({ setting: 'dev', devRootKeyPath: undefined, devRootCertPath: undefined }, { now: () => new Date(), logger, measure: refuse }),
    (error: unknown) => error instanceof AttestationUnavailableError && error.code === 'ATTESTATION_UNAVAILABLE' && /symbolic link/.test(error.message),
  );
});
