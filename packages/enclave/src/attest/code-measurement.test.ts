// The code measurement (PCR0 of the dev provider) on a temporary directory:
// its exact format, and that it changes exactly when the measured code does.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { measureCodeDirectory, measureRunningEnclave } from './code-measurement.js';

let directory: string;
before(() => {
  directory = mkdtempSync(join(tmpdir(), 'he-measure-'));
  mkdirSync(join(directory, 'http'));
  writeFileSync(join(directory, 'main.js'), 'console.log(1);\n');
  writeFileSync(join(directory, 'http', 'api.js'), 'export {};\n');
  writeFileSync(join(directory, 'main.d.ts'), 'export {};\n');
});
after(() => rmSync(directory, { recursive: true, force: true }));

function entry(path: string, content: string): Buffer {
  const pathBytes = Buffer.from(path);
  const pathLength = Buffer.alloc(4);
  pathLength.writeUInt32BE(pathBytes.length);
  const contentLength = Buffer.alloc(8);
  contentLength.writeBigUInt64BE(BigInt(Buffer.byteLength(content)));
  return Buffer.concat([pathLength, pathBytes, contentLength, Buffer.from(content)]);
}

test('the measurement is SHA-384 over the domain and the length-prefixed .js files in byte order of their paths', () => {
  const expected = createHash('sha384')
    .update(Buffer.concat([Buffer.from('http-enclave/code-measurement/v1\0'), entry('http/api.js', 'export {};\n'), entry('main.js', 'console.log(1);\n')]))
    .digest();
  assert.deepEqual(measureCodeDirectory(directory), expected);
  assert.equal(expected.length, 48);
});

test('the measurement changes when a code file changes, is added or is renamed, and only then', () => {
  const before = measureCodeDirectory(directory);
  writeFileSync(join(directory, 'main.d.ts'), 'export declare const x: 1;\n'); // not code: no change
  writeFileSync(join(directory, 'notes.txt'), 'hello');
  assert.deepEqual(measureCodeDirectory(directory), before);
  symlinkSync(join(directory, 'main.js'), join(directory, 'linked.js')); // links are not followed
  assert.deepEqual(measureCodeDirectory(directory), before);

  writeFileSync(join(directory, 'main.js'), 'console.log(2);\n');
  const changed = measureCodeDirectory(directory);
  assert.notDeepEqual(changed, before);
  writeFileSync(join(directory, 'main.js'), 'console.log(1);\n');
  assert.deepEqual(measureCodeDirectory(directory), before, 'same code, same measurement');

  writeFileSync(join(directory, 'http', 'extra.js'), '');
  const added = measureCodeDirectory(directory);
  assert.notDeepEqual(added, before);
  rmSync(join(directory, 'http', 'extra.js'));
  writeFileSync(join(directory, 'http', 'api2.js'), 'export {};\n');
  rmSync(join(directory, 'http', 'api.js'));
  assert.notDeepEqual(measureCodeDirectory(directory), before, 'a rename changes it');
});

test('the running enclave measures its own dist: three distinct non-zero 48-byte values, stable across calls', () => {
  const first = measureRunningEnclave();
  const second = measureRunningEnclave();
  assert.deepEqual(first, second);
  for (const value of [first.pcr0, first.pcr1, first.pcr2]) {
    assert.equal(value.length, 48);
    assert.notDeepEqual(value, Buffer.alloc(48));
  }
  assert.equal(new Set([first.pcr0, first.pcr1, first.pcr2].map((value) => value.toString('hex'))).size, 3);
});
