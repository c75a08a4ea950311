// Starts the real `host` and `enclave` programs as child processes for
// end-to-end tests, captures everything they print (for the secret-leak
// checks), and stops them by PID.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const HOST_MAIN = join(REPO_ROOT, 'packages', 'host', 'dist', 'main.js');
export const ENCLAVE_MAIN = join(REPO_ROOT, 'packages', 'enclave', 'dist', 'main.js');

/**
 * Node flags the programs run with, as in the image: on a Node that has it
 * (22.14+, 24), --disable-sigusr1, without which production mode refuses to
 * start (enclave/src/debugger-guard.ts). Node 20 has no such flag.
 */
export const PROGRAM_NODE_FLAGS: readonly string[] = process.allowedNodeEnvironmentFlags.has('--disable-sigusr1') ? ['--disable-sigusr1'] : [];

/** How long a program may take to print its listening line. */
const START_TIMEOUT_MS = 15_000;

export interface RunningProgram {
  readonly child: ChildProcess;
  /** Everything printed so far, stdout and stderr. */
  output(): string;
  /** Resolves with the first JSON log line whose msg matches. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startProgram(main: string, env: Record<string, string>, cwd: string = REPO_ROOT): RunningProgram {
  const child = spawn(process.execPath, [...PROGRAM_NODE_FLAGS, main], {
    cwd,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const waiters: Array<() => void> = [];
  const onText = (chunk: Buffer): void => {
    text += chunk.toString('utf8');
    for (const w of waiters.splice(0)) w();
  };
  child.stdout?.on('data', onText);
  child.stderr?.on('data', onText);
  const exited = once(child, 'exit');

  const findLog = (msg: string): Record<string, unknown> | undefined => {
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed['msg'] === msg) return parsed;
      } catch {
        // a partial line; wait for more
      }
    }
    return undefined;
  };

  return {
    child,
    output: () => text,
    waitForLog(msg, timeoutMs = START_TIMEOUT_MS) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${msg}" log line within ${timeoutMs} ms; output:\n${text}`)), timeoutMs);
        const check = (): void => {
          const found = findLog(msg);
          if (found !== undefined) {
            clearTimeout(timer);
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            reject(new Error(`program exited (${child.exitCode ?? child.signalCode}) before "${msg}"; output:\n${text}`));
          } else {
            waiters.push(check);
          }
        };
        child.once('exit', () => check());
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const [code] = (await exited) as [number | null];
      clearTimeout(timer);
      return code;
    },
  };
}

/** Runs a program that is expected to stop by itself (start-up errors); resolves with its exit code and output. */
export async function runToExit(main: string, env: Record<string, string>, timeoutMs = 15_000): Promise<{ code: number | null; output: string; stderr: string }> {
  const child = spawn(process.execPath, [...PROGRAM_NODE_FLAGS, main], { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString();
    stderr += c.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, output, stderr };
}
