// The reason-code catalogue: the list, the README table and the union type agree.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { REASON_CODE_LIST, REASON_CODES } from './reason-codes.js';

test('README.md lists exactly the reason codes of reason-codes.ts, in the same order', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const listed = [...readme.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(listed, [...REASON_CODE_LIST]);
  for (const code of REASON_CODE_LIST) assert.ok(REASON_CODES[code].length > 20, code);
});
