// Tests of the DER writer against hand-checked encodings from X.690 rules.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { derBitString, derBoolean, derCertificateTime, derContextExplicit, derContextImplicitPrimitive, derGeneralizedTime, derIa5String, derInteger, derNull, derOctetString, derOid, derPrintableString, derSequence, derSet, derUtcTime, derUtf8String } from './der-writer.js';
import { CertificateBuildError } from '../enclave-errors.js';

const hex = (buffer: Buffer): string => buffer.toString('hex');
const assertBuildError = (fn: () => unknown): void => {
  assert.throws(fn, (error: unknown) => error instanceof CertificateBuildError && error.code === 'CERTIFICATE_BUILD');
};

test('INTEGER: minimal, positive', () => {
  assert.equal(hex(derInteger(0)), '020100');
  assert.equal(hex(derInteger(127)), '02017f');
  assert.equal(hex(derInteger(128)), '02020080');
  assert.equal(hex(derInteger(256)), '02020100');
  assert.equal(hex(derInteger(Buffer.from('0000ff', 'hex'))), '020200ff');
  assert.equal(hex(derInteger(Buffer.from('000001', 'hex'))), '020101');
  assert.equal(hex(derInteger(Buffer.alloc(0))), '020100');
  assertBuildError(() => derInteger(-1));
});

test('OBJECT IDENTIFIER', () => {
  assert.equal(hex(derOid('1.2.840.10045.4.3.2')), '06082a8648ce3d040302');
  assert.equal(hex(derOid('1.2.840.10045.2.1')), '06072a8648ce3d0201');
  assert.equal(hex(derOid('2.5.29.17')), '0603551d11');
  assert.equal(hex(derOid('2.999.3')), '0603883703'); // X.690 8.19.5 example
  assertBuildError(() => derOid('1'));
  assertBuildError(() => derOid('1.40'));
  assertBuildError(() => derOid('1.2.x'));
  assertBuildError(() => derOid('1.02'));
});

test('lengths: short and long form', () => {
  assert.equal(hex(derOctetString(Buffer.alloc(127))).slice(0, 4), '047f');
  assert.equal(hex(derOctetString(Buffer.alloc(128))).slice(0, 6), '048180');
  assert.equal(hex(derOctetString(Buffer.alloc(200))).slice(0, 6), '0481c8');
  assert.equal(hex(derOctetString(Buffer.alloc(300))).slice(0, 8), '0482012c');
  assert.equal(hex(derOctetString(Buffer.alloc(70_000))).slice(0, 10), '0483011170');
});

test('strings', () => {
  assert.equal(hex(derUtf8String('é')), '0c02c3a9');
  assert.equal(hex(derPrintableString('Ab 1')), '130441622031');
  assert.equal(hex(derIa5String('a.b')), '1603612e62');
  assertBuildError(() => derPrintableString('a@b'));
  assertBuildError(() => derIa5String('é'));
});

test('times: UTCTime to 2049, GeneralizedTime from 2050, whole seconds, Z', () => {
  assert.equal(derUtcTime(new Date('2049-12-31T23:59:59.999Z')).subarray(2).toString('ascii'), '491231235959Z');
  assert.equal(derUtcTime(new Date('1950-01-01T00:00:00Z')).subarray(2).toString('ascii'), '500101000000Z');
  assert.equal(derGeneralizedTime(new Date('2050-01-01T00:00:00Z')).subarray(2).toString('ascii'), '20500101000000Z');
  assert.equal(derCertificateTime(new Date('2049-06-01T00:00:00Z'))[0], 0x17);
  assert.equal(derCertificateTime(new Date('2050-06-01T00:00:00Z'))[0], 0x18);
  assert.equal(derCertificateTime(new Date('1949-06-01T00:00:00Z'))[0], 0x18);
  assertBuildError(() => derUtcTime(new Date('2050-01-01T00:00:00Z')));
  assertBuildError(() => derUtcTime(new Date(Number.NaN)));
});

test('BIT STRING, BOOLEAN, NULL', () => {
  assert.equal(hex(derBitString(Buffer.from([0x80]), 7)), '03020780');
  assert.equal(hex(derBitString(Buffer.alloc(0))), '030100');
  assertBuildError(() => derBitString(Buffer.alloc(0), 1));
  assertBuildError(() => derBitString(Buffer.from([0]), 8));
  assert.equal(hex(derBoolean(true)), '0101ff');
  assert.equal(hex(derBoolean(false)), '010100');
  assert.equal(hex(derNull()), '0500');
});

test('SEQUENCE keeps order, SET OF sorts its encodings', () => {
  assert.equal(hex(derSequence(derInteger(2), derInteger(1))), '3006020102020101');
  assert.equal(hex(derSet(derInteger(2), derInteger(1))), '3106020101020102');
});

test('context-specific tags', () => {
  assert.equal(hex(derContextExplicit(0, derInteger(2))), 'a003020102');
  assert.equal(hex(derContextExplicit(3, derSequence())), 'a3023000');
  assert.equal(hex(derContextImplicitPrimitive(7, Buffer.from([127, 0, 0, 1]))), '87047f000001');
  assertBuildError(() => derContextExplicit(31, derNull()));
});
