import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, errorCode } from './log.js';

test('one JSON line per entry with time, level, program, msg and fields; level filter applies', () => {
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', write: (l) => void lines.push(l), now: () => 0 });
  logger.debug('hidden');
  logger.info('hello', { bytes: 5 });
  assert.equal(lines.length, 1);
  assert.equal(lines[0], '{"time":"1970-01-01T00:00:00.000Z","level":"info","program":"host","msg":"hello","bytes":5}\n');
});

test('fields cannot overwrite the fixed keys', () => {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', write: (l) => void lines.push(l), now: () => 0 });
  logger.warn('real', { level: 'debug', program: 'enclave', msg: 'fake', time: 'then' });
  assert.deepEqual(JSON.parse(lines[0] ?? '{}'), { time: '1970-01-01T00:00:00.000Z', level: 'warn', program: 'host', msg: 'real' });
});

test('errorCode gives the code only, never the message', () => {
  assert.equal(errorCode(Object.assign(new Error('secret payload'), { code: 'EPIPE' })), 'EPIPE');
  assert.equal(errorCode(new Error('secret payload')), 'UNKNOWN');
  assert.equal(errorCode('secret'), 'UNKNOWN');
});
