// A whole local stack for end-to-end tests: the real host (ingress on
// 127.0.0.1, port chosen by the kernel; storage on a unix socket) and the
// real enclave (listening on a unix socket), in a fresh temporary directory.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENCLAVE_MAIN, HOST_MAIN, startProgram, type RunningProgram } from './processes.js';

export interface StackOptions {
  /** Extra enclave variables (TLS_CERT_PATH, AUTH_MODE, …). */
  readonly enclaveEnv?: Record<string, string>;
  readonly hostEnv?: Record<string, string>;
  /** Reuse a directory (database, sockets) from an earlier stack. */
  readonly dir?: string;
  /** Reuse a master key (base64) from an earlier stack. */
  readonly masterKeyBase64?: string;
}

export interface Stack {
  readonly dir: string;
  readonly masterKeyBase64: string;
  readonly databasePath: string;
  host: RunningProgram;
  enclave: RunningProgram;
  /** Port of the host's client listener on 127.0.0.1. */
  port: number;
  /** Port of the host's admin listener (/healthz, /readyz, /metrics) on 127.0.0.1; 0 when ADMIN_LISTEN is off. */
  adminPort: number;
  restartHost(): Promise<void>;
  restartEnclave(): Promise<void>;
  /** Everything both programs printed, in all their lifetimes. */
  allOutput(): string;
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'http-enclave-e2e-'));
  const masterKeyBase64 = options.masterKeyBase64 ?? randomBytes(32).toString('base64');
  const databasePath = join(dir, 'store.db');
  const enclaveSocket = join(dir, 'enclave.sock');
  const storageSocket = join(dir, 'storage.sock');
  const previousOutput: string[] = [];

  const hostEnv = {
    BIND_ADDR: '127.0.0.1:0',
    ENCLAVE_ADDR: `unix://${enclaveSocket}`,
    STORAGE_LISTEN: `unix://${storageSocket}`,
    STORAGE_PATH: databasePath,
    // Each stack its own egress socket: a fixed TCP port would collide between concurrent tests.
    EGRESS_LISTEN: `unix://${join(dir, 'egress.sock')}`,
    // The admin listener on a free port of its own (its address is in the "host listening" line).
    ADMIN_LISTEN: 'tcp://127.0.0.1:0',
    TELEMETRY_LISTEN: `unix://${join(dir, 'telemetry.sock')}`,
    LOG_LEVEL: 'debug',
    ...options.hostEnv,
  };
  const enclaveEnv = {
    // KEY_SOURCE=kms refuses ENCLAVE_KEY_BASE64 (one key source only).
    ...(options.enclaveEnv?.['KEY_SOURCE'] === 'kms' ? {} : { ENCLAVE_KEY_BASE64: masterKeyBase64 }),
    ENCLAVE_LISTEN: `unix://${enclaveSocket}`,
    STORAGE_ADDR: `unix://${storageSocket}`,
    TELEMETRY_ADDR: `unix://${join(dir, 'telemetry.sock')}`,
    TLS_CERT_PATH: join(dir, 'absent-cert.pem'),
    TLS_KEY_PATH: join(dir, 'absent-key.pem'),
    LOG_LEVEL: 'debug',
    ...options.enclaveEnv,
  };

  const startHost = async (): Promise<{ program: RunningProgram; port: number; adminPort: number }> => {
    const program = startProgram(HOST_MAIN, hostEnv, dir);
    const line = await program.waitForLog('host listening');
    const address = String(line['ingressAddress'] ?? '');
    const port = Number(/:(\d+)$/.exec(address)?.[1]);
    if (!Number.isInteger(port) || port <= 0) throw new Error(`cannot read the host port from ${JSON.stringify(line)}`);
    const adminPort = Number(/^tcp:\/\/.*:(\d+)$/.exec(String(line['adminAddress'] ?? ''))?.[1] ?? 0);
    return { program, port, adminPort };
  };
  const startEnclave = async (): Promise<RunningProgram> => {
    const program = startProgram(ENCLAVE_MAIN, enclaveEnv, dir);
    await program.waitForLog('enclave listening');
    return program;
  };

  const first = await startHost();
  let enclave: RunningProgram;
  try {
    enclave = await startEnclave();
  } catch (error) {
    // Leave nothing behind: the host we started, and the directory we made.
    await first.program.stop();
    if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const stack: Stack = {
    dir,
    masterKeyBase64,
    databasePath,
    host: first.program,
    enclave,
    port: first.port,
    adminPort: first.adminPort,
    async restartHost() {
      await stack.host.stop();
      previousOutput.push(stack.host.output());
      const next = await startHost();
      stack.host = next.program;
      stack.port = next.port;
      stack.adminPort = next.adminPort;
    },
    async restartEnclave() {
      await stack.enclave.stop();
      previousOutput.push(stack.enclave.output());
      stack.enclave = await startEnclave();
    },
    allOutput: () => [...previousOutput, stack.host.output(), stack.enclave.output()].join('\n'),
    async stop() {
      await Promise.all([stack.enclave.stop(), stack.host.stop()]);
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
  return stack;
}
