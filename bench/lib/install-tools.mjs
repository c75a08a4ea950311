// Installs the Debian packages the bench needs, only when a tool is missing
// (idempotent: nothing runs when everything is there). One `apt-get update`,
// then one `apt-get install`. Needs root only when something is missing.

import { spawnSync } from 'node:child_process';

/** command -> Debian package */
export const TOOLS = {
  wrk: 'wrk',
  haproxy: 'haproxy',
  socat: 'socat',
  openssl: 'openssl',
  taskset: 'util-linux',
  setsid: 'util-linux',
};

function have(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export function ensureTools(log) {
  const missing = [...new Set(Object.entries(TOOLS).filter(([c]) => !have(c)).map(([, p]) => p))];
  if (missing.length === 0) return [];
  if (process.getuid?.() !== 0) {
    throw new Error(`missing packages ${missing.join(' ')}; install them (apt-get install ${missing.join(' ')}) or run as root`);
  }
  log(`installing ${missing.join(' ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 300_000 });
  if (update.status !== 0) throw new Error(`apt-get update failed (exit ${update.status})`);
  const install = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
    timeout: 600_000,
  });
  if (install.status !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed (exit ${install.status})`);
  const still = Object.keys(TOOLS).filter((c) => !have(c));
  if (still.length) throw new Error(`still missing after apt-get: ${still.join(' ')}`);
  return missing;
}

/** Installed versions, for the report. */
export function toolVersions() {
  const out = {};
  for (const p of [...new Set(Object.values(TOOLS))]) {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', p], { encoding: 'utf8' });
    out[p] = r.status === 0 ? r.stdout.trim() : '?';
  }
  out.node = process.version;
  out['node openssl'] = process.versions.openssl;
  return out;
}
