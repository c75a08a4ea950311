// docs/errors.md against the enclave's error catalogue
// (packages/enclave/src/enclave-errors.ts), both directions: every code of
// the start-up/key-release and internal groups is in its table and every row
// is a code; the STORAGE_INTEGRITY reasons likewise; and no two classes of the
// catalogue share a code. (The HTTP API table has its own test in
// docs-match-code.test.ts.)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  API_ERROR_CLASSES,
  INTERNAL_ERROR_CLASSES,
  KEY_RELEASE_ERROR_CLASSES,
  STORAGE_INTEGRITY_REASONS,
} from '@http-enclave/enclave';
import { REPO_ROOT } from '../support/processes.js';

const doc = readFileSync(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8');

/** First cells of the markdown table whose header row starts with `| header |`. */
function firstColumn(header: string): string[] {
  const start = doc.indexOf(`| ${header} |`);
  assert.ok(start >= 0, `missing table: ${header}`);
  const cells: string[] = [];
  for (const line of doc.slice(start).split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    cells.push((line.split('|')[1] ?? '').trim().replace(/`/g, ''));
  }
  return cells;
}

/** A class's code, read from an instance made with no arguments (every class of the catalogue allows that). */
function codeOf(Class: new () => { readonly code: string }): string {
  return new Class().code;
}

test('docs/errors.md "Key release" lists every start-up and key-release code, and only codes of the enclave', () => {
  const rows = firstColumn('Code | Meaning');
  const keyRelease = KEY_RELEASE_ERROR_CLASSES.map((Class) => codeOf(Class as new () => { readonly code: string }));
  for (const code of keyRelease) assert.ok(rows.includes(code), `${code} is missing from "Key release"`);
  const known = new Set([...keyRelease, ...API_ERROR_CLASSES.map((Class) => codeOf(Class))]);
  for (const row of rows) assert.ok(known.has(row), `"Key release" lists ${row}, which the enclave does not raise`);
});

test('docs/errors.md "Internal" lists exactly the internal codes', () => {
  assert.deepEqual(firstColumn('Internal code | When'), INTERNAL_ERROR_CLASSES.map((Class) => codeOf(Class)));
});

test('docs/errors.md lists exactly the STORAGE_INTEGRITY reasons', () => {
  assert.deepEqual(firstColumn('Integrity reason | When'), [...STORAGE_INTEGRITY_REASONS]);
});

test('no two classes of the enclave catalogue share a code', () => {
  const all = [...API_ERROR_CLASSES, ...KEY_RELEASE_ERROR_CLASSES, ...INTERNAL_ERROR_CLASSES].map((Class) => codeOf(Class as new () => { readonly code: string }));
  assert.deepEqual(all.filter((code, index) => all.indexOf(code) !== index), []);
});
