// Documentation that must match the code: the README's configuration tables
// and env.example list exactly the variables each program reads, with the
// same defaults; docs/errors.md lists exactly the API's error codes with
// their statuses.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { API_ERROR_CLASSES, CMS_ENVELOPE_REASONS, ENCLAVE_ENV_VARIABLES, KEYRING_DOCUMENT_REASONS, KMS_FAILURE_REASONS } from '@http-enclave/enclave';
import { HOST_ENV_VARIABLES } from '@http-enclave/host';
import { CHECK_NAMES, REASON_CODE_LIST } from '@http-enclave/attestation';
import { CLIENT_ERROR_CODES } from '@http-enclave/client';
import { REPO_ROOT } from '../support/processes.js';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

/** Rows of the first markdown table after `heading`: first two cells, backticks removed. */
function tableAfter(text: string, heading: string): Map<string, string> {
  const start = text.indexOf(heading);
  assert.ok(start >= 0, `missing heading: ${heading}`);
  const rows = new Map<string, string>();
  let inTable = false;
  for (const line of text.slice(start + heading.length).split('\n')) {
    if (line.startsWith('|')) {
      inTable = true;
      const cells = line.split('|').slice(1, -1).map((c) => c.trim().replace(/`/g, ''));
      const [first = '', second = ''] = cells;
      if (/^-+$/.test(first.replace(/:/g, '')) || first === 'Variable' || first === 'Code') continue;
      rows.set(first, second);
    } else if (inTable) {
      break;
    }
  }
  return rows;
}

for (const [program, variables, heading] of [
  ['enclave', ENCLAVE_ENV_VARIABLES, '### enclave'],
  ['host', HOST_ENV_VARIABLES, '### host'],
] as const) {
  test(`README configuration table of the ${program} matches the code`, () => {
    const table = tableAfter(readme, heading);
    assert.deepEqual([...table.keys()].sort(), variables.map((v) => v.name).sort());
    for (const variable of variables) assert.equal(table.get(variable.name), variable.default ?? '(unset)', `default of ${variable.name}`);
  });
}

test('env.example lists every variable of both programs', () => {
  const example = readFileSync(join(REPO_ROOT, 'env.example'), 'utf8');
  const listed = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
  for (const variable of [...ENCLAVE_ENV_VARIABLES, ...HOST_ENV_VARIABLES]) {
    assert.ok(listed.has(variable.name), `env.example lacks ${variable.name}`);
  }
});

test('docs/errors.md lists exactly the API error codes with their statuses', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8');
  const table = tableAfter(doc, '## HTTP API');
  const codes = new Map(API_ERROR_CLASSES.map((Class) => {
    const error = new Class();
    return [error.code, String(error.status)] as const;
  }));
  assert.deepEqual([...table.keys()].sort(), [...codes.keys()].sort());
  for (const [code, status] of codes) assert.equal(table.get(code), status, `status of ${code}`);
});

test('docs/errors.md lists exactly the key-release reasons, each under its code', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8');
  const table = tableAfter(doc, 'The reasons (a test keeps this table equal to the code)');
  const expected = new Map<string, string>([
    ...KMS_FAILURE_REASONS.map((reason) => [reason, 'KMS_REQUEST_FAILED'] as const),
    ...CMS_ENVELOPE_REASONS.map((reason) => [reason, 'KMS_ENVELOPE_INVALID'] as const),
    ...KEYRING_DOCUMENT_REASONS.map((reason) => [reason, 'KEYRING_INVALID'] as const),
  ]);
  table.delete('Reason');
  assert.deepEqual([...table.keys()].sort(), [...expected.keys()].sort());
  for (const [reason, code] of expected) assert.equal(table.get(reason), code, `code of ${reason}`);
});

test('docs/errors.md lists exactly the client error codes and the verifier reason codes, each under a real check', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8');
  const clientTable = tableAfter(doc, '| Client code | When |');
  const clientCodes = [...clientTable.keys()].filter((code) => code !== 'Client code');
  assert.deepEqual(clientCodes, [...CLIENT_ERROR_CODES]);
  const reasonTable = tableAfter(doc, 'a test keeps this table equal to `REASON_CODE_LIST`');
  reasonTable.delete('Reason');
  assert.deepEqual([...reasonTable.keys()], [...REASON_CODE_LIST]);
  for (const [reason, checks] of reasonTable) {
    for (const check of checks.split(',').map((name) => name.trim())) assert.ok((CHECK_NAMES as readonly string[]).includes(check), `${reason}: ${check}`);
  }
});
