// What the operator sees with KEY_SOURCE=kms (issue 8, points 5 and 6): the
// bytes the host forwards to KMS (captured between the egress forwarder and
// the KMS double), the database and the host's logs hold no master key
// material, no AWS secret or session token, and no plaintext; a CONNECT to a
// destination outside the allow-list is refused and counted.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { newToken, sendRequest } from '../support/https-request.js';
import { startKmsStack, type KmsStack } from '../support/kms-stack.js';

/** Every encoding a key could leak in. */
function encodings(secret: Buffer): string[] {
  return [secret.toString('hex'), secret.toString('base64'), secret.toString('base64url'), secret.toString('hex').toUpperCase()];
}

function assertAbsent(haystack: Buffer, secret: Buffer, what: string, where: string): void {
  assert.equal(haystack.indexOf(secret), -1, `${what} (raw) in ${where}`);
  const text = haystack.toString('latin1');
  for (const encoded of encodings(secret)) assert.ok(!text.includes(encoded), `${what} (encoded) in ${where}`);
}

describe('the operator\'s view with KMS keys', () => {
  let kms: KmsStack;
  let relay: Server;
  const captured: Buffer[] = [];
  const canaryBody = `{"canary":"${randomBytes(24).toString('hex')}"}`;

  before(async () => {
    kms = await startKmsStack({
      interpose: async (kmsPort) => {
        // A TCP relay that records every byte both ways between the host's forwarder and the double.
        relay = createServer((downstream) => {
          const upstream = connect(kmsPort, '127.0.0.1');
          downstream.on('data', (chunk: Buffer) => captured.push(Buffer.from(chunk)));
          upstream.on('data', (chunk: Buffer) => captured.push(Buffer.from(chunk)));
          downstream.pipe(upstream).pipe(downstream);
          downstream.on('error', () => upstream.destroy());
          upstream.on('error', () => downstream.destroy());
        });
        await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
        return (relay.address() as { port: number }).port;
      },
    });
    const token = await newToken();
    const put = await sendRequest(kms.stack.port, { method: 'PUT', path: '/private-data/canary', token, body: canaryBody });
    assert.equal(put.status, 201);
    await kms.stack.restartEnclave(); // a Decrypt too, not only GenerateDataKey
    const got = await sendRequest(kms.stack.port, { path: '/private-data/canary', token });
    assert.equal(got.body.toString(), canaryBody);
  });
  after(async () => {
    await kms?.stop();
    relay?.close();
  });

  test('forwarded bytes, the database and the host log hold no master key, no AWS secret or token, no plaintext', () => {
    const released = kms.double.calls.flatMap((call) => (call.releasedPlaintext === null ? [] : [call.releasedPlaintext]));
    assert.ok(released.length >= 2, 'GenerateDataKey and Decrypt both released the key');
    assert.ok(released.every((key) => key.length === 32));
    const forwarded = Buffer.concat(captured);
    assert.ok(forwarded.length > 1000, 'the relay saw the KMS traffic');
    const database = Buffer.concat(['store.db', 'store.db-wal'].flatMap((name) => {
      try {
        return [readFileSync(join(kms.dir, name))];
      } catch {
        return [];
      }
    }));
    const hostLog = Buffer.from(kms.stack.host.output());
    const enclaveLog = Buffer.from(kms.stack.allOutput());
    for (const [where, haystack] of [['forwarded bytes', forwarded], ['database', database], ['host log', hostLog], ['all program output', enclaveLog]] as const) {
      for (const key of released) assertAbsent(haystack, key, 'master key', where);
      assertAbsent(haystack, Buffer.from(kms.credentials.secretAccessKey), 'AWS secret access key', where);
      assertAbsent(haystack, Buffer.from(canaryBody), 'document plaintext', where);
    }
    // The session token travels to KMS, but only inside TLS: never in clear on the forwarded path or in logs.
    for (const [where, haystack] of [['forwarded bytes', forwarded], ['host log', hostLog], ['all program output', enclaveLog]] as const) {
      assertAbsent(haystack, Buffer.from(kms.credentials.sessionToken), 'AWS session token', where);
    }
    // The forwarded bytes are TLS records after the handshake: no HTTP request line in clear.
    assert.ok(!forwarded.toString('latin1').includes('TrentService'), 'the KMS request is not in clear');
  });

  test('a CONNECT outside the allow-list is refused (403), logged with the destination only, and counted', async () => {
    const egressPath = join(kms.dir, 'egress.sock');
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(egressPath);
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('end', () => resolve(text));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
      socket.write('CONNECT attacker.example:443 HTTP/1.1\r\nHost: attacker.example:443\r\n\r\n');
    });
    assert.match(answer, /^HTTP\/1\.1 403 /);
    const deadline = Date.now() + 5_000;
    while (!/egress refused/i.test(kms.stack.host.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const line = kms.stack.host.output().split('\n').find((l) => /egress/i.test(l) && l.includes('attacker.example'));
    assert.ok(line !== undefined, 'the refusal is logged with its destination');
    const fields = JSON.parse(line) as Record<string, unknown>;
    assert.equal(fields['level'], 'warn');
    assert.equal(fields['refusedTotal'], 1, `the refusal is counted: ${line}`);
    assert.deepEqual(Object.keys(fields).sort(), ['code', 'destination', 'level', 'msg', 'program', 'refusedTotal', 'time'], 'nothing else from the stream is logged');
  });
});
