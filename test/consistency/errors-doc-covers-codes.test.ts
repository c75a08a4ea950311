// docs/errors.md names every code our product code can raise or log: every
// code literal (`code = 'X'`, `code: 'X'`, `define('X'`, `reason: 'X'` of our
// own vocabulary) in the non-test sources of the product packages must
// appear on that page in backticks. Node's and SQLite's own codes (errno
// names, ERR_…, HPE_…, SQLITE_…) are theirs, not ours, and are left out, as
// are the placeholders OK, UNKNOWN, OTHER and NONE.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../support/processes.js';

const PRODUCT_PACKAGES = ['program', 'protocol', 'transport', 'vsock', 'attestation', 'enclave', 'host', 'client'];
const FOREIGN = /^(E[A-Z]+|ERR_[A-Z0-9_]+|HPE_[A-Z_]+|SQLITE_[A-Z_]+|OK|UNKNOWN|OTHER|NONE)$/;
const LITERAL = /\b(?:code\s*[:=]\s*|reason\s*:\s*|define(?:WithReason)?(?:<[^>]*>)?\(\s*)'([A-Z][A-Z0-9_]{2,})'/g;

function sourcesOf(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourcesOf(path));
    else if (entry.name.endsWith('.ts') && !/(\.test|test-|-test|fixture)/.test(entry.name)) files.push(path);
  }
  return files;
}

test('docs/errors.md names every code literal of the product packages', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8');
  const missing = new Map<string, string>();
  let found = 0;
  for (const name of PRODUCT_PACKAGES) {
    for (const file of sourcesOf(join(REPO_ROOT, 'packages', name, 'src'))) {
      for (const match of readFileSync(file, 'utf8').matchAll(LITERAL)) {
        const code = match[1] ?? '';
        if (FOREIGN.test(code)) continue;
        found += 1;
        if (!doc.includes(`\`${code}\``)) missing.set(code, file.slice(REPO_ROOT.length + 1));
      }
    }
  }
  assert.ok(found > 50, `the scan found only ${found} code literals: the pattern no longer matches the sources`);
  assert.deepEqual([...missing].map(([code, file]) => `${code} (${file})`), []);
});
