// Rendering a schema as the README table and env.example blocks, and
// rewriting the marked regions of a file.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { regionMarkers, renderConfigTable, renderEnvDefaults, renderEnvExample, replaceMarkedRegion } from './config-docs.js';
import { integer, text } from './config-parsers.js';
import { defineSchema, schemaVariables } from './config-schema.js';

const SCHEMA = schemaVariables(
  defineSchema({
    DEMO_PORT: { default: '8080', parse: integer(1, 65_535), meaning: 'Port of `demo` | the other.' },
    DEMO_KEY: { shownDefault: '(required)', parse: text(), exampleActive: true, meaning: 'Key.' },
    DEMO_ID: { parse: text(), example: 'id-...', meaning: 'An id. '.repeat(20).trim() },
  }),
);

test('the README table: name and default in code, `(unset)` when none, pipes escaped', () => {
  assert.equal(
    renderConfigTable(SCHEMA),
    ['| Variable | Default | Meaning |', '|---|---|---|', '| `DEMO_PORT` | `8080` | Port of `demo` \\| the other. |', '| `DEMO_KEY` | `(required)` | Key. |', `| \`DEMO_ID\` | \`(unset)\` | ${'An id. '.repeat(20).trim()} |`].join('\n'),
  );
});

test('env.example: meaning as wrapped comments without backticks, then the line; defaults block', () => {
  const example = renderEnvExample(SCHEMA);
  const blocks = example.split('\n\n');
  assert.equal(blocks[0], '# Port of demo | the other.\n# DEMO_PORT=8080');
  assert.equal(blocks[1], '# Key.\nDEMO_KEY=');
  const idLines = (blocks[2] ?? '').split('\n');
  assert.ok(idLines.length > 2 && idLines.slice(0, -1).every((line) => line.startsWith('# ') && line.length <= 100), blocks[2]);
  assert.equal(idLines.at(-1), '# DEMO_ID=id-...');
  assert.equal(renderEnvDefaults(SCHEMA), '# DEMO_PORT=8080\n# DEMO_KEY=\n# DEMO_ID=id-...');
});

test('marked regions are replaced between their markers; missing or repeated markers are refused', () => {
  const { begin, end } = regionMarkers('demo', 'shell');
  const file = ['head', begin, 'old 1', 'old 2', end, 'tail'].join('\n');
  assert.equal(replaceMarkedRegion(file, 'demo', 'shell', 'new'), ['head', begin, 'new', end, 'tail'].join('\n'));
  assert.equal(replaceMarkedRegion(replaceMarkedRegion(file, 'demo', 'shell', 'new'), 'demo', 'shell', 'new'), ['head', begin, 'new', end, 'tail'].join('\n'));
  assert.throws(() => replaceMarkedRegion('no markers', 'demo', 'shell', 'x'), /region demo/);
  assert.throws(() => replaceMarkedRegion(`${file}\n${begin}`, 'demo', 'shell', 'x'), /region demo/);
  assert.match(regionMarkers('demo', 'markdown').begin, /^<!-- BEGIN generated: demo .* -->$/);
});
