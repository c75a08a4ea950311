// `npm run docs:config`: rewrites the generated regions of README.md (the two
// configuration tables), env.example (every variable of both programs) and
// deploy/host.env.example (the host's limits and their defaults) from the
// configuration schemas (packages/enclave/src/config.ts,
// packages/host/src/config.ts). Needs the built packages.
//
//   node scripts/write-config-docs.mjs            rewrite the files
//   node scripts/write-config-docs.mjs --check    change nothing; exit 1 naming each file that differs
//   --root DIR                                    files under DIR instead of the repository (tests)

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENCLAVE_CONFIG_SCHEMA } from '@http-enclave/enclave';
import { HOST_CONFIG_SCHEMA } from '@http-enclave/host';
import { renderConfigTable, renderEnvDefaults, renderEnvExample, replaceMarkedRegion, schemaVariables } from '@http-enclave/program';

const args = process.argv.slice(2);
const check = args.includes('--check');
const rootIndex = args.indexOf('--root');
const root = rootIndex >= 0 ? args[rootIndex + 1] : join(dirname(fileURLToPath(import.meta.url)), '..');

const enclave = schemaVariables(ENCLAVE_CONFIG_SCHEMA);
const host = schemaVariables(HOST_CONFIG_SCHEMA);
const hostLimits = ['HOST_MAX_CONNECTIONS', 'HOST_MAX_CONNECTIONS_PER_SOURCE', 'HOST_CONNECT_TIMEOUT_MS', 'HOST_IDLE_TIMEOUT_MS', 'HOST_DRAIN_TIMEOUT_MS'].map((name) => HOST_CONFIG_SCHEMA[name]);

/** Each file, and the regions it carries: [region, marker style, body]. */
const files = [
  ['README.md', [['config-enclave', 'markdown', renderConfigTable(enclave)], ['config-host', 'markdown', renderConfigTable(host)]]],
  ['env.example', [['config-enclave', 'shell', renderEnvExample(enclave)], ['config-host', 'shell', renderEnvExample(host)]]],
  [join('deploy', 'host.env.example'), [['config-host-limits', 'shell', renderEnvDefaults(hostLimits)]]],
];

const stale = [];
for (const [file, regions] of files) {
  const path = join(root, file);
  const before = readFileSync(path, 'utf8');
  const after = regions.reduce((text, [region, style, body]) => replaceMarkedRegion(text, region, style, body), before);
  if (after === before) continue;
  stale.push(file);
  if (!check) writeFileSync(path, after);
}
if (check && stale.length > 0) {
  process.stderr.write(`write-config-docs: not what the configuration schemas say: ${stale.join(', ')} (run npm run docs:config)\n`);
  process.exit(1);
}
if (!check) process.stdout.write(stale.length > 0 ? `write-config-docs: rewrote ${stale.join(', ')}\n` : 'write-config-docs: up to date\n');
