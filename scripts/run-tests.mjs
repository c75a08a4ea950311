// `npm test`: install and build what is missing, then run every compiled
// test file (packages/*/dist/**/*.test.js and test/dist/**/*.test.js) with
// node:test. Node 20 has no --test globs, so the files are listed here.
// Arguments filter files by substring: `npm test -- seal e2e`.
// `--adversarial` (npm run test:adversarial) runs the longer attack cases
// instead: test/dist/adversarial/*.adversarial.js.
// A real PostgreSQL server (scripts/postgres-test-server.mjs) is started for
// the run when the machine has one installed and TEST_DATABASE_URL is not
// set already; the tests of the PostgreSQL backend read TEST_DATABASE_URL
// (and skip, saying so, without it: .ci/run installs PostgreSQL, so CI never
// skips them).

import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestPostgres } from './postgres-test-server.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = spawnSync(process.execPath, [join(root, 'scripts', 'ensure-built.mjs')], { stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status ?? 1);

function findTests(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === 'node_modules') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith(suffix)) out.push(path);
  }
  return out;
}

const adversarial = process.argv.includes('--adversarial');
const suffix = adversarial ? '.adversarial.js' : '.test.js';
const roots = [join(root, 'test', 'dist')];
for (const pkg of readdirSync(join(root, 'packages'))) roots.push(join(root, 'packages', pkg, 'dist'));
const filters = process.argv.slice(2).filter((arg) => arg !== '--adversarial');
const files = roots
  .flatMap((dir) => findTests(dir, []))
  .map((file) => relative(root, file))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();
if (files.length === 0) {
  process.stderr.write('run-tests: no test files matched\n');
  process.exit(1);
}
/** One test may take at most this long (the slowest, end-to-end tampering, takes ~5 s). */
const TEST_TIMEOUT_MS = 120_000;
/** The whole run may take at most this long (it takes well under a minute): a hung process fails the run instead of eating CI's 90 minutes. */
const RUN_TIMEOUT_MS = 20 * 60_000;
let postgres;
if (process.env.TEST_DATABASE_URL === undefined) {
  try {
    postgres = await startTestPostgres();
  } catch (error) {
    process.stderr.write(`run-tests: PostgreSQL did not start (${error.message}); its tests will skip\n`);
  }
}
const args = ['--test', '--test-reporter=spec', '--test-concurrency=2', `--test-timeout=${TEST_TIMEOUT_MS}`, ...files];
const result = spawnSync(process.execPath, args, {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: 'test', ...(postgres === undefined ? {} : { TEST_DATABASE_URL: postgres.url }) },
  timeout: RUN_TIMEOUT_MS,
  killSignal: 'SIGKILL',
});
if (result.error !== undefined) process.stderr.write(`run-tests: ${result.error.message}\n`);
postgres?.stop();
process.exit(result.status ?? 1);
