// Node 20 deadlocks in KeyObject.export({ format: 'jwk' }) on EC keys when a
// garbage collection runs the key-generation job's destructor during the
// export (both take the key's mutex; see tls/certificate-builder.ts). A hung
// enclave at start-up is a denial of service nobody would find in tests, so
// no program code may export JWK.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../support/processes.js';

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

test("no program source calls KeyObject.export with format 'jwk'", () => {
  const files = readdirSync(join(REPO_ROOT, 'packages')).flatMap((pkg) => sourceFiles(join(REPO_ROOT, 'packages', pkg, 'src')));
  assert.ok(files.length > 20);
  const offenders = files.filter((file) => /export\(\s*\{[^}]*format:\s*['"]jwk['"]/.test(readFileSync(file, 'utf8')));
  assert.deepEqual(offenders, []);
});
