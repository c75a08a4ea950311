// The shared configuration rules, on a small schema: exact values, bounds,
// empty values, unknown names under the program's prefixes, defaults and
// derived defaults, every problem `NAME: problem` in ConfigInvalidError.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigInvalidError } from './config-error.js';
import { boolean, integer, offOr, oneOf, text } from './config-parsers.js';
import { ConfigProblems } from './config-problems.js';
import { ConfigReader, type EnvironmentRules } from './config-reader.js';
import { defineSchema, schemaVariables } from './config-schema.js';

const SCHEMA = defineSchema({
  DEMO_PORT: { default: '8080', parse: integer(1, 65_535), meaning: 'Port.' },
  DEMO_MODE: { default: 'fast', parse: oneOf(['fast', 'safe']), meaning: 'Mode.' },
  DEMO_TLS: { default: 'true', parse: boolean(), meaning: 'TLS.' },
  DEMO_LISTEN: { shownDefault: 'tcp://${DEMO_PORT}', parse: offOr(text()), meaning: 'Listener.' },
  DEMO_TOKEN: { shownDefault: '(required)', parse: text(), meaning: 'Token.' },
  DEMO_NOTE: { parse: text(), meaning: 'Note.' },
});
const RULES: EnvironmentRules = { program: 'demo', ownPrefixes: ['DEMO_'], readElsewhere: ['DEMO_OTHER'], foreignPrefixes: ['DEMO_TOOL_'] };

function load(env: NodeJS.ProcessEnv): { port: number; mode: string; tls: boolean; listen: string | undefined; note: string | undefined } {
  const problems = new ConfigProblems();
  const reader = new ConfigReader(env, schemaVariables(SCHEMA), RULES, problems);
  const port = reader.get(SCHEMA.DEMO_PORT);
  const config = {
    port,
    mode: reader.get(SCHEMA.DEMO_MODE),
    tls: reader.get(SCHEMA.DEMO_TLS),
    listen: reader.isSet(SCHEMA.DEMO_LISTEN) ? reader.read(SCHEMA.DEMO_LISTEN) : reader.parseAs(SCHEMA.DEMO_LISTEN, `tcp://${port}`),
    note: reader.read(SCHEMA.DEMO_NOTE),
  };
  reader.finish();
  problems.throwIfAny();
  return config;
}

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    load(env);
  } catch (error) {
    assert.ok(error instanceof ConfigInvalidError);
    assert.equal(error.code, 'CONFIG_INVALID');
    return error.problems.map((p) => `${p.variable}: ${p.problem}`);
  }
  return [];
}

test('defaults, derived defaults, off', () => {
  assert.deepEqual(load({}), { port: 8080, mode: 'fast', tls: true, listen: 'tcp://8080', note: undefined });
  assert.deepEqual(load({ DEMO_PORT: '9', DEMO_TLS: 'false', DEMO_LISTEN: 'off', DEMO_NOTE: 'n' }), { port: 9, mode: 'fast', tls: false, listen: undefined, note: 'n' });
});

test('values exactly as written: case, blanks, integer syntax and bounds', () => {
  assert.deepEqual(problemsOf({ DEMO_MODE: 'FAST' }), ['DEMO_MODE: must be one of fast, safe']);
  assert.deepEqual(problemsOf({ DEMO_MODE: 'fast ' }), ['DEMO_MODE: must be one of fast, safe']);
  assert.deepEqual(problemsOf({ DEMO_TLS: 'True' }), ['DEMO_TLS: must be one of true, false']);
  assert.deepEqual(problemsOf({ DEMO_LISTEN: 'OFF' }), []);
  for (const bad of ['0x10', '+1', '1e3', '01', ' 1', '1.5', '-1']) assert.deepEqual(problemsOf({ DEMO_PORT: bad }), ['DEMO_PORT: must be a decimal integer in 1..65535'], bad);
  assert.deepEqual(problemsOf({ DEMO_PORT: '0' }), ['DEMO_PORT: must be in 1..65535']);
  assert.deepEqual(problemsOf({ DEMO_PORT: '65536' }), ['DEMO_PORT: must be in 1..65535']);
  assert.deepEqual(problemsOf({ DEMO_NOTE: 'a\0b' }), ['DEMO_NOTE: contains a NUL byte']);
});

test('an empty value is an error, read or not, worded by whether a default exists', () => {
  assert.deepEqual(problemsOf({ DEMO_PORT: '' }), ['DEMO_PORT: is empty (unset it to use the default)']);
  assert.deepEqual(problemsOf({ DEMO_LISTEN: ' ' }), ['DEMO_LISTEN: is empty (unset it to use the default)']);
  assert.deepEqual(problemsOf({ DEMO_NOTE: '' }), ['DEMO_NOTE: is empty (unset it, or give it a value)']);
  // DEMO_TOKEN is never read by load(): finish() still reports it.
  assert.deepEqual(problemsOf({ DEMO_TOKEN: '' }), ['DEMO_TOKEN: is empty (it needs a value)']);
});

test('unknown names with the program\'s prefixes are refused, sorted, first; other names, readElsewhere and foreignPrefixes are left alone', () => {
  assert.deepEqual(problemsOf({ DEMO_PROT: '1', DEMO_MODE: 'x', DEMO_AAA: '', DEMO_OTHER: 'x', DEMO_TOOL_PORT: '1', OTHER_PORT: 'x', PATH: '/bin' }), [
    'DEMO_AAA: unknown variable (the demo reads no such variable; README.md, "Configuration", lists them)',
    'DEMO_PROT: unknown variable (the demo reads no such variable; README.md, "Configuration", lists them)',
    'DEMO_MODE: must be one of fast, safe',
  ]);
});

test('problems are one line each and all reported at once', () => {
  const problems = problemsOf({ DEMO_PORT: 'x', DEMO_MODE: 'a\nb', DEMO_TLS: 'yes' });
  assert.equal(problems.length, 3);
  const error = new ConfigInvalidError(problems.map((p) => ({ variable: p.split(':')[0] ?? '', problem: 'x' })));
  assert.equal(error.message, 'DEMO_PORT: x; DEMO_MODE: x; DEMO_TLS: x');
  const problemsList = new ConfigProblems();
  problemsList.add('DEMO_NOTE', 'bad\r\nvalue\u0000');
  assert.deepEqual(problemsList.list, [{ variable: 'DEMO_NOTE', problem: 'bad??value?' }]);
  assert.ok(problemsList.has('DEMO_NOTE') && !problemsList.has('DEMO_PORT'));
});

test('a declared default that does not parse is a bug, thrown at once', () => {
  const broken = defineSchema({ DEMO_PORT: { default: 'eighty', parse: integer(1, 2), meaning: 'Port.' } });
  const reader = new ConfigReader({}, schemaVariables(broken), RULES, new ConfigProblems());
  assert.throws(() => reader.get(broken.DEMO_PORT), /DEMO_PORT: the declared default does not parse/);
});
