// The deployment files in deploy/ must agree with the code: every variable
// they set is one the program reads, and its value passes the program's own
// configuration check; the Dockerfile copies paths that exist, pins its base
// image by digest and never carries a key; the staged enclave files are
// exactly what runs (no tests) and load.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ENCLAVE_ENV_VARIABLES, loadEnclaveConfig } from '@http-enclave/enclave';
import { HOST_ENV_VARIABLES, loadHostConfig } from '@http-enclave/host';
import { ConfigInvalidError } from '@http-enclave/program';
import { REPO_ROOT } from '../support/processes.js';

const deploy = (name: string): string => readFileSync(join(REPO_ROOT, 'deploy', name), 'utf8');
const dockerfile = deploy('enclave.Dockerfile');
const unit = deploy('http-enclave-host.service');

/** Instructions of a Dockerfile, continuation lines joined, comments dropped. */
function instructions(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** `NAME=value` assignments of a file of env lines; commented-out ones too when `commented`. */
function assignments(text: string, commented: boolean): Map<string, string> {
  const pattern = commented ? /^#?\s*([A-Z][A-Z0-9_]*)=(.*)$/gm : /^([A-Z][A-Z0-9_]*)=(.*)$/gm;
  return new Map([...text.matchAll(pattern)].map((m) => [m[1]!, m[2]!.trim()] as const));
}

const finalStage = instructions(dockerfile.slice(dockerfile.lastIndexOf('\nFROM ')));
const dockerEnv = new Map(
  finalStage
    .filter((line) => line.startsWith('ENV '))
    .flatMap((line) => [...line.slice(4).matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S+)/g)].map((m) => [m[1]!, m[2]!] as const)),
);

/** Variables Node itself reads, not in the programs' tables. */
const NODE_VARIABLES = new Set(['NODE_ENV']);

/**
 * Problems that only mean "vsock is not built yet": until the vsock issue
 * lands, the host refuses vsock:// for STORAGE_LISTEN. Nothing else may fail.
 */
const notYetBuilt = (problem: string): boolean => /vsock is not supported yet/.test(problem);

test('the Dockerfile sets only enclave variables, never the key, and they pass the enclave configuration check', () => {
  const known = new Set(ENCLAVE_ENV_VARIABLES.map((v) => v.name));
  assert.ok(dockerEnv.size > 0, 'no ENV in the final stage');
  for (const name of dockerEnv.keys()) assert.ok(known.has(name) || NODE_VARIABLES.has(name), `Dockerfile ENV ${name} is not an enclave variable`);
  assert.equal(dockerEnv.get('ENCLAVE_LISTEN'), 'vsock://any:5005');
  assert.equal(dockerEnv.get('STORAGE_ADDR'), 'vsock://3:5006');
  assert.equal(dockerEnv.get('ATTESTATION_PROVIDER'), 'nsm');
  assert.equal(dockerEnv.get('ENCLAVE_MODE'), 'production');
  assert.equal(dockerEnv.get('KEY_SOURCE'), 'kms');
  assert.equal(dockerEnv.get('EGRESS_ADDR'), 'vsock://3:5007');
  assert.ok(!/ENCLAVE_KEY_BASE64\s*=/.test(instructions(dockerfile).join('\n')), 'a key in the enclave image is readable by the operator');
  // Build arguments (${NAME}) take the values a deployment passes, or their ARG defaults when it passes none.
  const argDefaults = new Map(finalStage.flatMap((line) => {
    const m = /^ARG ([A-Z0-9_]+)(?:=(\S*))?$/.exec(line);
    return m === null ? [] : [[m[1]!, m[2]] as const];
  }));
  const imageEnv = (buildArgs: Record<string, string>): Record<string, string> =>
    Object.fromEntries([...dockerEnv].map(([name, value]) => [name, value.replace(/^\$\{([A-Z0-9_]+)\}$/, (_m, arg: string) => buildArgs[arg] ?? argDefaults.get(arg) ?? '')]));
  const problemsOf = (env: Record<string, string>): string[] => {
    try {
      loadEnclaveConfig(env);
      return [];
    } catch (error) {
      assert.ok(error instanceof ConfigInvalidError, String(error));
      return error.problems.map((p) => `${p.variable}: ${p.problem}`).filter((p) => !notYetBuilt(p));
    }
  };
  const kmsKeyId = 'arn:aws:kms:eu-west-3:111122223333:key/6f1f9c4e-0c44-4a8e-9a39-1f0b5d0c2a11';
  assert.deepEqual(problemsOf(imageEnv({ KMS_KEY_ID: kmsKeyId, AWS_REGION: 'eu-west-3', ADMIN_TOKEN_SHA256: 'ab'.repeat(32) })), []);
  // Built without the admin argument: the admin endpoints are off, and the image still starts (a review found it refused to).
  assert.deepEqual(problemsOf(imageEnv({ KMS_KEY_ID: kmsKeyId, AWS_REGION: 'eu-west-3' })), []);
  // Built without the KMS key: refused at start, by name.
  assert.deepEqual(problemsOf(imageEnv({})).filter((p) => p.startsWith('KMS_KEY_ID')), ['KMS_KEY_ID: is empty (it needs a value)']);
});

test('deploy/host.env.example sets only host variables, and they pass the host configuration check', () => {
  const example = deploy('host.env.example');
  const known = new Set(HOST_ENV_VARIABLES.map((v) => v.name));
  for (const name of assignments(example, true).keys()) assert.ok(known.has(name), `host.env.example sets ${name}, which the host does not read`);
  const set = assignments(example, false);
  assert.equal(set.get('STORAGE_LISTEN'), 'vsock://any:5006');
  assert.equal(set.get('ENCLAVE_CID'), '16');
  assert.equal(set.get('ENCLAVE_PORT'), '5005');
  try {
    loadHostConfig(Object.fromEntries(set));
  } catch (error) {
    assert.ok(error instanceof ConfigInvalidError, String(error));
    assert.deepEqual(error.problems.map((p) => `${p.variable}: ${p.problem}`).filter((p) => !notYetBuilt(p)), []);
  }
});

test('the systemd unit runs the host from a built checkout and keeps its database in its StateDirectory', () => {
  // Directives of the unit (the last one wins for repeated keys; Environment= is read below).
  const directives = new Map([...unit.matchAll(/^([A-Za-z]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.trim()] as const));
  const workingDirectory = directives.get('WorkingDirectory');
  const execStart = directives.get('ExecStart') ?? '';
  assert.equal(workingDirectory, '/opt/http-enclave');
  const script = execStart.split(/\s+/)[1] ?? '';
  assert.ok(existsSync(join(REPO_ROOT, script)), `ExecStart runs ${script}, which a built checkout does not have`);
  const storagePath = [...unit.matchAll(/^Environment=STORAGE_PATH=(\S+)$/gm)].map((m) => m[1])[0];
  assert.equal(storagePath, `/var/lib/${directives.get('StateDirectory')}/http-enclave.db`);
  assert.equal(assignments(deploy('host.env.example'), false).get('STORAGE_PATH'), storagePath);
  assert.equal(directives.get('ProtectSystem'), 'strict');
  assert.equal(directives.get('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
  assert.equal(directives.get('EnvironmentFile'), '/etc/http-enclave/host.env');
});

test('the Dockerfile pins one base image by digest and copies paths that exist', () => {
  const froms = instructions(dockerfile).filter((line) => line.startsWith('FROM '));
  assert.equal(froms.length, 2);
  const images = froms.map((line) => line.split(/\s+/)[1]);
  assert.equal(images[0], images[1], 'both stages use the same base image');
  assert.match(images[0] ?? '', /^node:24-bookworm-slim@sha256:[0-9a-f]{64}$/);
  for (const line of instructions(dockerfile).filter((l) => l.startsWith('COPY ') && !l.includes('--from='))) {
    const sources = line.split(/\s+/).slice(1, -1);
    for (const source of sources) assert.ok(existsSync(join(REPO_ROOT, source)), `COPY ${source}: not in the repository`);
  }
  const cmd = finalStage.find((line) => line.startsWith('CMD '));
  assert.equal(cmd, 'CMD ["node", "--disable-sigusr1", "packages/enclave/dist/main.js"]');
});

test('the staged enclave files are its runtime closure, without tests, and they load', (t) => {
  const absent = join(REPO_ROOT, 'packages', 'vsock', 'build', 'ABSENT');
  if (existsSync(absent)) {
    t.skip(`the vsock addon is not built here: ${readFileSync(absent, 'utf8').trim()}`);
    return;
  }
  const out = mkdtempSync(join(tmpdir(), 'stage-enclave-'));
  try {
    const app = join(out, 'app');
    const staged = spawnSync(process.execPath, [join(REPO_ROOT, 'deploy', 'stage-enclave.mjs'), app], { encoding: 'utf8', env: { ...process.env, SOURCE_DATE_EPOCH: '0' } });
    assert.equal(staged.status, 0, staged.stderr);
    const files = staged.stdout.trim().split('\n').map((line) => line.split('  ')[1] ?? '');
    assert.ok(files.includes('packages/enclave/dist/main.js'));
    for (const name of ['protocol', 'transport', 'vsock']) assert.ok(files.some((f) => f.startsWith(`packages/${name}/dist/`)), `${name} not staged`);
    assert.ok(files.includes('packages/vsock/build/Release/vsock.node'), 'the vsock addon is not staged');
    // Third-party packages are staged whole; which ones is a reviewed list (README, "Runtime dependencies").
    const thirdParty = new Set(files.filter((f) => f.startsWith('node_modules/')).map((f) => /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1] ?? f));
    assert.deepEqual([...thirdParty].sort(), ['@smithy/core', '@smithy/signature-v4', '@smithy/types', 'tslib']);
    for (const file of files.filter((f) => !f.startsWith('node_modules/'))) {
      assert.doesNotMatch(file, /(^|[/.-])test([.-]|$)|\.map$|\.d\.ts$|tsbuildinfo/, `${file} is not run by the enclave`);
      assert.doesNotMatch(file, /^packages\/(host|client)\//, `${file} is not part of the enclave`);
      assert.match(file, /^packages\/[a-z]+\/(package\.json|dist\/.+\.js|build\/Release\/[^/]+\.node)$/, `${file}: unexpected in the image`);
    }
    const load = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `const m = await import(${JSON.stringify(join(app, 'packages', 'enclave', 'dist', 'index.js'))}); if (typeof m.runEnclave !== 'function') process.exit(3);`],
      { encoding: 'utf8', cwd: app },
    );
    assert.equal(load.status, 0, load.stderr);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
