// The CMS builder: what it makes has KMS's structure (compared with the real
// blobs) and opens with `openssl cms -decrypt` and with node:crypto.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createDecipheriv, createHash, generateKeyPairSync, privateDecrypt, constants } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { buildCmsEnvelope, recipientKeyIdentifier } from './cms-envelope-builder.js';
import { child, readBer, type BerNode } from './test-support.js';

const VECTORS = process.env['HTTP_ENCLAVE_VECTORS_DIR'] ?? fileURLToPath(new URL('../../../../shared/vectors/nitro/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kms-double-cms-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const spki = publicKey.export({ format: 'der', type: 'spki' });
writeFileSync(join(dir, 'key.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));

/** Opens a CMS envelope the way sdk-c does (reference §5.2), with node:crypto. */
export function openCmsEnvelope(envelope: Uint8Array, key: typeof privateKey): Buffer {
  const enveloped = child(child(readBer(envelope), 1), 0);
  const recipient = child(child(enveloped, 1), 0);
  const contentKey = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, child(recipient, 3).value);
  const info = child(enveloped, 2);
  const iv = child(child(info, 1), 1).value;
  const content = child(info, 2);
  const ciphertext = content.constructed ? Buffer.concat(content.children.map((chunk: BerNode) => chunk.value)) : content.value;
  const decipher = createDecipheriv('aes-256-cbc', contentKey, iv);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

function openssl(args: string[], input?: Buffer): Buffer {
  return execFileSync('openssl', args, { cwd: dir, input: input ?? Buffer.alloc(0), stdio: ['pipe', 'pipe', 'pipe'] });
}

/** asn1parse output without offsets and the varying values: the shape. */
function shape(der: Uint8Array): string[] {
  writeFileSync(join(dir, 'shape.der'), der);
  return openssl(['asn1parse', '-inform', 'DER', '-in', 'shape.der', '-i'])
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.replace(/^\s*\d+:/, '').replace(/\[HEX DUMP\]:[0-9A-F]+/, '[HEX]').replace(/l=\s*\d+ /, 'l=N ').replace(/hl=\d/, 'hl=H'));
}

describe('buildCmsEnvelope', () => {
  const plaintext = Buffer.from('a 32-byte data key, or any bytes!');

  it('has the structure of the real KMS blob cms-kms-sdkc-1 (constructed content)', () => {
    const real = Buffer.from(readFileSync(join(VECTORS, 'cms-kms-sdkc-1.b64'), 'utf8').trim(), 'base64');
    const ours = buildCmsEnvelope({ recipientPublicKey: spki, plaintext });
    assert.deepEqual(shape(ours), shape(real));
    // Byte-exact up to the variable parts: the prefix before the SKI is identical.
    assert.deepEqual(ours.subarray(0, 33), real.subarray(0, 33));
    // The algorithm identifier and the encryptedKey header after the SKI too.
    assert.deepEqual(ours.subarray(65, 131), real.subarray(65, 131));
  });

  it('has the structure of the real KMS blob cms-kms-sdkc-2 (primitive content)', () => {
    const real = Buffer.from(readFileSync(join(VECTORS, 'cms-kms-sdkc-2.b64'), 'utf8').trim(), 'base64');
    const ours = buildCmsEnvelope({ recipientPublicKey: spki, plaintext: Buffer.alloc(5, 7), contentForm: 'primitive' });
    assert.deepEqual(shape(ours), shape(real));
  });

  it('names the recipient by SHA-256 of its SPKI', () => {
    const ours = buildCmsEnvelope({ recipientPublicKey: spki, plaintext });
    const ski = child(child(child(child(child(readBer(ours), 1), 0), 1), 0), 1);
    assert.equal(ski.tag, 0x80);
    assert.deepEqual(ski.value, createHash('sha256').update(spki).digest());
    assert.deepEqual(ski.value, recipientKeyIdentifier(spki));
  });

  for (const variant of [{ contentForm: 'constructed' as const }, { contentForm: 'constructed' as const, chunkBytes: 16 }, { contentForm: 'primitive' as const }]) {
    it(`opens with openssl cms -decrypt -inkey (${JSON.stringify(variant)})`, () => {
      const ours = buildCmsEnvelope({ recipientPublicKey: spki, plaintext, ...variant });
      const opened = openssl(['cms', '-decrypt', '-inform', 'DER', '-inkey', 'key.pem'], ours);
      assert.deepEqual(opened, plaintext);
    });

    it(`opens with node:crypto privateDecrypt + aes-256-cbc (${JSON.stringify(variant)})`, () => {
      assert.deepEqual(openCmsEnvelope(buildCmsEnvelope({ recipientPublicKey: spki, plaintext, ...variant }), privateKey), plaintext);
    });
  }

  it('opens with openssl cms -decrypt -recip, matching a certificate whose SKI is SHA-256 of the SPKI', () => {
    const ski = recipientKeyIdentifier(spki).toString('hex').toUpperCase().match(/../g)?.join(':') ?? '';
    openssl(['req', '-x509', '-new', '-key', 'key.pem', '-subj', '/CN=recipient.test', '-days', '1', '-addext', `subjectKeyIdentifier=${ski}`, '-out', 'cert.pem']);
    const ours = buildCmsEnvelope({ recipientPublicKey: spki, plaintext: Buffer.alloc(1000, 0x5a), chunkBytes: 100 });
    const opened = openssl(['cms', '-decrypt', '-inform', 'DER', '-inkey', 'key.pem', '-recip', 'cert.pem'], ours);
    assert.deepEqual(opened, Buffer.alloc(1000, 0x5a));
  });

  it('refuses a non-RSA recipient key', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });
    assert.throws(() => buildCmsEnvelope({ recipientPublicKey: ec, plaintext }), TypeError);
  });
});
