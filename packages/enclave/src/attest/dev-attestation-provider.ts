// The `dev` provider: a faithful simulator of the Nitro Secure Module's
// attestation documents, signed by a local development CA instead of AWS.
// NOT TRUSTED: anyone who runs the enclave holds the dev root key, so a dev
// document proves nothing about the code. It exists so clients, the verifier
// and the whole flow can be developed and tested off Nitro hardware.
//
// Same bytes as the real thing (reference §1–§3):
//   - untagged COSE_Sign1, protected {1: -35}, ES384 signature r||s (96 B);
//   - payload with the nine keys in Nitro's order (attestation-payload.ts);
//   - chain root → intermediate → leaf, all P-384 / ecdsa-with-SHA384:
//       root          dev-attestation-root.ts (generated, or loaded from files)
//       intermediate  CA:TRUE pathLen 0, ~20 days (AWS's regional CA lifetime)
//       leaf          CA:FALSE, digitalSignature + nonRepudiation, 3 h like
//                     Nitro's; re-issued when less than 1 h remains, so a
//                     document stays verifiable for at least an hour
//     `certificate` is the leaf, `cabundle` = [root, intermediate] (root first,
//     as Nitro orders it);
//   - pcrs 0..15 of 48 bytes: PCR0..2 from code-measurement.ts, PCR4 =
//     SHA-384(0^48 || instance id) as on Nitro, the rest zero.
// What says "dev": module_id `dev-<16 hex>-enc<16 hex>` (Nitro's is
// `i-<17 hex>-enc<16 hex>`), the certificates' names, and the start-up
// warning that names the root's fingerprint.
//
// Cost: one ECDSA P-384 signature per document (~1 ms of CPU); the endpoint
// has no rate limit of its own yet.

import { createHash, generateKeyPairSync, randomBytes as cryptoRandomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

import { createCertificate } from '../tls/certificate-builder.js';
import { encodeAttestationPayload } from './attestation-payload.js';
import { checkAttestationRequest, type AttestationProvider, type AttestationRequest } from './attestation-provider.js';
import type { DevMeasurements } from './code-measurement.js';
import { signCoseSign1Es384 } from './cose-sign1.js';
import { DEV_CERTIFICATE_BACKDATE_MS, randomSerialNumber, type DevAttestationRoot } from './dev-attestation-root.js';

const HOUR_MS = 3_600_000;
/** Nitro's leaf certificates live ~3 h (reference §2.2). */
export const DEV_LEAF_VALIDITY_MS = 3 * HOUR_MS;
export const DEV_LEAF_RENEW_BEFORE_MS = HOUR_MS;
/** AWS's regional intermediate lives ~20 days (reference §2.2). */
export const DEV_INTERMEDIATE_VALIDITY_MS = 20 * 24 * HOUR_MS;
export const DEV_INTERMEDIATE_RENEW_BEFORE_MS = 24 * HOUR_MS;
/** Nitro documents carry PCRs 0..15 (reference §1.3), SHA-384 sized. */
export const DEV_PCR_COUNT = 16;
export const PCR_BYTES = 48;

export interface DevAttestationProviderOptions {
  readonly root: DevAttestationRoot;
  readonly measurements: DevMeasurements;
  readonly now: () => Date;
  readonly randomBytes?: (size: number) => Buffer;
}

export interface DevAttestationProvider extends AttestationProvider {
  readonly kind: 'dev';
  readonly moduleId: string;
  readonly rootCertificateDer: Buffer;
  /** SHA-256 of the root DER, lower-case hex. */
  readonly rootFingerprintSha256: string;
  readonly pcrs: ReadonlyMap<number, Buffer>;
}

interface IssuedCertificate {
  readonly commonName: string;
  readonly privateKey: KeyObject;
  readonly der: Buffer;
  readonly notAfterMs: number;
}

/** PCR4 on Nitro: the parent instance id extended into a zero PCR (reference §0.7, verified). */
export function pcr4ForInstanceId(instanceId: string): Buffer {
  return createHash('sha384').update(Buffer.alloc(PCR_BYTES)).update(instanceId, 'ascii').digest();
}

export function createDevAttestationProvider(options: DevAttestationProviderOptions): DevAttestationProvider {
  const { root, now } = options;
  const randomBytes = options.randomBytes ?? cryptoRandomBytes;
  const instanceId = `dev-${randomBytes(8).toString('hex')}`;
  const moduleId = `${instanceId}-enc${randomBytes(8).toString('hex')}`;

  const pcrs = new Map<number, Buffer>();
  for (let index = 0; index < DEV_PCR_COUNT; index += 1) pcrs.set(index, Buffer.alloc(PCR_BYTES));
  pcrs.set(0, options.measurements.pcr0);
  pcrs.set(1, options.measurements.pcr1);
  pcrs.set(2, options.measurements.pcr2);
  pcrs.set(4, pcr4ForInstanceId(instanceId));
  for (const [index, value] of pcrs) {
    if (value.length !== PCR_BYTES) throw new RangeError(`PCR${index} is ${value.length} bytes, expected ${PCR_BYTES}`);
  }

  const issue = (
    issuer: { readonly commonName: string; readonly privateKey: KeyObject },
    commonName: string,
    atMs: number,
    validityMs: number,
    certificateAuthority: boolean,
  ): IssuedCertificate => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    // Never outlive the root: a chain is only as valid as its shortest link.
    const notAfterMs = Math.min(atMs + validityMs, root.notAfter.getTime());
    const der = createCertificate({
      subjectCommonName: commonName,
      publicKey,
      issuer,
      serialNumber: randomSerialNumber(randomBytes),
      notBefore: new Date(atMs - DEV_CERTIFICATE_BACKDATE_MS),
      notAfter: new Date(notAfterMs),
      signatureHash: 'sha384',
      isCertificateAuthority: certificateAuthority,
      ...(certificateAuthority ? { pathLength: 0 } : {}),
      keyUsage: certificateAuthority ? ['digitalSignature', 'keyCertSign', 'cRLSign'] : ['digitalSignature', 'nonRepudiation'],
    });
    return { commonName, privateKey, der, notAfterMs };
  };

  const intermediateName = `${randomBytes(8).toString('hex')}.dev-region.http-enclave-dev`;
  const leafName = `${moduleId}.dev-region.dev`;
  let intermediate: IssuedCertificate | undefined;
  let leaf: IssuedCertificate | undefined;

  /** The current intermediate and leaf, re-issued when they near expiry at `atMs`. */
  const currentChain = (atMs: number): { intermediate: IssuedCertificate; leaf: IssuedCertificate } => {
    if (intermediate === undefined || intermediate.notAfterMs - atMs < DEV_INTERMEDIATE_RENEW_BEFORE_MS) {
      intermediate = issue(root, intermediateName, atMs, DEV_INTERMEDIATE_VALIDITY_MS, true);
      leaf = undefined;
    }
    if (leaf === undefined || leaf.notAfterMs - atMs < DEV_LEAF_RENEW_BEFORE_MS) {
      leaf = issue(intermediate, leafName, atMs, DEV_LEAF_VALIDITY_MS, false);
    }
    return { intermediate, leaf };
  };
  currentChain(now().getTime()); // issue at start-up, so the first request does not pay for key generation

  return {
    kind: 'dev',
    moduleId,
    rootCertificateDer: root.certificateDer,
    rootFingerprintSha256: root.fingerprintSha256,
    pcrs,
    attest(request: AttestationRequest): Promise<Buffer> {
      try {
        checkAttestationRequest(request);
        const timestampMs = now().getTime();
        const chain = currentChain(timestampMs);
        const payload = encodeAttestationPayload({
          moduleId,
          timestampMs,
          pcrs,
          certificate: chain.leaf.der,
          cabundle: [root.certificateDer, chain.intermediate.der],
          publicKey: request.publicKey ?? null,
          userData: request.userData,
          nonce: request.nonce,
        });
        return Promise.resolve(signCoseSign1Es384(payload, chain.leaf.privateKey));
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };
}
