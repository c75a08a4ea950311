// verifyAttestationDocument: the one entry point a client calls before it
// sends anything to the enclave.
//
// Order of checks (each records a named check; the first failure stops):
//   envelope      input size, CBOR, COSE_Sign1 shape, alg ES384
//   payload       attestation document fields; NitroTPM documents rejected
//   root          cabundle[0] is the pinned root (AWS fingerprint or dev root)
//   chain         each certificate issued and signed by the previous; leaf EC P-384
//   validity      every certificate valid at `now`
//   signature     ES384 over the Sig_structure of the bytes as received
//   debug-mode    PCR0/1/2 all zero rejected unless allowDebug
//   pcrs          expected PCRs (skipped without policy.pcrs)
//   pcr4-module-id  PCR4 against module_id (skipped where it does not apply)
//   nonce         (skipped without policy.nonce)
//   document-age  (skipped without policy.maxAgeMs)
//   tls-binding   (skipped without policy.tlsCertificate; with policy.tlsExporter the
//                 session too: TLS_SESSION_MISMATCH)
// The chain comes before the signature so that a swapped or reordered
// certificate is reported as such; policy comes last and is only looked at
// for a document AWS (or the dev root) signed.
//
// Bad document bytes never throw: the result is { ok: false, reason }.
// Bad options (no `now`, unparseable dev root, malformed policy) are
// programmer errors and throw TypeError before the document is looked at.

import { X509Certificate } from 'node:crypto';

import { parseAttestationDocument, type AttestationDocument } from './attestation-document.js';
import {
  checkDebugMode,
  checkDocumentAge,
  checkNonce,
  checkPcr4ModuleId,
  checkPcrs,
  checkTlsBinding,
  isDebugModeDocument,
  normalizePolicy,
  type AttestationPolicy,
} from './attestation-policy.js';
import { DEFAULT_CBOR_LIMITS } from './cbor-decoder.js';
import { parseCertificateTime, verifyCertificateChain, type TrustAnchor } from './certificate-chain.js';
import { decodeCoseSign1, verifyCoseSign1Signature } from './cose-sign1.js';
import { AttestationError, type ReasonCode } from './reason-codes.js';
import type { TlsBindingScheme } from './user-data-binding.js';

/** Longest document accepted: the spec caps the payload at 16 KiB; + envelope. Real: 4.4–7.6 KB. */
export const MAX_DOCUMENT_BYTES = 20 * 1024;

export const CHECK_NAMES = [
  'envelope',
  'payload',
  'root',
  'chain',
  'validity',
  'signature',
  'debug-mode',
  'pcrs',
  'pcr4-module-id',
  'nonce',
  'document-age',
  'tls-binding',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export interface AttestationCheck {
  readonly name: CheckName;
  readonly outcome: 'passed' | 'failed' | 'skipped';
}

export interface VerifyAttestationOptions {
  /** Verification time: certificate validity and document age are judged at it. Required. */
  readonly now: Date;
  /** 'aws' pins the AWS Nitro root G1 by fingerprint; a dev root is given as PEM. */
  readonly root: 'aws' | { readonly certificatePem: string };
  readonly policy?: AttestationPolicy;
}

export type AttestationResult =
  | {
      readonly ok: true;
      readonly document: AttestationDocument;
      readonly anchor: 'aws' | 'dev';
      readonly debugMode: boolean;
      /** The scheme under which user_data bound policy.tlsCertificate; null when no TLS certificate was given. */
      readonly tlsBindingScheme: TlsBindingScheme | null;
      readonly checks: readonly AttestationCheck[];
    }
  | { readonly ok: false; readonly reason: ReasonCode; readonly message: string; readonly checks: readonly AttestationCheck[] };

function readAnchor(root: VerifyAttestationOptions['root']): TrustAnchor {
  if (root === 'aws') return { kind: 'aws' };
  if (typeof root !== 'object' || root === null || typeof root.certificatePem !== 'string') {
    throw new TypeError("options.root must be 'aws' or { certificatePem }");
  }
  try {
    return { kind: 'dev', certificate: new X509Certificate(root.certificatePem) };
  } catch {
    throw new TypeError('options.root.certificatePem is not a PEM certificate');
  }
}

/**
 * Verifies a Nitro attestation document (COSE_Sign1 bytes) at `options.now`
 * against the pinned root and the policy. Never throws for bad document
 * bytes; throws TypeError for invalid options.
 */
export function verifyAttestationDocument(bytes: Uint8Array, options: VerifyAttestationOptions): AttestationResult {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  if (typeof options !== 'object' || options === null) throw new TypeError('options are required');
  if (!(options.now instanceof Date) || Number.isNaN(options.now.getTime())) throw new TypeError('options.now must be a valid Date');
  const anchor = readAnchor(options.root);
  const policy = normalizePolicy(options.policy);
  const nowMs = options.now.getTime();

  const checks: AttestationCheck[] = [];
  let current: CheckName = 'envelope';
  const pass = (name: CheckName, outcome: 'passed' | 'skipped' = 'passed'): void => {
    checks.push({ name, outcome });
  };
  try {
    if (bytes.length > MAX_DOCUMENT_BYTES) {
      throw new AttestationError('INPUT_TOO_LARGE', `document of ${bytes.length} bytes exceeds ${MAX_DOCUMENT_BYTES}`);
    }
    // Own copy: the decoded byte strings are views of it, and the caller's buffer may change.
    const input = Uint8Array.from(bytes);
    const cose = decodeCoseSign1(input, DEFAULT_CBOR_LIMITS);
    if (cose.unprotectedEntryCount !== 0) throw new AttestationError('COSE_MALFORMED', 'COSE_Sign1: Nitro documents have an empty unprotected header');
    pass('envelope');

    current = 'payload';
    const document = parseAttestationDocument(cose.payload, DEFAULT_CBOR_LIMITS);
    pass('payload');

    current = 'root';
    let chain;
    try {
      chain = verifyCertificateChain(document.cabundle, document.certificate, anchor, options.now, policy.clockSkewMs);
    } catch (error) {
      if (error instanceof AttestationError) {
        if (error.code === 'CERTIFICATE_EXPIRED' || error.code === 'CERTIFICATE_NOT_YET_VALID') {
          pass('root');
          pass('chain');
          current = 'validity';
        } else if (error.code !== 'CHAIN_UNTRUSTED_ROOT') {
          pass('root');
          current = 'chain';
        }
      }
      throw error;
    }
    pass('root');
    pass('chain');
    pass('validity');

    current = 'signature';
    if (!verifyCoseSign1Signature(cose, chain.leafKey)) {
      throw new AttestationError('SIGNATURE_INVALID', 'the COSE_Sign1 signature does not verify with the leaf certificate key');
    }
    // Signed, so the timestamp is the signer's: it signed while its leaf
    // certificate was valid, or something is wrong (issue 10, item 3).
    const leafNotBefore = parseCertificateTime(chain.leaf.validFrom);
    const leafNotAfter = parseCertificateTime(chain.leaf.validTo);
    if (document.timestamp < leafNotBefore || document.timestamp > leafNotAfter) {
      throw new AttestationError('TIMESTAMP_OUTSIDE_LEAF_VALIDITY', 'the document timestamp is outside the validity of its leaf certificate');
    }
    pass('signature');

    current = 'debug-mode';
    checkDebugMode(document, policy);
    pass('debug-mode');

    current = 'pcrs';
    checkPcrs(document, policy);
    pass('pcrs', policy.pcrs.size > 0 ? 'passed' : 'skipped');

    current = 'pcr4-module-id';
    pass('pcr4-module-id', policy.checkPcr4ModuleId && checkPcr4ModuleId(document) ? 'passed' : 'skipped');

    current = 'nonce';
    if (policy.nonce !== null) checkNonce(document, policy.nonce);
    pass('nonce', policy.nonce !== null ? 'passed' : 'skipped');

    current = 'document-age';
    if (policy.maxAgeMs !== null) checkDocumentAge(document, nowMs, policy.maxAgeMs, policy.maxClockSkewMs, policy.clockSkewMs);
    pass('document-age', policy.maxAgeMs !== null ? 'passed' : 'skipped');

    current = 'tls-binding';
    const tlsBindingScheme = policy.tlsCertificate === null ? null : checkTlsBinding(document, policy.tlsCertificate, policy.tlsBindingSchemes, policy.tlsExporter);
    pass('tls-binding', tlsBindingScheme !== null ? 'passed' : 'skipped');

    return { ok: true, document, anchor: chain.anchor, debugMode: isDebugModeDocument(document), tlsBindingScheme, checks };
  } catch (error) {
    if (!(error instanceof AttestationError)) throw error;
    checks.push({ name: current, outcome: 'failed' });
    return { ok: false, reason: error.code, message: error.message, checks };
  }
}
