// The double's KMS keys: symmetric (SYMMETRIC_DEFAULT) keys, each a random
// 32-byte AES key with a key policy and a state, named by
//   arn:aws:kms:<region>:<account>:key/<uuid>
// Key material never leaves this file except to ciphertext-blob.ts.

import { randomBytes as cryptoRandomBytes, randomUUID } from 'node:crypto';

import { KmsError } from './kms-errors.js';
import type { KeyPolicy } from './key-policy.js';

/** The account of every double key (AWS's documentation example account). */
export const DOUBLE_ACCOUNT_ID = '111122223333';
export const KEY_MATERIAL_BYTES = 32;

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

export interface DoubleKey {
  readonly keyId: string;
  readonly arn: string;
  readonly material: Buffer;
  policy: KeyPolicy;
  state: KeyState;
}

export class KeyStore {
  readonly #keys = new Map<string, DoubleKey>();
  readonly #region: string;
  readonly #randomBytes: (size: number) => Buffer;

  constructor(region: string, randomBytes: (size: number) => Buffer = cryptoRandomBytes) {
    this.#region = region;
    this.#randomBytes = randomBytes;
  }

  arnOf(keyId: string): string {
    return `arn:aws:kms:${this.#region}:${DOUBLE_ACCOUNT_ID}:key/${keyId}`;
  }

  create(policy: KeyPolicy, keyId: string = randomUUID()): DoubleKey {
    if (this.#keys.has(keyId)) throw new TypeError('key id already exists');
    const key: DoubleKey = { keyId, arn: this.arnOf(keyId), material: this.#randomBytes(KEY_MATERIAL_BYTES), policy, state: 'Enabled' };
    this.#keys.set(keyId, key);
    return key;
  }

  /** By key id or key ARN; undefined when the double has no such key. */
  find(identifier: string): DoubleKey | undefined {
    const prefix = `arn:aws:kms:${this.#region}:${DOUBLE_ACCOUNT_ID}:key/`;
    const keyId = identifier.startsWith(prefix) ? identifier.slice(prefix.length) : identifier;
    return this.#keys.get(keyId);
  }

  /** Resolves a request's KeyId: NotFoundException for an unknown key or alias, like KMS. */
  resolve(identifier: unknown, field: string): DoubleKey {
    if (typeof identifier !== 'string') throw new KmsError('SerializationException', `${field} must be a string`);
    if (identifier.length < 1 || identifier.length > 2048) throw new KmsError('ValidationException', `${field} must be 1..2048 characters`);
    const key = this.find(identifier);
    if (key === undefined) throw new KmsError('NotFoundException', `${field} does not name a key of this account and region`);
    return key;
  }

  /** Only Enabled keys are usable: Disabled → DisabledException, PendingDeletion → KMSInvalidStateException. */
  static requireUsable(key: DoubleKey): void {
    if (key.state === 'Disabled') throw new KmsError('DisabledException', `${key.arn} is disabled.`);
    if (key.state === 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
  }
}
