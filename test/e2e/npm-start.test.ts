// `npm start` for a new user: on first run it creates the .env with a
// development key, starts the enclave and the host, prints curl commands
// that work, and stops both cleanly on Ctrl-C (SIGINT).

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/processes.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'http-enclave-start-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

test('npm start creates .env, serves, prints working curl commands, and stops both programs on SIGINT', async () => {
  const port = await freePort();
  const envFile = join(dir, '.env');
  const child = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'start-local-stack.mjs')], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      ENV_FILE: envFile,
      BIND_ADDR: `127.0.0.1:${port}`,
      ENCLAVE_LISTEN: `unix://${join(dir, 'enclave.sock')}`,
      ENCLAVE_ADDR: `unix://${join(dir, 'enclave.sock')}`,
      STORAGE_LISTEN: `unix://${join(dir, 'storage.sock')}`,
      STORAGE_ADDR: `unix://${join(dir, 'storage.sock')}`,
      STORAGE_PATH: join(dir, 'data', 'store.db'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = once(child, 'exit');
  try {
    const deadline = Date.now() + 60_000;
    while (!output.includes('Ctrl-C stops both programs') && Date.now() < deadline && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(output, /Ctrl-C stops both programs/, output);
    assert.equal(statSync(envFile).mode & 0o777, 0o600);
    assert.match(readFileSync(envFile, 'utf8'), /^ENCLAVE_KEY_BASE64=[A-Za-z0-9+/]{43}=$/m);

    // Run the printed commands as a user would paste them.
    const token = /TOKEN=(\S+)/.exec(output)?.[1];
    assert.ok(token !== undefined);
    const commands = output.split('\n').filter((line) => line.trim().startsWith('curl '));
    assert.equal(commands.length, 3);
    const results: string[] = [];
    for (const command of commands) {
      const { stdout } = await run('bash', ['-c', `TOKEN=${token}; ${command.trim()}`]);
      results.push(stdout);
    }
    assert.deepEqual(JSON.parse(results[0] ?? ''), { version: 1 });
    assert.equal(results[1], '{"hello":"world"}');
    assert.deepEqual(JSON.parse(results[2] ?? ''), { status: 'ok', storage: 'ok' });
  } finally {
    child.kill('SIGINT');
  }
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0, output);
  assert.match(output, /\[enclave\] info\s+stopped/);
  assert.match(output, /\[host\] info\s+host stopped/);
});
