import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { findFailingCondition, parseKeyPolicy, pcrIndexOfCondition } from './key-policy.js';

const pcrs = new Map<number, Uint8Array>([[0, new Uint8Array(48).fill(0xab)], [3, new Uint8Array(48).fill(0x03)]]);
const policy = (recipientConditions: Record<string, string>) =>
  parseKeyPolicy({ allowDecryptWithoutRecipient: false, allowGenerateWithoutRecipient: false, recipientConditions });

describe('key policy', () => {
  it('ImageSha384 is PCR0; PCR0..31 are condition keys; others are not', () => {
    assert.equal(pcrIndexOfCondition('kms:RecipientAttestation:ImageSha384'), 0);
    assert.equal(pcrIndexOfCondition('kms:RecipientAttestation:PCR31'), 31);
    assert.equal(pcrIndexOfCondition('kms:RecipientAttestation:PCR32'), null);
    assert.throws(() => policy({ 'kms:RecipientAttestation:PCR32': '00' }), TypeError);
    assert.throws(() => policy({ 'kms:RecipientAttestation:NitroTPMPCR0': '00' }), TypeError);
  });

  it('compares hex case-insensitively and reports the first failing key', () => {
    assert.equal(findFailingCondition(policy({ 'kms:RecipientAttestation:ImageSha384': 'AB'.repeat(48), 'kms:RecipientAttestation:PCR3': '03'.repeat(48) }), pcrs), null);
    assert.equal(findFailingCondition(policy({ 'kms:RecipientAttestation:PCR3': '04'.repeat(48) }), pcrs), 'kms:RecipientAttestation:PCR3');
    assert.equal(findFailingCondition(policy({ 'kms:RecipientAttestation:PCR8': '00'.repeat(48) }), pcrs), 'kms:RecipientAttestation:PCR8');
  });

  it('refuses unknown fields and wrong types, naming the field', () => {
    assert.throws(() => parseKeyPolicy({ allowDecryptWithoutRecipient: false, allowGenerateWithoutRecipient: false, recipientConditions: {}, extra: 1 }), /unknown field extra/);
    assert.throws(() => parseKeyPolicy({ allowDecryptWithoutRecipient: 'no', allowGenerateWithoutRecipient: false, recipientConditions: {} }), /allowDecryptWithoutRecipient/);
  });
});
