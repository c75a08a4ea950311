// Process groups of the bench. Every process is spawned with setsid
// (detached: true), so its pid is its process-group id and everything it
// forks stays in that group; /proc CPU and memory are summed per group, and
// stopping kills the group by its id: TERM, then KILL after a grace period.
// Nothing else is ever signalled. taskset execs the program, so pinning adds
// no wrapper process to the measured group.

import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Minimal environment for children: no npm_* or stray HOST_* variables leak into the programs (the host rejects unknown HOST_*). */
export function baseEnv() {
  const env = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
  for (const k of ['HOME', 'LANG', 'TMPDIR']) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
}

/** True when something listens on 127.0.0.1:port (or any address) over TCP, read from /proc/net/tcp{,6}. */
export function isListening(port) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 3 && cols[1].endsWith(hex) && cols[3] === '0A') return true;
    }
  }
  return false;
}

function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function pgrpOf(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return NaN;
  }
}

export class ProcessTable {
  /** @param {{ logDir: string, pin: boolean, log: (line: string) => void }} options */
  constructor(options) {
    this.logDir = options.logDir;
    this.pin = options.pin;
    this.log = options.log;
    /** long-lived instances, in start order */
    this.instances = [];
    /** pgids of short-lived commands (load generators) still running */
    this.transient = new Set();
    this.stopping = false;
  }

  argvFor(cpu, argv) {
    return this.pin && cpu !== undefined ? ['taskset', '-c', String(cpu), ...argv] : argv;
  }

  /** Starts a long-lived instance; resolves once it listens on `port`. */
  async start(name, { cpu, port, argv, env = {}, shown }) {
    if (isListening(port)) throw new Error(`${name}: port ${port} is already in use (set BASE_PORT)`);
    const logPath = join(this.logDir, `${name}.log`);
    const fd = openSync(logPath, 'a');
    const full = this.argvFor(cpu, argv);
    const child = spawn(full[0], full.slice(1), { detached: true, stdio: ['ignore', fd, fd], env: { ...baseEnv(), ...env } });
    closeSync(fd);
    const inst = { name, cpu, port, pid: child.pid, pgid: child.pid, logPath, shown: shown ?? full.join(' '), exit: undefined, stoppedBy: undefined };
    child.on('error', (error) => {
      inst.exit ??= { code: null, signal: null, error: error.message, duringRun: !this.stopping };
    });
    child.on('exit', (code, signal) => {
      inst.exit = { code, signal, duringRun: !this.stopping, at: new Date().toISOString() };
      if (!this.stopping) this.log(`WARNING: ${name} (pid ${inst.pid}) exited during the run: code ${code} signal ${signal}; log ${logPath}`);
    });
    this.instances.push(inst);
    if (child.pid === undefined) throw new Error(`${name}: could not spawn ${full[0]}`);
    for (let i = 0; i < 150; i++) {
      if (inst.exit) throw new Error(`${name} exited at start (code ${inst.exit.code}, signal ${inst.exit.signal}):\n${tail(logPath, 20)}`);
      if (isListening(port)) break;
      await sleep(100);
      if (i === 149) throw new Error(`${name} did not listen on port ${port} within 15 s:\n${tail(logPath, 20)}`);
    }
    const pg = pgrpOf(inst.pid);
    if (pg !== inst.pid) throw new Error(`${name}: process group ${pg} is not its pid ${inst.pid}`);
    return inst;
  }

  /** Runs a bounded command in its own group; kills the group at timeoutMs. Resolves { code, signal, stdout, stderr, timedOut }. */
  run(argv, { cpu, timeoutMs, env = {} }) {
    const full = this.argvFor(cpu, argv);
    return new Promise((resolve) => {
      const child = spawn(full[0], full.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...baseEnv(), ...env } });
      const pgid = child.pid;
      if (pgid !== undefined) this.transient.add(pgid);
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-pgid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }, timeoutMs);
      const finish = (code, signal, error) => {
        clearTimeout(timer);
        this.transient.delete(pgid);
        resolve({ code, signal, stdout, stderr: error ? `${stderr}${error.message}` : stderr, timedOut });
      };
      child.on('error', (error) => finish(null, null, error));
      child.on('close', (code, signal) => finish(code, signal));
    });
  }

  alive(inst) {
    return inst.exit === undefined;
  }

  /** TERM every group, wait up to graceMs, then KILL what is left. Records how each instance ended. */
  async stopAll(graceMs = 5000) {
    this.stopping = true;
    for (const pg of this.transient) signalGroup(pg, 'SIGKILL');
    const live = this.instances.filter((i) => groupAlive(i.pgid));
    for (const i of live) signalGroup(i.pgid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && live.some((i) => groupAlive(i.pgid))) await sleep(100);
    for (const i of live) {
      if (groupAlive(i.pgid)) {
        i.stoppedBy = 'SIGKILL';
        signalGroup(i.pgid, 'SIGKILL');
      } else {
        i.stoppedBy = 'SIGTERM';
      }
    }
    await sleep(200);
  }

  /** Last resort at process exit (synchronous). */
  killAllSync() {
    this.stopping = true;
    for (const pg of this.transient) signalGroup(pg, 'SIGKILL');
    for (const i of this.instances) if (groupAlive(i.pgid)) signalGroup(i.pgid, 'SIGKILL');
  }
}

function signalGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* gone */
  }
}

export function tail(path, lines) {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
