// Application policy over a verified (signed, chained) attestation document:
// debug mode, expected PCRs, PCR4 against module_id, nonce, age, TLS binding.
// Policy values come from the caller: a bad value is a programmer error and
// throws TypeError when the options are read; a document that does not meet
// the policy is an AttestationError with a stable code.

import { createHash, type X509Certificate } from 'node:crypto';

import type { AttestationDocument } from './attestation-document.js';
import { PCR_INDEX_LIMIT, PCR_VALUE_LENGTHS } from './attestation-document.js';
import { AttestationError } from './reason-codes.js';
import { findTlsBindingScheme, sessionExporterOf, TLS_BINDING_SCHEMES, TLS_EXPORTER_BYTES, toX509Certificate, type TlsBindingScheme, type TlsCertificateInput } from './user-data-binding.js';

export interface AttestationPolicy {
  /** Expected PCR values by index (0..31), hex, any case. An index absent from the document fails. */
  readonly pcrs?: Readonly<Record<number, string>>;
  /**
   * Accepted measurement sets (each like `pcrs`): the document must match
   * every PCR of at least one of them. Several sets allow a rolling upgrade
   * (the running image and the next one). Checked together with `pcrs`.
   */
  readonly pcrSets?: readonly Readonly<Record<number, string>>[];
  /** Accept debug-mode documents (PCR0, PCR1, PCR2 all zero). Default false. */
  readonly allowDebug?: boolean;
  /** The nonce the client sent; the document's must be byte-equal. */
  readonly nonce?: Uint8Array;
  /** Reject documents whose timestamp is older than this before `now`. Enables the future check too. */
  readonly maxAgeMs?: number;
  /** With maxAgeMs: how far after `now` a document timestamp may be (clock skew). Default 60 s. */
  readonly maxClockSkewMs?: number;
  /**
   * Leeway for a verifier whose clock is off, applied to every time check
   * alike: certificate validity (notBefore - skew .. notAfter + skew) and
   * document age (maxAgeMs + skew, maxClockSkewMs + skew). Default 0 (exact);
   * at most MAX_CLOCK_SKEW_MS.
   */
  readonly clockSkewMs?: number;
  /** The TLS certificate the client sees; user_data must bind its key. */
  readonly tlsCertificate?: TlsCertificateInput;
  /**
   * The client's own TLS exporter value for the connection it asked on
   * (label TLS_EXPORTER_LABEL, the nonce as context, 32 bytes). When given,
   * user_data must be session-bound (http-enclave-session-v2) to exactly this
   * value: a relay that holds the enclave's TLS key has another session.
   */
  readonly tlsExporter?: Uint8Array;
  /** Schemes accepted for the TLS binding. Default: all three (see user-data-binding.ts). */
  readonly tlsBindingSchemes?: readonly TlsBindingScheme[];
  /** Check PCR4 = SHA-384(0^48 || instance id of module_id) where module_id has the enclave form. Default true. */
  readonly checkPcr4ModuleId?: boolean;
}

/** Default tolerance for a document timestamp ahead of the client's clock. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 60_000;
/** The largest clockSkewMs: beyond ten minutes a clock needs fixing, not leeway. */
export const MAX_CLOCK_SKEW_MS = 10 * 60_000;

export interface NormalizedPolicy {
  readonly pcrs: ReadonlyMap<number, Uint8Array>;
  readonly pcrSets: readonly ReadonlyMap<number, Uint8Array>[];
  readonly allowDebug: boolean;
  readonly nonce: Uint8Array | null;
  readonly maxAgeMs: number | null;
  readonly maxClockSkewMs: number;
  readonly clockSkewMs: number;
  readonly tlsCertificate: X509Certificate | null;
  readonly tlsExporter: Uint8Array | null;
  readonly tlsBindingSchemes: readonly TlsBindingScheme[];
  readonly checkPcr4ModuleId: boolean;
}

function nonNegativeMs(value: number | undefined, name: string): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new TypeError(`policy.${name} must be a finite number >= 0`);
  return value;
}

function normalizePcrs(given: Readonly<Record<number, string>>, name: string): Map<number, Uint8Array> {
  const pcrs = new Map<number, Uint8Array>();
  for (const [key, hex] of Object.entries(given)) {
    const index = Number(key);
    if (!Number.isInteger(index) || index < 0 || index >= PCR_INDEX_LIMIT || String(index) !== key) {
      throw new TypeError(`${name}: index ${key} is not 0..${PCR_INDEX_LIMIT - 1}`);
    }
    if (typeof hex !== 'string' || !/^[0-9a-fA-F]*$/.test(hex) || !PCR_VALUE_LENGTHS.includes(hex.length / 2)) {
      throw new TypeError(`${name}[${index}] must be hex of ${PCR_VALUE_LENGTHS.join('/')} bytes`);
    }
    pcrs.set(index, Buffer.from(hex, 'hex'));
  }
  return pcrs;
}

/** True when the policy pins the enclave's code (some expected PCR), not just "a genuine enclave". */
export function pinsMeasurements(policy: AttestationPolicy | undefined): boolean {
  return Object.keys(policy?.pcrs ?? {}).length > 0 || (policy?.pcrSets ?? []).some((set) => Object.keys(set).length > 0);
}

/** Validates the caller's policy; throws TypeError for a programmer error. */
export function normalizePolicy(policy: AttestationPolicy = {}): NormalizedPolicy {
  const pcrs = normalizePcrs(policy.pcrs ?? {}, 'policy.pcrs');
  if (policy.pcrSets !== undefined && !Array.isArray(policy.pcrSets)) throw new TypeError('policy.pcrSets must be an array of PCR sets');
  const pcrSets = (policy.pcrSets ?? []).map((set, index) => normalizePcrs(set, `policy.pcrSets[${index}]`));
  if (pcrSets.some((set) => set.size === 0)) throw new TypeError('policy.pcrSets: a measurement set must name at least one PCR');
  if (policy.nonce !== undefined && !(policy.nonce instanceof Uint8Array)) throw new TypeError('policy.nonce must be a Uint8Array');
  const clockSkewMs = nonNegativeMs(policy.clockSkewMs, 'clockSkewMs') ?? 0;
  if (clockSkewMs > MAX_CLOCK_SKEW_MS) throw new TypeError(`policy.clockSkewMs must be at most ${MAX_CLOCK_SKEW_MS} ms`);
  if (policy.tlsExporter !== undefined && (!(policy.tlsExporter instanceof Uint8Array) || policy.tlsExporter.length !== TLS_EXPORTER_BYTES)) {
    throw new TypeError(`policy.tlsExporter must be a Uint8Array of ${TLS_EXPORTER_BYTES} bytes`);
  }
  if (policy.tlsExporter !== undefined && policy.tlsCertificate === undefined) throw new TypeError('policy.tlsExporter needs policy.tlsCertificate');
  const schemes = policy.tlsBindingSchemes ?? TLS_BINDING_SCHEMES;
  if (schemes.length === 0 || schemes.some((scheme) => !TLS_BINDING_SCHEMES.includes(scheme))) {
    throw new TypeError(`policy.tlsBindingSchemes must be a non-empty list of ${TLS_BINDING_SCHEMES.join(', ')}`);
  }
  let tlsCertificate: X509Certificate | null = null;
  if (policy.tlsCertificate !== undefined) {
    try {
      tlsCertificate = toX509Certificate(policy.tlsCertificate);
    } catch {
      throw new TypeError('policy.tlsCertificate is not an X.509 certificate (X509Certificate, PEM or DER)');
    }
  }
  return {
    pcrs,
    pcrSets,
    allowDebug: policy.allowDebug === true,
    nonce: policy.nonce === undefined ? null : Uint8Array.from(policy.nonce),
    maxAgeMs: nonNegativeMs(policy.maxAgeMs, 'maxAgeMs'),
    maxClockSkewMs: nonNegativeMs(policy.maxClockSkewMs, 'maxClockSkewMs') ?? DEFAULT_MAX_CLOCK_SKEW_MS,
    clockSkewMs,
    tlsCertificate,
    tlsExporter: policy.tlsExporter === undefined ? null : Uint8Array.from(policy.tlsExporter),
    tlsBindingSchemes: schemes,
    checkPcr4ModuleId: policy.checkPcr4ModuleId !== false,
  };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function isAllZero(bytes: Uint8Array | undefined): boolean {
  return bytes === undefined || bytes.every((byte) => byte === 0);
}

/** Debug mode: PCR0, PCR1 and PCR2 all zero (a missing one counts as zero: the stricter reading). */
export function isDebugModeDocument(document: AttestationDocument): boolean {
  return isAllZero(document.pcrs.get(0)) && isAllZero(document.pcrs.get(1)) && isAllZero(document.pcrs.get(2));
}

export function checkDebugMode(document: AttestationDocument, policy: NormalizedPolicy): void {
  if (isDebugModeDocument(document) && !policy.allowDebug) {
    throw new AttestationError('DEBUG_MODE', 'debug-mode document (PCR0, PCR1, PCR2 all zero) and policy.allowDebug is not set');
  }
}

export function checkPcrs(document: AttestationDocument, policy: NormalizedPolicy): void {
  for (const [index, expected] of policy.pcrs) {
    const actual = document.pcrs.get(index);
    if (actual === undefined) throw new AttestationError('PCR_MISMATCH', `PCR${index} is not in the document`);
    if (!bytesEqual(actual, expected)) throw new AttestationError('PCR_MISMATCH', `PCR${index} differs from the expected value`);
  }
  if (policy.pcrSets.length === 0) return;
  const matches = (set: ReadonlyMap<number, Uint8Array>): boolean =>
    [...set].every(([index, expected]) => {
      const actual = document.pcrs.get(index);
      return actual !== undefined && bytesEqual(actual, expected);
    });
  if (!policy.pcrSets.some(matches)) {
    throw new AttestationError('PCR_MISMATCH', `the document matches none of the ${policy.pcrSets.length} accepted measurement set(s)`);
  }
}

/** Enclave module ids: "i-<instance hex>-enc<enclave hex>"; the instance id is the part before "-enc". */
const ENCLAVE_MODULE_ID = /^(i-[0-9a-f]+)-enc[0-9a-f]+$/;
const PCR4_INITIAL = new Uint8Array(48);

/**
 * The PCR4 a genuine enclave on instance `moduleId` must have:
 * SHA-384(48 zero bytes || ASCII instance id) (PCR extension of the parent
 * instance id; verified on every real vector). Null when module_id has
 * another form (the check does not apply).
 */
export function expectedPcr4ForModuleId(moduleId: string): Uint8Array | null {
  const match = ENCLAVE_MODULE_ID.exec(moduleId);
  const instanceId = match?.[1];
  if (instanceId === undefined) return null;
  return createHash('sha384').update(PCR4_INITIAL).update(instanceId, 'ascii').digest();
}

/** Returns false when the check does not apply (module_id form, or no 48-byte PCR4). */
export function checkPcr4ModuleId(document: AttestationDocument): boolean {
  const expected = expectedPcr4ForModuleId(document.moduleId);
  const actual = document.pcrs.get(4);
  if (expected === null || actual === undefined || actual.length !== expected.length) return false;
  if (!bytesEqual(actual, expected)) throw new AttestationError('PCR4_MODULE_MISMATCH', 'PCR4 does not match the instance id in module_id');
  return true;
}

export function checkNonce(document: AttestationDocument, expected: Uint8Array): void {
  if (document.nonce === null) throw new AttestationError('NONCE_MISMATCH', 'the document has no nonce');
  if (!bytesEqual(document.nonce, expected)) throw new AttestationError('NONCE_MISMATCH', `the document nonce (${document.nonce.length} bytes) differs from the expected one`);
}

export function checkDocumentAge(document: AttestationDocument, nowMs: number, maxAgeMs: number, maxClockSkewMs: number, clockSkewMs = 0): void {
  if (document.timestamp - nowMs > maxClockSkewMs + clockSkewMs) {
    throw new AttestationError('DOCUMENT_FROM_FUTURE', `the document timestamp is ${document.timestamp - nowMs} ms after now`);
  }
  if (nowMs - document.timestamp > maxAgeMs + clockSkewMs) {
    throw new AttestationError('DOCUMENT_TOO_OLD', `the document is ${nowMs - document.timestamp} ms old, allowed ${maxAgeMs}`);
  }
}

export function checkTlsBinding(
  document: AttestationDocument,
  certificate: X509Certificate,
  schemes: readonly TlsBindingScheme[],
  exporter: Uint8Array | null = null,
): TlsBindingScheme {
  const scheme = findTlsBindingScheme(document.userData, certificate, schemes);
  if (scheme === null) {
    throw new AttestationError(
      'TLS_BINDING_MISMATCH',
      document.userData === null ? 'the document has no user_data to bind the TLS certificate' : `user_data (${document.userData.length} bytes) does not bind the TLS certificate key`,
    );
  }
  if (exporter !== null) {
    const bound = sessionExporterOf(document.userData);
    if (scheme !== 'http-enclave-session-v2' || bound === null) throw new AttestationError('TLS_SESSION_MISMATCH', 'user_data binds the key but no TLS session, and the policy names this connection\'s exporter');
    if (!bytesEqual(bound, exporter)) {
      throw new AttestationError('TLS_SESSION_MISMATCH', 'user_data binds another TLS session than this connection (a relay holding the enclave\'s TLS key)');
    }
  }
  return scheme;
}
