// The dev provider's root CA: generated in memory at start-up (a client can
// pin it only for this process's lifetime), or loaded from
// ATTESTATION_DEV_ROOT_KEY_PATH / ATTESTATION_DEV_ROOT_CERT_PATH (a PEM P-384
// key and its self-signed CA certificate) so that a pinned dev root survives
// restarts. It plays the part of the AWS Nitro root G1 (reference §2): P-384,
// ecdsa-with-SHA384, CA:TRUE without pathLen, keyCertSign + cRLSign.
//
// A loaded root's subject must be a single CN that our certificate builder
// writes byte for byte as the intermediate's issuer (e.g. made by
// `openssl req -x509 -subj '/CN=…'`): verifiers link issuer to subject by
// comparing the encoded names.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes as cryptoRandomBytes, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { createCertificate, createSelfSignedCertificate } from '../tls/certificate-builder.js';
import { readCertificateDerFields } from './certificate-der.js';
import { ConfigInvalidError } from '../enclave-errors.js';

export type DevAttestationRootSource = 'generated' | 'files';

export interface DevAttestationRoot {
  readonly source: DevAttestationRootSource;
  readonly commonName: string;
  readonly privateKey: KeyObject;
  readonly certificateDer: Buffer;
  readonly notAfter: Date;
  /** SHA-256 of the root's DER, lower-case hex: what a client pins (as it pins AWS's 641a0321…). */
  readonly fingerprintSha256: string;
}

export const DEV_ROOT_COMMON_NAME = 'http-enclave DEV attestation root (not AWS)';
/** A generated root lives as long as AWS's root G1 (30 years); its key dies with the process anyway. */
export const GENERATED_ROOT_VALIDITY_MS = 30 * 365 * 24 * 3_600_000;
/** Certificates start this much before "now", so a client whose clock runs a little behind still accepts them. */
export const DEV_CERTIFICATE_BACKDATE_MS = 5 * 60_000;
/** 16 random bytes, top bit cleared and next set: a positive serial that always encodes in 16 bytes (RFC 5280 §4.1.2.2). */
export const DEV_SERIAL_NUMBER_BYTES = 16;

export function randomSerialNumber(randomBytes: (size: number) => Buffer = cryptoRandomBytes): Buffer {
  const serial = Buffer.from(randomBytes(DEV_SERIAL_NUMBER_BYTES));
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  return serial;
}

function fingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

export function generateDevAttestationRoot(now: Date, randomBytes?: (size: number) => Buffer): DevAttestationRoot {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const notAfter = new Date(now.getTime() + GENERATED_ROOT_VALIDITY_MS);
  const certificateDer = createSelfSignedCertificate({
    subjectCommonName: DEV_ROOT_COMMON_NAME,
    privateKey,
    serialNumber: randomSerialNumber(randomBytes),
    notBefore: new Date(now.getTime() - DEV_CERTIFICATE_BACKDATE_MS),
    notAfter,
    signatureHash: 'sha384',
    isCertificateAuthority: true,
    keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'],
  });
  return { source: 'generated', commonName: DEV_ROOT_COMMON_NAME, privateKey, certificateDer, notAfter, fingerprintSha256: fingerprint(certificateDer) };
}

export interface LoadDevAttestationRootOptions {
  readonly keyPath: string;
  readonly certPath: string;
  readonly now: Date;
  readonly readFile?: (path: string) => Buffer;
}

/** Only an error's code goes into messages, never its text (which may quote file content). */
function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return error instanceof Error ? error.name : typeof error;
}

const KEY = 'ATTESTATION_DEV_ROOT_KEY_PATH';
const CERT = 'ATTESTATION_DEV_ROOT_CERT_PATH';

export function loadDevAttestationRoot(options: LoadDevAttestationRootOptions): DevAttestationRoot {
  const readFile = options.readFile ?? ((path: string) => readFileSync(path));
  let certBytes: Buffer;
  let keyBytes: Buffer;
  try {
    certBytes = readFile(options.certPath);
  } catch (error) {
    throw new ConfigInvalidError([{ variable: CERT, problem: `file could not be read (${errorCode(error)})` }]);
  }
  try {
    keyBytes = readFile(options.keyPath);
  } catch (error) {
    throw new ConfigInvalidError([{ variable: KEY, problem: `file could not be read (${errorCode(error)})` }]);
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certBytes);
  } catch (error) {
    throw new ConfigInvalidError([{ variable: CERT, problem: `not a parseable X.509 certificate (${errorCode(error)})` }]);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyBytes);
  } catch (error) {
    throw new ConfigInvalidError([{ variable: KEY, problem: `not a parseable unencrypted private key (${errorCode(error)})` }]);
  } finally {
    keyBytes.fill(0);
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
    throw new ConfigInvalidError([{ variable: KEY, problem: `must be an EC P-384 (secp384r1) key, like the AWS Nitro root` }]);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigInvalidError([{ variable: KEY, problem: `private key does not match the certificate in ${CERT}`, related: [CERT] }]);
  }
  if (!certificate.ca || !certificate.checkIssued(certificate) || !certificate.verify(createPublicKey(privateKey))) {
    throw new ConfigInvalidError([{ variable: CERT, problem: `must be a self-signed CA certificate (basicConstraints CA:TRUE)` }]);
  }
  const notBefore = Date.parse(certificate.validFrom);
  const notAfter = Date.parse(certificate.validTo);
  const now = options.now.getTime();
  if (!(notBefore <= now && now < notAfter)) {
    throw new ConfigInvalidError([{ variable: CERT, problem: `certificate is not valid now (valid ${certificate.validFrom} to ${certificate.validTo})` }]);
  }
  const subjectLines = certificate.subject.split('\n');
  const commonName = subjectLines.length === 1 && subjectLines[0]?.startsWith('CN=') === true ? subjectLines[0].slice(3) : '';
  const certificateDer = Buffer.from(certificate.raw);
  if (commonName === '' || !issuerNameMatches(commonName, privateKey, certificateDer, now)) {
    throw new ConfigInvalidError([{ variable: CERT, problem: `the subject must be a single UTF8String CN (e.g. openssl req -x509 -subj '/CN=…')` }]);
  }
  return { source: 'files', commonName, privateKey, certificateDer, notAfter: new Date(notAfter), fingerprintSha256: fingerprint(certificateDer) };
}

/** Whether a certificate we issue under `commonName` names this root byte for byte as its issuer. */
function issuerNameMatches(commonName: string, privateKey: KeyObject, rootDer: Buffer, now: number): boolean {
  let probe: Buffer;
  try {
    probe = createCertificate({
      subjectCommonName: 'probe',
      publicKey: createPublicKey(privateKey),
      issuer: { commonName, privateKey },
      serialNumber: Buffer.from([1]),
      notBefore: new Date(now),
      notAfter: new Date(now + 1000),
      signatureHash: 'sha384',
      isCertificateAuthority: false,
      keyUsage: ['digitalSignature'],
    });
  } catch {
    return false; // e.g. a CN longer than 64 characters
  }
  return readCertificateDerFields(probe).issuerName.equals(readCertificateDerFields(rootDer).subjectName);
}
