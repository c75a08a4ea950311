// `npm run bench`: the host proxy against direct, HAProxy (mode tcp) and socat,
// and the enclave's GET /private-data against a bare Node https server, on
// this machine, interleaved, with medians and ratios. See bench/README.md.
//
// Everything listens on 127.0.0.1 only. Every process the bench starts is its
// own process group (setsid), measured as a group from /proc and killed by
// its id at exit (normal end, error, SIGINT, SIGTERM). Every load is bounded
// in time (wrk -d plus a kill timer, bulk transfers with a timeout).
// Certificates, keys, databases and sockets live in a mkdtemp directory that
// is removed at exit; results go to bench/results/<UTC time>/ (git-ignored).

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { request } from 'node:https';
import { cpus, freemem, totalmem, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTools, toolVersions } from './lib/install-tools.mjs';
import { ProcessTable } from './lib/processes.mjs';
import { openServerSockets, OTHER_CPU_FLAG, otherCpuCores, snapshot, TICKS_PER_SECOND } from './lib/procstat.mjs';
import { renderReport } from './lib/report.mjs';
import { probeTls } from './lib/tls-probe.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const REPO = join(BENCH_DIR, '..');
const LIB = join(BENCH_DIR, 'lib');
const HOST_MAIN = join(REPO, 'packages', 'host', 'dist', 'main.js');
const ENCLAVE_MAIN = join(REPO, 'packages', 'enclave', 'dist', 'main.js');
const NODE = process.execPath;
const T_START = Date.now();

// ------------------------------------------------------------------ parameters
const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(readFileSync(join(BENCH_DIR, 'README.md'), 'utf8'));
  process.exit(0);
}
for (const a of argv) {
  if (a !== '--quick') {
    process.stderr.write(`bench: unknown argument ${a} (only --quick; parameters are environment variables, see bench/README.md)\n`);
    process.exit(2);
  }
}
const QUICK = argv.includes('--quick') || process.env.QUICK === '1';
const int = (name, dflt, quickDflt = dflt) => {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? (QUICK ? quickDflt : dflt) : Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    process.stderr.write(`bench: ${name} must be a non-negative integer\n`);
    process.exit(2);
  }
  return value;
};
const words = (name, dflt) => (process.env[name] ?? dflt).split(/\s+/).filter(Boolean);

const P = {
  QUICK: QUICK ? 1 : 0,
  REPS: int('REPS', 3, 2),
  DURATION: int('DURATION', 3, 2),
  WARMUP: int('WARMUP', 2),
  KA_CONNS: int('KA_CONNS', 50),
  WRK_THREADS: int('WRK_THREADS', 1),
  BULK_BYTES: int('BULK_BYTES', 1 << 30, 256 << 20),
  BULK_TIMEOUT: int('BULK_TIMEOUT', 10),
  DOC_BYTES: int('DOC_BYTES', 256),
  PIN: int('PIN', 1),
  CPU_CLIENT: int('CPU_CLIENT', 0),
  CPU_PROXY: int('CPU_PROXY', 0),
  CPU_BACKEND: int('CPU_BACKEND', 1),
  BASE_PORT: int('BASE_PORT', 18600),
  ENCLAVE_VIA_HOST: int('ENCLAVE_VIA_HOST', 1),
  RETRY_BUSY: int('RETRY_BUSY', 2, 1),
  SKIP_INSTALL: int('SKIP_INSTALL', 0),
  KEEP_RUN_DIR: int('KEEP_RUN_DIR', 0),
  ADDON_BYTES: int('ADDON_BYTES', 1 << 30, 256 << 20),
  ADDON_ROUNDS: int('ADDON_ROUNDS', 100000),
  ADDON_MSG: int('ADDON_MSG', 64),
  ADDON_REPS: int('ADDON_REPS', 5, 3),
  ADDON_TIMEOUT: int('ADDON_TIMEOUT', 20),
  ADDON_PEER_CPU: int('ADDON_PEER_CPU', int('CPU_CLIENT', 0)),
};
const PATHS = words('PATHS', 'direct host haproxy socat');
const TESTS = words('TESTS', 'ka bulk enclave addon');
for (const p of PATHS) if (!['direct', 'host', 'haproxy', 'socat'].includes(p)) fatalUsage(`unknown path ${p} in PATHS`);
for (const t of TESTS) if (!['ka', 'bulk', 'enclave', 'addon'].includes(t)) fatalUsage(`unknown test ${t} in TESTS`);
if (P.REPS < 1 || P.DURATION < 1) fatalUsage('REPS and DURATION must be at least 1');
if (P.DURATION > 10) fatalUsage('DURATION is at most 10 s (every single load stays bounded)');
if (P.KA_CONNS < 1 || P.WRK_THREADS < 1 || P.KA_CONNS < P.WRK_THREADS) fatalUsage('KA_CONNS >= WRK_THREADS >= 1');
if (P.ADDON_MSG < 1 || P.ADDON_MSG > 65536 || P.ADDON_ROUNDS < 1 || P.ADDON_REPS < 1 || P.ADDON_BYTES < 1) fatalUsage('ADDON_MSG must be in 1..65536, ADDON_ROUNDS, ADDON_REPS and ADDON_BYTES at least 1');
if (P.DOC_BYTES < 32 || P.DOC_BYTES > 65536) fatalUsage('DOC_BYTES must be in 32..65536');
const NCPU = cpus().length;
let pinNote = '';
if (P.PIN && Math.max(P.CPU_CLIENT, P.CPU_PROXY, P.CPU_BACKEND, P.ADDON_PEER_CPU) >= NCPU) {
  pinNote = `PIN=1 asked for CPU ${Math.max(P.CPU_CLIENT, P.CPU_PROXY, P.CPU_BACKEND, P.ADDON_PEER_CPU)} but this machine has ${NCPU}; ran unpinned`;
  P.PIN = 0;
}
function fatalUsage(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
const OUT_DIR = process.env.OUT_DIR || join(BENCH_DIR, 'results', stamp);
const RUN_DIR = mkdtempSync(join(process.env.TMPDIR || tmpdir(), 'http-enclave-bench-'));
mkdirSync(OUT_DIR, { recursive: true });
mkdirSync(join(RUN_DIR, 'logs'));
const RAW = [];
const COMMANDS = [];

const log = (line) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const rotate = (list, n) => list.map((_, i) => list[(i + n) % list.length]);

// ------------------------------------------------------------------ process table and cleanup
const table = new ProcessTable({ logDir: join(RUN_DIR, 'logs'), pin: P.PIN === 1, log });
let cleaned = false;
function removeRunDir() {
  if (P.KEEP_RUN_DIR) return;
  try {
    rmSync(RUN_DIR, { recursive: true, force: true });
  } catch {
    /* best effort */
  }
}
process.on('exit', () => {
  table.killAllSync();
  removeRunDir();
});
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(sig, () => {
    if (cleaned) process.exit(code);
    cleaned = true;
    log(`${sig}: stopping ${table.instances.length} process groups`);
    void table.stopAll(2000).finally(() => {
      // an interrupted run leaves no half-empty results directory behind
      if (!process.env.OUT_DIR && !existsSync(join(OUT_DIR, 'report.md'))) rmSync(OUT_DIR, { recursive: true, force: true });
      process.exit(code);
    });
  });
}

// ------------------------------------------------------------------ ports and roles
const B = P.BASE_PORT;
const PORT = {
  'be-https': B + 1,
  'be-tcp': B + 2,
  enclave: B + 3,
  'px-host-https': B + 11,
  'px-host-tcp': B + 12,
  'px-host-enclave': B + 13,
  'px-haproxy-https': B + 21,
  'px-haproxy-tcp': B + 22,
  'px-socat-https': B + 31,
  'px-socat-tcp': B + 32,
  'storage-host': B + 41,
};
const inst = {}; // name -> instance
const pg = (name) => inst[name]?.pgid ?? 0;
const allPgids = () => table.instances.map((i) => i.pgid);
const pathPort = (path, target) => (path === 'direct' ? PORT[target === 'https' ? 'be-https' : 'be-tcp'] : PORT[`px-${path}-${target}`]);
const shownEnv = (env) =>
  Object.entries(env)
    .map(([k, v]) => `${k}=${k === 'ENCLAVE_KEY_BASE64' ? '<random 32 bytes, redacted>' : v}`)
    .join(' ');
const redact = (s) => (TOKEN ? s.replaceAll(TOKEN, '<redacted>') : s);

async function startInstance(name, cpu, argv, env = {}) {
  const shownArgv = argv.map((a) => (a === NODE ? 'node' : a.startsWith(`${REPO}/`) ? relative(REPO, a) : a));
  const shown = `${Object.keys(env).length ? `${shownEnv(env)} ` : ''}${P.PIN ? `taskset -c ${cpu} ` : ''}${shownArgv.join(' ')}`.replaceAll(RUN_DIR, '$RUN_DIR');
  inst[name] = await table.start(name, { cpu, port: PORT[name], argv, env, shown });
  log(`started ${name} pid ${inst[name].pid} on ${P.PIN ? `CPU ${cpu}` : 'any CPU'}, port ${PORT[name]}`);
}

function hostEnv(bindPort, targetPort, storageName) {
  return {
    BIND_ADDR: `127.0.0.1:${bindPort}`,
    ENCLAVE_ADDR: `tcp://127.0.0.1:${targetPort}`,
    STORAGE_LISTEN: `unix://${join(RUN_DIR, `${storageName}.sock`)}`,
    STORAGE_PATH: join(RUN_DIR, `${storageName}.db`),
    EGRESS_LISTEN: 'off', // the bench's enclaves use KEY_SOURCE=env; several hosts would share the default port
    ADMIN_LISTEN: 'off', // likewise
    TELEMETRY_LISTEN: 'off',
    // All load comes from 127.0.0.1: the per-source and total caps would measure the limits, not the proxy.
    HOST_MAX_CONNECTIONS: '10000',
    HOST_MAX_CONNECTIONS_PER_SOURCE: '10000',
    LOG_LEVEL: 'warn',
  };
}

const HAPROXY_CFG = (listen, target) => `global
  nbthread 1
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 10m
  timeout server 10m
frontend fe
  bind 127.0.0.1:${listen}
  default_backend be
backend be
  server s1 127.0.0.1:${target}
`;

async function startProxy(path, target) {
  const name = `px-${path}-${target}`;
  const listen = PORT[name];
  const to = target === 'https' ? PORT['be-https'] : target === 'tcp' ? PORT['be-tcp'] : PORT.enclave;
  if (path === 'host') {
    // our host: node execs directly under taskset (no wrapper in the group); its storage worker stays idle
    await startInstance(name, P.CPU_PROXY, [NODE, HOST_MAIN], hostEnv(listen, to, name));
  } else if (path === 'haproxy') {
    const cfg = join(RUN_DIR, `${name}.cfg`);
    writeFileSync(cfg, HAPROXY_CFG(listen, to));
    writeFileSync(join(OUT_DIR, 'haproxy.cfg'), HAPROXY_CFG(listen, to));
    await startInstance(name, P.CPU_PROXY, ['haproxy', '-db', '-f', cfg]);
  } else if (path === 'socat') {
    // "TCP-LISTEN fork -> TCP" as people run it; backlog raised from socat's default 5
    await startInstance(name, P.CPU_PROXY, ['socat', `TCP-LISTEN:${listen},bind=127.0.0.1,reuseaddr,fork,backlog=1024`, `TCP:127.0.0.1:${to}`]);
  }
}

// ------------------------------------------------------------------ measurements
function addCommand(line) {
  if (!COMMANDS.includes(line)) COMMANDS.push(line);
}

function record(row) {
  RAW.push(row);
}

function wrkArgv(port, urlPath, seconds, headers) {
  const a = ['wrk', `-t${P.WRK_THREADS}`, `-c${P.KA_CONNS}`, `-d${seconds}s`, '--timeout', '5s', '--latency', '-s', join(LIB, 'wrk-json.lua')];
  for (const h of headers) a.push('-H', h);
  a.push(`https://127.0.0.1:${port}${urlPath}`);
  return a;
}

/**
 * Runs one load and records it; when other work used more than OTHER_CPU_FLAG
 * of a core meanwhile, waits 2 s and repeats it (at most RETRY_BUSY times),
 * keeping the last attempt and the other-work figures of the discarded ones.
 */
async function measured(once) {
  const retries = [];
  for (let attempt = 0; ; attempt++) {
    const row = await once();
    if (!row) return;
    const other = otherCpuCores(row.pre, row.post);
    if (!(other > OTHER_CPU_FLAG) || attempt >= P.RETRY_BUSY) {
      if (retries.length) row.retries = retries;
      record(row);
      return;
    }
    retries.push({ otherCpu: +other.toFixed(3), value: row.res.rps ?? row.res.MBps });
    log(`    other work used ${other.toFixed(2)} cores during ${row.test} ${row.path} rep${row.rep}; repeating it`);
    await sleep(2000);
  }
}

/** One wrk run. test: 'ka' (path = direct|host|haproxy|socat) or 'enc' (path = bare|enclave|enclave-via-host). */
async function runWrk(test, path, rep, seconds, recordIt = true) {
  if (!recordIt) return runWrkOnce(test, path, rep, seconds, false);
  return measured(() => runWrkOnce(test, path, rep, seconds, true));
}

async function runWrkOnce(test, path, rep, seconds, recordIt) {
  let port;
  let urlPath = '/';
  const headers = [];
  if (test === 'ka') port = pathPort(path, 'https');
  else {
    port = path === 'bare' ? PORT['be-https'] : path === 'enclave' ? PORT.enclave : PORT['px-host-enclave'];
    urlPath = '/private-data';
    headers.push(`Authorization: Bearer ${TOKEN}`);
  }
  const a = wrkArgv(port, urlPath, seconds, headers);
  const leftoverPre = openServerSockets(table.instances.map((i) => i.port));
  const pre = recordIt ? snapshot(allPgids()) : undefined;
  const r = await table.run(a, { cpu: P.CPU_CLIENT, timeoutMs: (seconds + 8) * 1000 });
  if (!recordIt) return;
  await sleep(300); // forked socat children exit and are reaped: their CPU lands in the parent's cutime
  const post = snapshot(allPgids());
  const leftover = openServerSockets(table.instances.map((i) => i.port));
  const line = r.stdout.split('\n').find((l) => l.startsWith('JSON '));
  let res;
  try {
    res = line ? JSON.parse(line.slice(5)) : { error: `no result (exit ${r.code}${r.timedOut ? ', killed at timeout' : ''}): ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ')}` };
  } catch {
    res = { error: 'unparsable wrk output' };
  }
  if (rep === 1) addCommand(`${test} ${path}: ${P.PIN ? `taskset -c ${P.CPU_CLIENT} ` : ''}${redact(a.map((x) => (x.includes(' ') ? `'${x}'` : x)).join(' ')).replace(LIB, 'bench/lib')}`);
  const roles = test === 'ka'
    ? { proxy: path === 'direct' ? 0 : pg(`px-${path}-https`), backend: pg('be-https') }
    : { server: path === 'bare' ? pg('be-https') : pg('enclave'), storage: path === 'bare' ? 0 : pg('storage-host'), proxy: path === 'enclave-via-host' ? pg('px-host-enclave') : 0 };
  const row = { test, path, rep, roles, res, pre, post, leftoverPre, leftover };
  const errs = ['err_connect', 'err_read', 'err_write', 'err_status', 'err_timeout'].map((k) => res[k] ?? 0).reduce((x, y) => x + y, 0);
  log(`  ${test} ${path} rep${rep}: ${res.error ? `ERROR ${res.error}` : `${Math.round(res.rps)} req/s p99 ${(res.lat_p99_us / 1000).toFixed(2)} ms${errs ? ` errors ${errs}` : ''}`}`);
  checkAlive();
  return row;
}

async function runBulk(dir, path, rep, bytes = P.BULK_BYTES, recordIt = true) {
  if (!recordIt) return runBulkOnce(dir, path, rep, bytes, false);
  return measured(() => runBulkOnce(dir, path, rep, bytes, true));
}

async function runBulkOnce(dir, path, rep, bytes, recordIt) {
  const port = pathPort(path, 'tcp');
  const a = [NODE, join(LIB, 'bulk-client.mjs'), '127.0.0.1', String(port), String(bytes), dir, String(P.BULK_TIMEOUT)];
  const leftoverPre = openServerSockets(table.instances.map((i) => i.port));
  const pre = recordIt ? snapshot(allPgids()) : undefined;
  const r = await table.run(a, { cpu: P.CPU_CLIENT, timeoutMs: (P.BULK_TIMEOUT + 5) * 1000 });
  if (!recordIt) return;
  await sleep(300);
  const post = snapshot(allPgids());
  const leftover = openServerSockets(table.instances.map((i) => i.port));
  let res;
  try {
    res = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    res = { error: `no result (exit ${r.code}): ${r.stderr.trim().split('\n').pop() ?? ''}` };
  }
  if (rep === 1) addCommand(`bulk-${dir} ${path}: ${P.PIN ? `taskset -c ${P.CPU_CLIENT} ` : ''}node bench/lib/bulk-client.mjs 127.0.0.1 ${port} ${bytes} ${dir} ${P.BULK_TIMEOUT}`);
  const row = { test: `bulk-${dir}`, path, rep, roles: { proxy: path === 'direct' ? 0 : pg(`px-${path}-tcp`), backend: pg('be-tcp') }, res, pre, post, leftoverPre, leftover };
  log(`  bulk-${dir} ${path} rep${rep}: ${res.error ? `ERROR ${res.error}` : `${res.MBps} MB/s${res.complete ? '' : ' INCOMPLETE'}`}`);
  checkAlive();
  return row;
}

/**
 * One `addon` load: bench/lib/stream-pair.mjs moves the payload between two
 * processes over (kind) the addon's socketPair() + socketFromFd, or a plain
 * Node unix socket. mode: up | down | pp (ping-pong of ADDON_MSG-byte messages).
 * CPU comes from the two processes themselves (process.cpuUsage over the
 * measured transfer only: no Node start-up, no warm-up).
 */
async function runAddon(kind, mode, rep) {
  return measured(() => runAddonOnce(kind, mode, rep));
}

async function runAddonOnce(kind, mode, rep) {
  const amount = mode === 'pp' ? P.ADDON_ROUNDS : P.ADDON_BYTES;
  const peerCpu = P.PIN ? String(P.ADDON_PEER_CPU) : '-';
  const a = [NODE, join(LIB, 'stream-pair.mjs'), kind, mode, String(amount), RUN_DIR, String(P.ADDON_TIMEOUT), peerCpu, String(P.ADDON_MSG)];
  const pre = snapshot(allPgids(), { memory: false });
  const r = await table.run(a, { cpu: P.CPU_CLIENT, timeoutMs: (P.ADDON_TIMEOUT + 10) * 1000 });
  await sleep(100);
  const post = snapshot(allPgids(), { memory: false });
  let res;
  try {
    res = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    res = { error: `no result (exit ${r.code}${r.timedOut ? ', killed at timeout' : ''}): ${r.stderr.trim().split('\n').pop() ?? ''}` };
  }
  if (res.complete === false && !res.error) res.error = 'incomplete';
  if (rep === 1) addCommand(`addon-${mode} ${kind}: ${P.PIN ? `taskset -c ${P.CPU_CLIENT} ` : ''}node bench/lib/stream-pair.mjs ${kind} ${mode} ${amount} $RUN_DIR ${P.ADDON_TIMEOUT} ${peerCpu} ${P.ADDON_MSG}   (peer: ${peerCpu === '-' ? '' : `taskset -c ${peerCpu} `}node bench/lib/stream-pair.mjs --peer ${kind} …)`);
  const row = { test: `addon-${mode}`, path: kind, rep, roles: {}, res, pre, post };
  log(`  addon-${mode} ${kind} rep${rep}: ${res.error ? `ERROR ${res.error}` : mode === 'pp' ? `${Math.round(res.rps)} round trips/s p50 ${res.p50Us} µs` : `${res.MBps} MB/s`}${res.error ? '' : `, CPU ${(res.cpuSelfS + res.cpuPeerS).toFixed(3)} s`}`);
  return row;
}

/** True when the addon loads and makes a socket pair (closed again at once). */
async function addonUsable() {
  try {
    const v = await import(join(REPO, 'packages', 'vsock', 'dist', 'index.js'));
    const [x, y] = v.socketPair();
    closeSync(x);
    closeSync(y);
    return '';
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

const deadReported = new Set();
function checkAlive() {
  for (const i of table.instances) {
    if (i.exit && !deadReported.has(i.name)) {
      deadReported.add(i.name);
      log(`WARNING: ${i.name} is dead (code ${i.exit.code}, signal ${i.exit.signal}); its rows will show errors`);
    }
  }
}

// ------------------------------------------------------------------ enclave set-up helpers
let TOKEN = '';

function httpsCall(port, method, path, body) {
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${TOKEN}`, host: `127.0.0.1:${port}` };
    if (body) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = body.length;
    }
    const req = request({ host: '127.0.0.1', port, method, path, headers, rejectUnauthorized: false, agent: false, timeout: 5000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** A JSON document of exactly `bytes` bytes. */
function makeDocument(bytes) {
  const base = { kind: 'bench-profile', owner: 'bench', created: '2026-01-01T00:00:00Z', tags: ['a', 'b', 'c'], note: '' };
  const empty = Buffer.byteLength(JSON.stringify(base));
  base.note = 'x'.repeat(Math.max(0, bytes - empty));
  const doc = Buffer.from(JSON.stringify(base));
  if (doc.length !== bytes) throw new Error(`DOC_BYTES ${bytes} too small (minimum ${empty})`);
  return doc;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function idleBusy(ms) {
  const a = snapshot([]);
  await sleep(ms);
  const b = snapshot([]);
  return a.cpus.map((c, i) => (b.cpus[i].busy - c.busy) / Math.max(1, b.cpus[i].total - c.total));
}

/** Commit and locally modified files of the code measured (read-only git; nothing when not a git checkout). */
function gitState() {
  const git = (...args) => spawnSync('git', ['--no-optional-locks', '-C', REPO, ...args], { encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return undefined;
  const dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'packages')
    .stdout.split('\n')
    .filter(Boolean)
    .map((l) => l.slice(3));
  return { commit: head.stdout.trim(), dirty };
}

/** Process logs (no secrets: programs at LOG_LEVEL=warn, helpers print their port) to the results directory. */
function saveLogs() {
  const logsOut = join(OUT_DIR, 'logs');
  mkdirSync(logsOut, { recursive: true });
  for (const f of readdirSync(join(RUN_DIR, 'logs'))) cpSync(join(RUN_DIR, 'logs', f), join(logsOut, f));
  return logsOut;
}

// ------------------------------------------------------------------ main
async function main() {
  log(`bench ${QUICK ? 'QUICK ' : ''}REPS=${P.REPS} DURATION=${P.DURATION}s BULK_BYTES=${P.BULK_BYTES} paths [${PATHS.join(' ')}] tests [${TESTS.join(' ')}]`);
  log(`results ${OUT_DIR}; scratch ${RUN_DIR}`);
  for (const f of [HOST_MAIN, ENCLAVE_MAIN]) {
    try {
      readFileSync(f);
    } catch {
      throw new Error(`${relative(REPO, f)} is missing: run \`npm run build\` first (npm run bench does it)`);
    }
  }
  const installed = P.SKIP_INSTALL ? [] : ensureTools(log);
  const foreign = {};
  for (const d of ['haproxy', 'socat', 'wrk']) {
    const r = spawnSync('pgrep', ['-x', d], { encoding: 'utf8' });
    if (r.stdout.trim()) foreign[d] = r.stdout.trim().split('\n').join(' ');
  }
  if (Object.keys(foreign).length) log(`note: processes not started by the bench are running: ${JSON.stringify(foreign)} (left alone)`);

  // certificate: ECDSA P-256 self-signed, shared by the bare server and the enclave
  const certDir = join(RUN_DIR, 'certs');
  mkdirSync(certDir, { mode: 0o700 });
  const CERT = join(certDir, 'ecdsa.crt');
  const KEY = join(certDir, 'ecdsa.key');
  run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', KEY, '-out', CERT, '-days', '30', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
  chmodSync(KEY, 0o600);
  const DOC = makeDocument(P.DOC_BYTES);
  const DOC_PATH = join(RUN_DIR, 'document.json');
  writeFileSync(DOC_PATH, DOC);
  TOKEN = randomBytes(24).toString('base64url');

  const needHttps = TESTS.includes('ka') || TESTS.includes('enclave');
  const needTcp = TESTS.includes('bulk');
  const proxies = PATHS.filter((p) => p !== 'direct');

  if (needHttps) await startInstance('be-https', P.CPU_BACKEND, [NODE, join(LIB, 'https-server.mjs'), String(PORT['be-https']), CERT, KEY, DOC_PATH]);
  if (needTcp) await startInstance('be-tcp', P.CPU_BACKEND, [NODE, join(LIB, 'tcp-backend.mjs'), String(PORT['be-tcp'])]);
  for (const p of proxies) {
    if (TESTS.includes('ka')) await startProxy(p, 'https');
    if (needTcp) await startProxy(p, 'tcp');
  }

  let enclaveCheck;
  if (TESTS.includes('enclave')) {
    // host started only for its storage service (its ingress gets no traffic); on the host's CPU
    await startInstance('storage-host', P.CPU_PROXY, [NODE, HOST_MAIN], hostEnv(PORT['storage-host'], PORT.enclave, 'storage'));
    await startInstance('enclave', P.CPU_BACKEND, [NODE, ENCLAVE_MAIN], {
      USE_TLS: 'true',
      TLS_CERT_PATH: CERT,
      TLS_KEY_PATH: KEY,
      ENCLAVE_LISTEN: `tcp://127.0.0.1:${PORT.enclave}`,
      STORAGE_ADDR: `unix://${join(RUN_DIR, 'storage.sock')}`,
      ENCLAVE_KEY_BASE64: randomBytes(32).toString('base64'),
      AUTH_MODE: 'token',
      LOG_LEVEL: 'warn',
    });
    if (P.ENCLAVE_VIA_HOST) await startInstance('px-host-enclave', P.CPU_PROXY, [NODE, HOST_MAIN], hostEnv(PORT['px-host-enclave'], PORT.enclave, 'px-host-enclave'));
    const post = await httpsCall(PORT.enclave, 'POST', '/private-data', DOC);
    if (post.status !== 201) throw new Error(`enclave POST /private-data answered ${post.status}: ${post.body.toString().slice(0, 200)}`);
    const got = await httpsCall(PORT.enclave, 'GET', '/private-data');
    const bare = await httpsCall(PORT['be-https'], 'GET', '/private-data');
    if (got.status !== 200 || !got.body.equals(DOC)) throw new Error(`enclave GET /private-data answered ${got.status} with a different body`);
    const headerBytes = (r) => Object.entries(r.headers).reduce((s, [k, v]) => s + k.length + String(v).length + 4, 0);
    enclaveCheck = {
      postStatus: post.status,
      getStatus: got.status,
      bodyBytes: got.body.length,
      bareBodyBytes: bare.body.length,
      sameBody: got.body.equals(bare.body),
      enclaveHeaders: Object.keys(got.headers).join(', '),
      bareHeaders: Object.keys(bare.headers).join(', '),
      headerBytesEnclave: headerBytes(got),
      headerBytesBare: headerBytes(bare),
    };
    log(`enclave: POST ${post.status}, GET ${got.status} (${got.body.length} B body, same as the bare server's: ${enclaveCheck.sameBody})`);
  }

  // TLS: negotiated parameters and session resumption (off on the bare server; checked on the enclave)
  const tls = {};
  if (inst['be-https']) tls['bare Node https'] = await probeTls(PORT['be-https']);
  if (inst.enclave) tls.enclave = await probeTls(PORT.enclave);
  for (const [k, v] of Object.entries(tls)) log(`tls ${k}: ${v.protocol} ${v.cipher} ${v.group} ${v.certKey}, resumption ${v.resumed ? 'YES' : 'no'}`);

  const initial = snapshot(allPgids());
  const background = await idleBusy(1000);
  if (background.some((b) => b > 0.1)) {
    log(`WARNING: the machine is not quiet (CPU busy ${background.map((b) => `${Math.round(100 * b)}%`).join(' / ')} with the bench idle); figures will be noisy, the report flags the loads that shared the machine`);
  }
  const meta = {
    dateUtc: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    kernel: release(),
    cpu: cpus()[0]?.model ?? '?',
    nproc: NCPU,
    memMiB: Math.round(totalmem() / 2 ** 20),
    freeMiB: Math.round(freemem() / 2 ** 20),
    loadavg: loadavg().map((x) => x.toFixed(2)).join(' '),
    backgroundBusy: background,
    params: P,
    pinNote,
    paths: PATHS,
    tests: TESTS,
    versions: toolVersions(),
    installed,
    foreign,
    tls,
    enclaveCheck,
    ticksPerSecond: TICKS_PER_SECOND,
    initial,
    git: gitState(),
    addonUnavailable: TESTS.includes('addon') ? await addonUsable() : '',
  };

  // warm-up (not recorded): JIT, pools, the storage statement cache
  if (P.WARMUP > 0) {
    log(`warm-up (${P.WARMUP}s per path, 64 MiB bulk per path and direction; not recorded)`);
    if (TESTS.includes('ka')) for (const p of PATHS) await runWrk('ka', p, 0, P.WARMUP, false);
    if (TESTS.includes('bulk')) for (const p of PATHS) for (const d of ['up', 'down']) await runBulk(d, p, 0, 64 << 20, false);
  }
  const encVariants = ['bare', 'enclave', ...(P.ENCLAVE_VIA_HOST ? ['enclave-via-host'] : [])];
  if (P.WARMUP > 0 && TESTS.includes('enclave')) for (const v of encVariants) await runWrk('enc', v, 0, P.WARMUP, false);

  for (let rep = 1; rep <= P.REPS; rep++) {
    const order = rotate(PATHS, rep - 1);
    log(`rep ${rep}/${P.REPS}: path order ${order.join(' ')}`);
    for (const t of TESTS) {
      if (t === 'ka') for (const p of order) await runWrk('ka', p, rep, P.DURATION);
      if (t === 'bulk') for (const d of ['up', 'down']) for (const p of order) await runBulk(d, p, rep);
      if (t === 'enclave') for (const v of rotate(encVariants, rep - 1)) await runWrk('enc', v, rep, P.DURATION);
    }
  }
  if (TESTS.includes('addon')) {
    if (meta.addonUnavailable) log(`addon: skipped, the vsock addon is not usable: ${meta.addonUnavailable}`);
    else {
      for (let rep = 1; rep <= P.ADDON_REPS; rep++) {
        const kinds = rotate(['plain', 'addon'], rep - 1);
        log(`addon rep ${rep}/${P.ADDON_REPS}: order ${kinds.join(' ')}`);
        for (const mode of ['up', 'down', 'pp']) for (const k of kinds) await runAddon(k, mode, rep);
      }
    }
  }
  await sleep(1000); // connections closed by the last load are gone before the final sample
  const final = snapshot(allPgids());

  // stop everything (TERM, then KILL after 5 s) so the bare server prints its counters
  log('stopping');
  cleaned = true;
  await table.stopAll(5000);
  saveLogs();
  let backendStats;
  try {
    const line = readFileSync(join(RUN_DIR, 'logs', 'be-https.log'), 'utf8').split('\n').filter((l) => l.startsWith('STATS ')).pop();
    backendStats = line ? JSON.parse(line.slice(6)) : undefined;
  } catch {
    backendStats = undefined;
  }
  meta.elapsedS = Math.round((Date.now() - T_START) / 1000);
  meta.backendStats = backendStats;
  meta.instances = table.instances.map((i) => ({ name: i.name, pid: i.pid, pgid: i.pgid, cpu: P.PIN ? i.cpu : 'any', port: i.port, shown: i.shown, exit: i.exit, stoppedBy: i.stoppedBy }));
  meta.final = final;
  meta.commands = COMMANDS;
  meta.outDir = relative(REPO, OUT_DIR);
  writeFileSync(join(OUT_DIR, 'raw.jsonl'), RAW.map((r) => JSON.stringify(r)).join('\n') + '\n');
  writeFileSync(join(OUT_DIR, 'meta.json'), JSON.stringify(meta, null, 1));
  const md = renderReport(OUT_DIR);
  writeFileSync(join(OUT_DIR, 'report.md'), md);
  process.stdout.write(md);
  log(`report: ${relative(process.cwd(), join(OUT_DIR, 'report.md'))} (${meta.elapsedS} s)`);
}

main().then(
  () => process.exit(0),
  async (error) => {
    log(`ERROR: ${error instanceof Error ? error.message : String(error)}`);
    if (!cleaned) {
      cleaned = true;
      await table.stopAll(2000);
    }
    try {
      log(`process logs kept in ${relative(process.cwd(), saveLogs())}`);
    } catch {
      /* nothing to keep */
    }
    process.exit(1);
  },
);
