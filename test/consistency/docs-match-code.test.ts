// Documentation that must match the code: the README's configuration tables,
// env.example and the limits of deploy/host.env.example are what
// `npm run docs:config` writes from the configuration schemas (the generator
// itself is run in --check mode); the README tables list exactly the
// variables each program reads, with the same defaults; docs/errors.md lists
// exactly the API's error codes with their statuses.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { API_ERROR_CLASSES, CMS_ENVELOPE_REASONS, ENCLAVE_ENV_VARIABLES, ENCLAVE_ENVIRONMENT_RULES, KEYRING_DOCUMENT_REASONS, KMS_FAILURE_REASONS } from '@http-enclave/enclave';
import { HOST_ENV_VARIABLES, HOST_ENVIRONMENT_RULES } from '@http-enclave/host';
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

const GENERATOR = join(REPO_ROOT, 'scripts', 'write-config-docs.mjs');
const GENERATED_FILES = ['README.md', 'env.example', join('deploy', 'host.env.example')];

function runGenerator(...args: string[]): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [GENERATOR, ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}

test('README.md, env.example and deploy/host.env.example are what npm run docs:config writes from the schemas', () => {
  const result = runGenerator('--check');
  assert.equal(result.status, 0, result.stderr);
});

test('the generator check fails on a stale copy and rewrites it to the committed text', () => {
  const dir = mkdtempSync(join(tmpdir(), 'config-docs-'));
  try {
    mkdirSync(join(dir, 'deploy'));
    for (const file of GENERATED_FILES) cpSync(join(REPO_ROOT, file), join(dir, file));
    const example = readFileSync(join(dir, 'env.example'), 'utf8');
    assert.ok(example.includes('# MAX_BODY_BYTES=1048576\n'));
    writeFileSync(join(dir, 'env.example'), example.replace('# MAX_BODY_BYTES=1048576\n', '# MAX_BODY_BYTES=2097152\n'));
    writeFileSync(join(dir, 'README.md'), readme.replace('| `AUTH_MODE` | `token` |', '| `AUTH_MODE` | `none` |'));
    const stale = runGenerator('--check', '--root', dir);
    assert.equal(stale.status, 1);
    assert.match(stale.stderr, /README\.md, env\.example/);
    assert.equal(runGenerator('--root', dir).status, 0);
    for (const file of GENERATED_FILES) assert.equal(readFileSync(join(dir, file), 'utf8'), readFileSync(join(REPO_ROOT, file), 'utf8'), file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('each program leaves alone exactly the names with its prefixes that the other program reads (one .env feeds both)', () => {
  for (const [rules, own, other] of [
    [ENCLAVE_ENVIRONMENT_RULES, ENCLAVE_ENV_VARIABLES, HOST_ENV_VARIABLES],
    [HOST_ENVIRONMENT_RULES, HOST_ENV_VARIABLES, ENCLAVE_ENV_VARIABLES],
  ] as const) {
    const ownNames = new Set(own.map((v) => v.name));
    const expected = other.map((v) => v.name).filter((name) => !ownNames.has(name) && rules.ownPrefixes.some((prefix) => name.startsWith(prefix)));
    assert.deepEqual([...rules.readElsewhere].sort(), expected.sort(), rules.program);
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
