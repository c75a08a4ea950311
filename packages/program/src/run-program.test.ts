// runProgram with real processes: run-program-test-fixture.js is spawned,
// signalled for real, and its exit codes and stderr lines are checked.

import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, test } from 'node:test';

const FIXTURE = fileURLToPath(new URL('./run-program-test-fixture.js', import.meta.url));

interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  exit(timeoutMs?: number): Promise<number | null>;
}

const children = new Set<ChildProcessWithoutNullStreams>();
// A failed assertion must not leave a fixture running (and the test file hanging).
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
});

function start(env: Record<string, string>): Running {
  const child = spawn(process.execPath, [FIXTURE], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitFor: async (text, timeoutMs = 5_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!stdout.includes(text)) {
        if (Date.now() > deadline || child.exitCode !== null) assert.fail(`no "${text}" on stdout; stdout: ${stdout}; stderr: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    exit: async (timeoutMs = 5_000) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const [code] = (await exited) as [number | null];
      clearTimeout(timer);
      return code;
    },
  };
}

test('a configuration error exits 78 with the program\'s lines, each prefixed with its name', async () => {
  const program = start({ FIXTURE_CONFIG: 'invalid' });
  assert.equal(await program.exit(), 78);
  assert.equal(program.stderr(), 'demo: configuration error: DEMO_PORT: must be a decimal integer in 1..65535\ndemo: configuration error: DEMO_MODE: must be one of a, b\n');
  assert.equal(program.stdout(), 'loading config\n');
});

test('preflight refusals exit 78, one line each, before the configuration is read', async () => {
  const program = start({ FIXTURE_PREFLIGHT: 'refuse' });
  assert.equal(await program.exit(), 78);
  assert.equal(program.stderr(), 'demo: refused: first reason\ndemo: refused: second reason\n');
  assert.equal(program.stdout(), '');
});

test('any other error while loading the configuration exits 1, naming the error class only', async () => {
  const program = start({ FIXTURE_CONFIG: 'bug' });
  assert.equal(await program.exit(), 1);
  assert.equal(program.stderr(), 'demo: cannot load the configuration: TypeError\n');
});

test('CONFIG_INVALID during start-up exits 78; any other start-up error exits 1 with the program\'s one line', async () => {
  const config = start({ FIXTURE_START: 'config' });
  assert.equal(await config.exit(), 78);
  assert.equal(config.stderr(), 'demo: configuration error: DEMO_CERT: unreadable\n');
  const failed = start({ FIXTURE_START: 'fail' });
  assert.equal(await failed.exit(), 1);
  assert.equal(failed.stderr(), 'demo: cannot start: EADDRINUSE\n');
});

test('SIGTERM drains (close, then afterStop) and exits 0; SIGINT too', async () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const program = start({ FIXTURE_DRAIN_MS: '200' });
    await program.waitFor('started\n');
    const sent = Date.now();
    program.child.kill(signal);
    assert.equal(await program.exit(), 0, program.stderr());
    assert.ok(Date.now() - sent >= 190, 'exited before the drain');
    assert.equal(program.stdout(), `loading config\nstarting\nstarted\nstopping on ${signal}\nclosed\nstopped\n`);
    assert.equal(program.stderr(), '');
  }
});

test('a second signal during a long drain exits 1 at once', async () => {
  const program = start({ FIXTURE_DRAIN_MS: '60000' });
  await program.waitFor('started\n');
  program.child.kill('SIGTERM');
  await program.waitFor('stopping on SIGTERM\n');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(program.child.exitCode, null, 'still draining');
  const sent = Date.now();
  program.child.kill('SIGINT');
  assert.equal(await program.exit(), 1);
  assert.ok(Date.now() - sent < 2_000);
  assert.match(program.stdout(), /second signal SIGINT\n$/);
});

test('a signal during start-up still drains once started, and exits 0', async () => {
  const program = start({ FIXTURE_START_MS: '500' });
  await program.waitFor('starting\n');
  program.child.kill('SIGTERM');
  assert.equal(await program.exit(), 0, program.stderr());
  assert.equal(program.stdout(), 'loading config\nstarting\nstopping on SIGTERM\nstarted\nclosed\nstopped\n');
});

test('SIGUSR1 is ignored: no inspector opens, the program keeps running', async () => {
  const program = start({});
  await program.waitFor('started\n');
  program.child.kill('SIGUSR1');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(program.child.exitCode, null, 'still running after SIGUSR1');
  assert.doesNotMatch(program.stderr(), /Debugger listening/);
  const inspector = connect(9229, '127.0.0.1');
  try {
    await assert.rejects(once(inspector, 'connect'), { code: 'ECONNREFUSED' });
  } finally {
    inspector.destroy();
  }
  program.child.kill('SIGTERM');
  assert.equal(await program.exit(), 0);
});

test('control.fail: a fatal error once running exits 1 with one prefixed line', async () => {
  const program = start({ FIXTURE_FATAL_MS: '50' });
  assert.equal(await program.exit(), 1);
  assert.equal(program.stderr(), 'demo: the service broke\n');
});

test('a broken stdout (EPIPE) costs lines, never the process', async () => {
  const program = start({ FIXTURE_SPAM: '1' });
  await program.waitFor('started\n');
  program.child.stdout.destroy();
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(program.child.exitCode, null, `died on a broken stdout: ${program.stderr()}`);
  program.child.kill('SIGTERM');
  assert.equal(await program.exit(), 0, program.stderr());
  assert.equal(program.stderr(), '');
});
