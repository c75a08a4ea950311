// A real PostgreSQL server for the tests: a throw-away cluster in a temporary
// directory, on a free loopback port, run as an unprivileged user (initdb and
// postgres refuse root; as root we run them as `nobody` with runuser).
//
//   import { startTestPostgres } from './postgres-test-server.mjs'
//   const server = await startTestPostgres();   // undefined without PostgreSQL binaries
//   server.url                                  // postgres://http_enclave@127.0.0.1:PORT/postgres
//   server.stop()                               // fast shutdown, directory removed
//
// scripts/run-tests.mjs starts one for `npm test` and passes its URL to the
// tests as TEST_DATABASE_URL; .ci/run installs Debian's postgresql package so
// that CI always has the binaries. Node built-ins only.

import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const USER = 'http_enclave';

/** The bin directory of the newest PostgreSQL Debian installs under /usr/lib/postgresql, or undefined. */
export function findPostgresBin() {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join(base, version, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin;
  }
  return undefined;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Runs a PostgreSQL binary as the unprivileged owner of the cluster. */
function runAsOwner(command, args, asRoot) {
  const [file, argv] = asRoot ? ['runuser', ['-u', 'nobody', '--', command, ...args]] : [command, args];
  const result = spawnSync(file, argv, { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) {
    throw new Error(`postgres-test-server: ${command.split('/').pop()} failed (${result.status ?? result.signal}): ${(result.stderr || result.stdout || '').trim().split('\n').slice(-3).join(' | ')}`);
  }
  return result.stdout;
}

export async function startTestPostgres() {
  const bin = findPostgresBin();
  if (bin === undefined) return undefined;
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'http-enclave-pg-'));
  const data = join(dir, 'data');
  if (asRoot) {
    chmodSync(dir, 0o700);
    chownSync(dir, 65534, 65534);
  }
  const port = await freePort();
  // Loopback only; the socket in the cluster's own directory; durable commits (fsync on): the tests check acknowledged writes.
  const options = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} -c max_connections=200 -c shared_buffers=32MB`;
  try {
    runAsOwner(join(bin, 'initdb'), ['-D', data, '-U', USER, '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'], asRoot);
    runAsOwner(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'server.log'), '-o', options, '-w', '-t', '60', 'start'], asRoot);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `postgres://${USER}@127.0.0.1:${port}/postgres`,
    port,
    dataDirectory: data,
    /**
     * Restarts the server in place (immediate stop: clients see their
     * connections cut), without blocking the caller's event loop: resolves
     * once it accepts connections again. For the tests of a restart under load.
     */
    restart() {
      const command = join(bin, 'pg_ctl');
      const args = ['-D', data, '-m', 'immediate', '-w', '-t', '60', 'restart', '-o', options];
      const [file, argv] = asRoot ? ['runuser', ['-u', 'nobody', '--', command, ...args]] : [command, args];
      return new Promise((resolve, reject) => {
        const child = spawn(file, argv, { stdio: 'ignore' });
        child.once('error', reject);
        child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`postgres-test-server: pg_ctl restart exited ${code}`))));
      });
    },
    stop() {
      try {
        runAsOwner(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop'], asRoot);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

// CLI: `node scripts/postgres-test-server.mjs` starts one, prints its URL, and stops it on SIGINT/SIGTERM.
if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await startTestPostgres();
  if (server === undefined) {
    process.stderr.write('postgres-test-server: no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)\n');
    process.exit(1);
  }
  process.stdout.write(`${server.url}\n`);
  const stop = () => {
    server.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  setInterval(() => {}, 1 << 30);
}

