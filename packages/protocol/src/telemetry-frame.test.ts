// The telemetry frame codec: exact bytes of written-out vectors (the length
// header computed by hand), every split of a stream of frames, and the
// refusals the grammar names, each before anything larger than one frame is
// held.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { encodeTelemetryFrame, MAX_TELEMETRY_FRAME_BYTES, TelemetryFrameError, TelemetryFrameReader, type TelemetryFrame } from './telemetry-frame.js';

/** Vectors: the payload text as the encoder must write it; its length header in hex, counted apart from the codec (python3 len()). */
const VECTORS: readonly { readonly frame: TelemetryFrame; readonly header: string; readonly payload: string }[] = [
  { frame: { kind: 'dropped', lines: 3 }, header: '0000001c', payload: '{"kind":"dropped","lines":3}' },
  {
    frame: { kind: 'metrics', counters: [{ name: 'requests_total', labels: { route: '/healthz', status: '200' }, value: 2 }] },
    header: '00000070',
    payload: '{"kind":"metrics","counters":[{"name":"requests_total","labels":{"route":"/healthz","status":"200"},"value":2}]}',
  },
  {
    frame: { kind: 'log', time: '2026-12-02T00:00:00.000Z', level: 'warn', msg: 'storage connect failed', fields: { code: 'ECONNREFUSED', attempt: 1 } },
    header: '0000008b',
    payload: '{"kind":"log","time":"2026-12-02T00:00:00.000Z","level":"warn","msg":"storage connect failed","fields":{"code":"ECONNREFUSED","attempt":1}}',
  },
];

test('frames encode to the exact bytes of the vectors and decode back, whatever the stream splits', () => {
  for (const vector of VECTORS) {
    assert.equal(Buffer.byteLength(vector.payload), Number.parseInt(vector.header, 16), 'the vector header is the payload length');
    assert.equal(encodeTelemetryFrame(vector.frame).toString('hex'), vector.header + Buffer.from(vector.payload).toString('hex'));
  }
  const stream = Buffer.concat(VECTORS.map((vector) => encodeTelemetryFrame(vector.frame)));
  for (let split = 0; split <= stream.length; split += 1) {
    const reader = new TelemetryFrameReader();
    const frames = [...reader.push(stream.subarray(0, split)), ...reader.push(stream.subarray(split))];
    assert.deepEqual(frames, VECTORS.map((vector) => vector.frame), `split at ${split}`);
  }
});

function refusal(bytes: Buffer): string {
  try {
    new TelemetryFrameReader().push(bytes);
    return 'accepted';
  } catch (error) {
    return error instanceof TelemetryFrameError ? error.problem : `threw ${String(error)}`;
  }
}

function framed(payload: string): Buffer {
  const body = Buffer.from(payload, 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

test('the reader refuses what the grammar does not allow, naming the rule, and never waits for an oversized frame', () => {
  const oversized = Buffer.alloc(4);
  oversized.writeUInt32BE(MAX_TELEMETRY_FRAME_BYTES + 1);
  assert.match(refusal(oversized), /length 65537 outside/, 'refused from the header alone');
  assert.match(refusal(Buffer.from('00000001', 'hex')), /length 1 outside/);
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{"kind":', /not UTF-8 JSON/],
    ['an array', '[1,2]', /not a JSON object/],
    ['unknown kind', '{"kind":"exec","cmd":"rm"}', /unknown kind/],
    ['bad level', '{"kind":"log","time":"2026-12-02T00:00:00Z","level":"trace","msg":"m","fields":{}}', /level/],
    ['bad time', '{"kind":"log","time":"yesterday","level":"info","msg":"m","fields":{}}', /time/],
    ['long msg', `{"kind":"log","time":"2026-12-02T00:00:00Z","level":"info","msg":"${'x'.repeat(257)}","fields":{}}`, /msg longer/],
    ['object field', '{"kind":"log","time":"2026-12-02T00:00:00Z","level":"info","msg":"m","fields":{"a":{"b":1}}}', /field a/],
    ['bad field name', '{"kind":"log","time":"2026-12-02T00:00:00Z","level":"info","msg":"m","fields":{"a b":1}}', /field name/],
    ['metric name with a brace', '{"kind":"metrics","counters":[{"name":"x{y","labels":{},"value":1}]}', /metric name/],
    ['label value not a string', '{"kind":"metrics","counters":[{"name":"x","labels":{"a":1},"value":1}]}', /label a/],
    ['negative counter', '{"kind":"metrics","counters":[{"name":"x","labels":{},"value":-1}]}', /non-negative/],
    ['dropped not a number', '{"kind":"dropped","lines":"many"}', /dropped lines/],
  ];
  for (const [label, payload, problem] of cases) assert.match(refusal(framed(payload)), problem, label);
  assert.equal(refusal(Buffer.concat([framed('{"kind":"dropped","lines":0}'), Buffer.from([0xff, 0xfe])])), 'accepted', 'a partial header waits');
  assert.throws(() => encodeTelemetryFrame({ kind: 'dropped', lines: Number.NaN }), TelemetryFrameError);
});
