// `npm start`: the whole local stack in one command for a new user.
// Installs and builds what is missing, creates `.env` with a development
// master key on first run, starts the enclave and the host (on 127.0.0.1:8443,
// a port a non-root user can bind), prints curl commands to try, and on
// Ctrl-C stops both cleanly. Node built-ins only (it runs before npm ci).

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = spawnSync(process.execPath, [join(root, 'scripts', 'ensure-built.mjs')], { stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status ?? 1);

// ENV_FILE moves the .env file (tests use a scratch one); the default is the repository's .env.
const envPath = process.env.ENV_FILE || join(root, '.env');
const KEY_WARNING = [
  '# Development master key, created by `npm start`. Never use it in production:',
  '# a key in the environment is readable by whoever runs the host.',
];
if (!existsSync(envPath)) {
  writeFileSync(envPath, [...KEY_WARNING, `ENCLAVE_KEY_BASE64=${randomBytes(32).toString('base64')}`, 'BIND_ADDR=127.0.0.1:8443', ''].join('\n'), { mode: 0o600 });
  console.log('created .env with a new development master key (ENCLAVE_KEY_BASE64) and BIND_ADDR=127.0.0.1:8443');
} else if (!process.env.ENCLAVE_KEY_BASE64 && !readDotEnv(envPath).ENCLAVE_KEY_BASE64) {
  // .env copied from env.example: fill in the one thing it cannot ship.
  const lines = readFileSync(envPath, 'utf8').split('\n').filter((line) => !/^\s*ENCLAVE_KEY_BASE64\s*=/.test(line));
  writeFileSync(envPath, [...KEY_WARNING, `ENCLAVE_KEY_BASE64=${randomBytes(32).toString('base64')}`, ...lines].join('\n'), { mode: 0o600 });
  console.log('added a new development master key (ENCLAVE_KEY_BASE64) to .env');
}

/** Minimal .env reader: KEY=VALUE lines, # comments, optional surrounding quotes. The process environment wins. */
function readDotEnv(path) {
  const values = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (match === null) continue;
    values[match[1]] = match[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return values;
}

const env = { BIND_ADDR: '127.0.0.1:8443', ...readDotEnv(envPath), ...process.env };
const bind = env.BIND_ADDR.replace(/^tcp:\/\//, '');
const port = bind.slice(bind.lastIndexOf(':') + 1);

const children = new Map();
let stopping = false;

function start(name, readyMessage) {
  const child = spawn(process.execPath, [join(root, 'packages', name, 'dist', 'main.js')], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.set(name, child);
  const show = (line) => {
    let text = line;
    try {
      const { time, level, program, msg, ...fields } = JSON.parse(line);
      void time;
      void program;
      const extra = Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(' ');
      text = `${level.padEnd(5)} ${msg}${extra ? `  ${extra}` : ''}`;
    } catch {
      // not a log line: print as is
    }
    console.log(`[${name}] ${text}`);
    if (text.includes(readyMessage)) onListening(name);
  };
  createInterface({ input: child.stdout }).on('line', show);
  createInterface({ input: child.stderr }).on('line', show);
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (!stopping) {
      console.log(`[${name}] exited (${code ?? signal}); stopping the stack`);
      stop(code === 0 ? 1 : code ?? 1);
    } else if (children.size === 0) {
      process.exit(0);
    }
  });
}

const listening = new Set();
function onListening(name) {
  listening.add(name);
  if (listening.size !== 2) return;
  const token = randomBytes(32).toString('base64url');
  console.log(`
HTTP Enclave is running. The host forwards https://localhost:${port} to the enclave.
Try it (a bearer token is your private namespace; this one is fresh):

  TOKEN=${token}
  curl -k -XPOST https://localhost:${port}/private-data -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"hello":"world"}'
  curl -k https://localhost:${port}/private-data -H "Authorization: Bearer $TOKEN"
  curl -k https://localhost:${port}/healthz

Ctrl-C stops both programs.
`);
}

function stop(exitCode = 0) {
  if (stopping) return;
  stopping = true;
  for (const child of children.values()) child.kill('SIGTERM');
  if (children.size === 0) process.exit(exitCode);
  setTimeout(() => {
    for (const child of children.values()) child.kill('SIGKILL');
    process.exit(exitCode);
  }, 35_000).unref();
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

start('host', 'host listening');
start('enclave', 'enclave listening');
