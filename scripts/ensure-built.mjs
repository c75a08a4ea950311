// Makes a fresh clone runnable with nothing but Node 20: installs the locked
// dependencies when node_modules is missing or older than the lockfile, then
// builds the TypeScript projects (tsc -b is incremental: a no-op when fresh).
// Node built-ins only: this runs before anything is installed.

import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit' });
  if (result.status !== 0) {
    process.stderr.write(`ensure-built: \`${command} ${args.join(' ')}\` failed (exit ${result.status ?? result.signal})\n`);
    process.exit(result.status ?? 1);
  }
}

const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  process.stderr.write(`ensure-built: Node ${process.versions.node} is too old; HTTP Enclave needs Node 20 or later\n`);
  process.exit(1);
}

const marker = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');
if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
  if (!quiet) process.stderr.write('ensure-built: installing dependencies (npm ci)…\n');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b']);

// The client's command (`npx http-enclave`). npm links a workspace's bin only
// if its target exists at install time, and on a fresh clone dist/ is built
// after `npm ci`: link it here, and make the target executable.
const cli = join(root, 'packages', 'client', 'dist', 'cli.js');
const binLink = join(root, 'node_modules', '.bin', 'http-enclave');
chmodSync(cli, 0o755);
let linked = false;
try {
  linked = lstatSync(binLink).isSymbolicLink();
} catch {
  // absent
}
if (!linked) {
  mkdirSync(dirname(binLink), { recursive: true });
  symlinkSync('../@http-enclave/client/dist/cli.js', binLink);
}
