// A tiny real program for run-program.test.ts: runProgram around a fake
// service whose behaviour the FIXTURE_* variables choose (start-up delay or
// failure, drain time, a fatal error, a flood of stdout lines). Lines on
// stdout say what happened, so the test can check the order.

import { ConfigInvalidError } from './config-error.js';
import { runProgram } from './run-program.js';
import { writeStdout } from './stdout.js';

const env = process.env;
const ms = (name: string): number => Number(env[name] ?? '0');
const sleep = (delay: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, delay));

await runProgram<{ readonly drainMs: number }, { close(): Promise<void> }>({
  name: 'demo',
  preflight: () => (env['FIXTURE_PREFLIGHT'] === 'refuse' ? ['refused: first reason', 'refused: second reason'] : []),
  loadConfig: () => {
    writeStdout('loading config\n');
    if (env['FIXTURE_CONFIG'] === 'invalid') {
      throw new ConfigInvalidError([
        { variable: 'DEMO_PORT', problem: 'must be a decimal integer in 1..65535' },
        { variable: 'DEMO_MODE', problem: 'must be one of a, b' },
      ]);
    }
    if (env['FIXTURE_CONFIG'] === 'bug') throw new TypeError('not a configuration problem');
    return { drainMs: ms('FIXTURE_DRAIN_MS') };
  },
  describeConfigError: (error) => (error instanceof ConfigInvalidError ? error.problems.map((p) => `configuration error: ${p.variable}: ${p.problem}`) : [`configuration error: ${error.message}`]),
  setUp: (config) => ({
    start: async (control) => {
      writeStdout('starting\n');
      await sleep(ms('FIXTURE_START_MS'));
      if (env['FIXTURE_START'] === 'config') throw Object.assign(new Error('DEMO_CERT: unreadable'), { code: 'CONFIG_INVALID' });
      if (env['FIXTURE_START'] === 'fail') throw Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' });
      if (env['FIXTURE_FATAL_MS'] !== undefined) setTimeout(() => control.fail('the service broke'), ms('FIXTURE_FATAL_MS'));
      if (env['FIXTURE_SPAM'] === '1') setInterval(() => writeStdout(`${'x'.repeat(4096)}\n`), 1);
      writeStdout('started\n');
      const serving = setInterval(() => {}, 60_000); // what a listening server does: keeps the process alive
      return {
        close: async () => {
          clearInterval(serving);
          await sleep(config.drainMs);
          writeStdout('closed\n');
        },
      };
    },
    describeStartupError: (error) => `cannot start: ${(error as { code?: string }).code ?? 'unknown'}`,
    onStopSignal: (signal) => writeStdout(`stopping on ${signal}\n`),
    onSecondSignal: (signal) => writeStdout(`second signal ${signal}\n`),
    afterStop: async () => {
      await sleep(10);
      writeStdout('stopped\n');
    },
  }),
});
