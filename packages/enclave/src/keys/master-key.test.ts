// Tests of parseMasterKeyBase64: accepted shapes, and exact error codes for every rejected one.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseMasterKeyBase64 } from './master-key.js';
import { ConfigInvalidError } from '../enclave-errors.js';

const KEY = Buffer.from(Array.from({ length: 32 }, (_, index) => index * 7 + 3));
const KEY_BASE64 = KEY.toString('base64'); // 44 characters, one '=' of padding

function assertConfigInvalid(value: string | undefined, lengthHint?: RegExp): void {
  assert.throws(
    () => parseMasterKeyBase64(value),
    (error: unknown) => {
      assert.ok(error instanceof ConfigInvalidError);
      assert.equal(error.code, 'CONFIG_INVALID');
      assert.deepEqual(error.variables, ['ENCLAVE_KEY_BASE64']);
      assert.match(error.message, /ENCLAVE_KEY_BASE64/);
      if (lengthHint !== undefined) assert.match(error.message, lengthHint);
      if (value !== undefined && value.trim().length > 4) assert.ok(!error.message.includes(value.trim()), 'message must not echo the value');
      return true;
    },
  );
}

test('accepts openssl rand -base64 32 output, trailing newline included', () => {
  assert.deepEqual(parseMasterKeyBase64(`${KEY_BASE64}\n`), KEY);
  assert.deepEqual(parseMasterKeyBase64(`  ${KEY_BASE64}\t`), KEY);
});

test('returned key is a fresh, unpooled 32-byte buffer', () => {
  const key = parseMasterKeyBase64(KEY_BASE64);
  assert.equal(key.length, 32);
  assert.equal(key.byteOffset, 0);
  assert.equal(key.buffer.byteLength, 32);
});

test('missing or empty value is CONFIG_INVALID', () => {
  assertConfigInvalid(undefined);
  assertConfigInvalid('');
  assertConfigInvalid('   \n');
});

test('wrong decoded length is CONFIG_INVALID and gives the decoded length', () => {
  assertConfigInvalid(Buffer.alloc(16, 1).toString('base64'), /got 16 bytes/);
  assertConfigInvalid(Buffer.alloc(33, 1).toString('base64'), /got 33 bytes/);
  assertConfigInvalid(Buffer.alloc(31, 1).toString('base64'), /got 31 bytes/);
});

test('characters outside standard base64 are rejected, not skipped', () => {
  assertConfigInvalid(`${KEY_BASE64.slice(0, 20)}*${KEY_BASE64.slice(20)}`);
  assertConfigInvalid(`${KEY_BASE64.slice(0, 20)} ${KEY_BASE64.slice(20)}`);
  assertConfigInvalid(`${KEY_BASE64.slice(0, 20)}\n${KEY_BASE64.slice(20)}`);
  // base64url alphabet
  const url = Buffer.alloc(32, 0xfb).toString('base64url');
  assert.ok(/[-_]/.test(url));
  assertConfigInvalid(`${url}=`);
});

test('missing padding and non-canonical trailing bits are rejected', () => {
  assertConfigInvalid(KEY_BASE64.replace(/=$/, ''));
  // The last character before '=' carries 2 unused bits, zero when canonical: set one.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const tweaked = alphabet.charAt(alphabet.indexOf(KEY_BASE64.charAt(42)) | 1);
  assert.notEqual(tweaked, KEY_BASE64.charAt(42));
  assertConfigInvalid(`${KEY_BASE64.slice(0, 42)}${tweaked}=`, /canonical/);
});
