// Helpers for this package's tests (real sockets, real processes; no mocks).

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from './log.js';

export const MAIN_JS = fileURLToPath(new URL('./main.js', import.meta.url));

const tempDirs: string[] = [];
// Removed when the test process exits, whatever the tests did (they used to stay in /tmp).
process.once('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

export function makeTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'host-test-'));
  tempDirs.push(dir);
  return dir;
}

export function collectingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug', write: (line) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** Polls until predicate() is true; fails after timeoutMs. */
export async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const serverSockets = new WeakMap<Server, Set<Socket>>();

/** Listens on 127.0.0.1 port 0 and remembers the server's sockets so that closeServer can end them. */
export async function listenTcp(server: Server): Promise<number> {
  const sockets = new Set<Socket>();
  serverSockets.set(server, sockets);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const s of serverSockets.get(server) ?? []) s.destroy();
  });
}

export function connectTcp(port: number, allowHalfOpen = true): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port, allowHalfOpen });
    socket.once('error', reject).once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/** A port that was just free (bound then released), for "nobody listens here". */
export async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listenTcp(server);
  await closeServer(server);
  return port;
}

/**
 * Resolves (with the elapsed ms) once the peer closed the connection: FIN
 * ('end'), reset or close. Puts the socket in flowing mode to see the FIN.
 */
export function closedWithin(socket: Socket, timeoutMs: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    if (socket.closed || socket.readableEnded) return resolve(0);
    const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    };
    socket.once('end', done).once('close', done).once('error', done);
    socket.resume();
  });
}

export interface HostChild {
  readonly child: ChildProcess;
  readonly ingressPort: number;
  readonly storagePort: number;
  stderr(): string;
  /** Sends a signal and resolves with the exit code (or signal name); kills after timeoutMs. */
  stop(signal: NodeJS.Signals, timeoutMs: number): Promise<number | string>;
}

export function runMain(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN_JS], { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`main.js still running after ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts main.js and waits for its "host listening" line. */
export function startHostChild(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<HostChild> {
  const child = spawn(process.execPath, [MAIN_JS], { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`host did not start within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    void exited.then((code) => reject(new Error(`host exited early (${code}); stderr: ${stderr}`)));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split('\n').find((l) => l.includes('"host listening"'));
      if (line === undefined) return;
      const fields = JSON.parse(line) as { ingressAddress: string; storageAddress: string };
      clearTimeout(timer);
      resolve({
        child,
        ingressPort: Number(fields.ingressAddress.split(':').pop()),
        storagePort: Number(fields.storageAddress.split(':').pop()),
        stderr: () => stderr,
        stop(signal, stopTimeoutMs) {
          child.kill(signal);
          const killTimer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
          return exited.finally(() => clearTimeout(killTimer));
        },
      });
    });
  });
}

/** Resident set size of a process in bytes, from /proc/PID/status VmRSS. */
export async function readRssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match?.[1] === undefined) throw new Error('no VmRSS');
  return Number(match[1]) * 1024;
}

/**
 * A fresh, empty PostgreSQL database on the test server (TEST_DATABASE_URL,
 * started by scripts/run-tests.mjs), dropped by `drop()`; undefined when
 * there is no test server (the caller skips, saying so).
 */
export async function createTestDatabase(): Promise<{ readonly url: string; drop(): Promise<void> } | undefined> {
  const serverUrl = process.env['TEST_DATABASE_URL'];
  if (serverUrl === undefined) return undefined;
  const { default: pg } = await import('pg');
  const name = `he_test_${randomBytes(8).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Why a PostgreSQL test skips here. */
export const NO_TEST_DATABASE = 'no PostgreSQL test server (TEST_DATABASE_URL; npm test starts one when PostgreSQL is installed, and .ci/run installs it)';
