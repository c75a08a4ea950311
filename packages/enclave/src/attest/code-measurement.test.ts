// The code measurement (PCR0 of the dev provider) on temporary directories:
// its exact format, that it changes exactly when loadable code does (a .js
// file, a package.json, an addon's .node file, a dependency's file), and that
// a symbolic link inside a measured package is refused.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { measureCodeDirectory, measurePackages, measureRunningEnclave, packageClosure } from './code-measurement.js';
import { CodeMeasurementError } from '../enclave-errors.js';

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

test('the measurement is SHA-384 over the domain and the length-prefixed loadable files in byte order of their paths', () => {
  const expected = createHash('sha384')
    .update(Buffer.concat([Buffer.from('http-enclave/code-measurement/v2\0'), entry('http/api.js', 'export {};\n'), entry('main.js', 'console.log(1);\n')]))
    .digest();
  assert.deepEqual(measureCodeDirectory(directory), expected);
  assert.equal(expected.length, 48);
});

test('the measurement changes when a code file changes, is added or is renamed, and only then', () => {
  const before = measureCodeDirectory(directory);
  writeFileSync(join(directory, 'main.d.ts'), 'export declare const x: 1;\n'); // not code: no change
  writeFileSync(join(directory, 'notes.txt'), 'hello');
  assert.deepEqual(measureCodeDirectory(directory), before);
  mkdirSync(join(directory, 'node_modules', 'nested'), { recursive: true }); // nested packages are measured as packages of their own
  writeFileSync(join(directory, 'node_modules', 'nested', 'index.js'), 'x');
  assert.deepEqual(measureCodeDirectory(directory), before);
  rmSync(join(directory, 'node_modules'), { recursive: true });

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

test('a symbolic link inside a measured directory is refused, not skipped', () => {
  const linked = mkdtempSync(join(tmpdir(), 'he-measure-link-'));
  try {
    writeFileSync(join(linked, 'main.js'), '');
    symlinkSync(join(directory, 'main.js'), join(linked, 'elsewhere.js'));
    assert.throws(() => measureCodeDirectory(linked), (error: unknown) => error instanceof CodeMeasurementError && /elsewhere\.js is a symbolic link/.test(error.message));
    rmSync(join(linked, 'elsewhere.js'));
    symlinkSync(directory, join(linked, 'linked-directory'));
    assert.throws(() => measureCodeDirectory(linked), CodeMeasurementError);
  } finally {
    rmSync(linked, { recursive: true, force: true });
  }
});

test('the package closure covers every dependency the loader would reach, package.json files and addons included', () => {
  const tree = mkdtempSync(join(tmpdir(), 'he-measure-tree-'));
  try {
    const app = join(tree, 'app');
    const lib = join(tree, 'node_modules', 'lib');
    const addon = join(tree, 'node_modules', 'addon');
    for (const dir of [join(app, 'dist'), lib, join(addon, 'build', 'Release')]) mkdirSync(dir, { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', dependencies: { lib: '1.0.0' } }));
    writeFileSync(join(app, 'dist', 'main.js'), 'import "lib";');
    writeFileSync(join(lib, 'package.json'), JSON.stringify({ name: 'lib', main: 'index.js', dependencies: { addon: '1.0.0' } }));
    writeFileSync(join(lib, 'index.js'), 'module.exports = 1;');
    writeFileSync(join(addon, 'package.json'), JSON.stringify({ name: 'addon' }));
    writeFileSync(join(addon, 'build', 'Release', 'addon.node'), Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    const closure = packageClosure(app);
    assert.deepEqual(closure.map((entry) => entry.name).sort(), ['addon', 'app', 'lib']);
    const before = measurePackages(closure);
    const changes: [string, string | Buffer][] = [
      [join(lib, 'package.json'), JSON.stringify({ name: 'lib', main: 'other.js', dependencies: { addon: '1.0.0' } })],
      [join(addon, 'build', 'Release', 'addon.node'), Buffer.from([0x7f, 0x45, 0x4c, 0x47])],
      [join(app, 'package.json'), JSON.stringify({ name: 'app', type: 'module', dependencies: { lib: '1.0.0' } })],
    ];
    for (const [file, content] of changes) {
      writeFileSync(file, content);
      assert.notDeepEqual(measurePackages(packageClosure(app)), before, `a change to ${file} changes the measurement`);
    }
    symlinkSync(join(app, 'dist', 'main.js'), join(addon, 'sneaky.js'));
    assert.throws(() => measurePackages(packageClosure(app)), CodeMeasurementError, 'a link in a dependency is refused');
    rmSync(join(addon, 'sneaky.js'));
    rmSync(join(lib, 'package.json'));
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', dependencies: { missing: '1.0.0' } }));
    assert.throws(() => packageClosure(app), (error: unknown) => error instanceof CodeMeasurementError && /missing/.test(error.message));
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
});
