// docs/errors.md "## Host" must list exactly the host's codes: every class of
// HOST_ERROR_CLASSES (packages/host/src/host-errors.ts) with its source, plus
// CONFIG_INVALID (the shared ConfigInvalidError), and nothing else. Every
// class has a code of its own.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { HOST_ERROR_CLASSES } from '@http-enclave/host';
import { ConfigInvalidError } from '@http-enclave/program';
import { REPO_ROOT } from '../support/processes.js';

const HEADING = '## Host';

/** Rows of the first table of the section under `heading` (a line of its own, up to the next "## "): code -> the other cells, backticks removed. */
function sectionTable(text: string, heading: string): Map<string, readonly string[]> {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trim() === heading);
  assert.ok(start >= 0, `docs/errors.md has no "${heading}" section`);
  const rows = new Map<string, readonly string[]>();
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('## ')) break;
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const [code = '', ...rest] = line.split('|').slice(1, -1).map((cell) => cell.trim().replace(/`/g, ''));
    if (code === 'Code' || /^:?-+:?$/.test(code)) continue;
    assert.ok(!rows.has(code), `${code} is listed twice`);
    rows.set(code, rest);
  }
  return rows;
}

const documented = sectionTable(readFileSync(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8'), HEADING);
const configInvalid = new ConfigInvalidError([{ variable: 'X', problem: 'y' }]);
/** code -> source, as the code says. */
const expected = new Map<string, string>([
  [configInvalid.code, configInvalid.source],
  ...HOST_ERROR_CLASSES.map((Class) => [Class.code, Class.source] as const),
]);

test('every host error class has a code of its own (not CONFIG_INVALID) and an HTTP status', () => {
  const codes = HOST_ERROR_CLASSES.map((Class) => Class.code);
  assert.equal(new Set(codes).size, codes.length, `duplicate codes: ${codes.filter((code, index) => codes.indexOf(code) !== index).join(', ')}`);
  assert.ok(!codes.includes(configInvalid.code), 'CONFIG_INVALID belongs to the shared ConfigInvalidError, not to a host class');
  for (const Class of HOST_ERROR_CLASSES) {
    assert.match(Class.code, /^[A-Z][A-Z0-9_]+$/, Class.code);
    assert.ok(Number.isInteger(Class.status) && Class.status >= 400 && Class.status <= 599, `${Class.code}: status ${Class.status}`);
  }
});

test('docs/errors.md "## Host" lists no code the host lacks', () => {
  const extra = [...documented.keys()].filter((code) => !expected.has(code));
  assert.deepEqual(extra, [], 'documented but not in HOST_ERROR_CLASSES');
});

test('docs/errors.md "## Host" lists every code of the host, with its source and a description', () => {
  const missing = [...expected.keys()].filter((code) => !documented.has(code));
  assert.deepEqual(missing, [], 'in HOST_ERROR_CLASSES but not documented');
  for (const [code, source] of expected) {
    const [documentedSource, when = ''] = documented.get(code) ?? [];
    assert.equal(documentedSource, source, `source of ${code}`);
    assert.ok(when.length > 0, `${code} says when`);
  }
});
