import { AttestationRequestError } from '../enclave-errors.js';
// Where attestation documents come from. Two providers with one interface,
// chosen by ATTESTATION_PROVIDER (default `none`: no provider, and
// GET /attestation answers 404 ATTESTATION_UNAVAILABLE):
//
//   nsm  the Nitro Secure Module, /dev/nsm (nsm-attestation-provider.ts).
//        The request mirrors the NSM's own `Attestation` request, field for
//        field ({"Attestation": {user_data, nonce, public_key}}, reference §4),
//        so that provider only encodes it, sends it and returns `document`.
//   dev  a local simulator with its own CA (dev-attestation-provider.ts):
//        same document format, NOT trusted by any client by default, only
//        ever chosen explicitly, and it says "dev" in every output.
//
// The factory is create-attestation-provider.ts (a separate file, so the
// providers can import this one without an import cycle).
//
// `dev` is never the default: an enclave that silently produced documents
// signed by a key the operator can see would defeat attestation.


export type AttestationProviderKind = 'nsm' | 'dev';
/** Values of ATTESTATION_PROVIDER. */
export const ATTESTATION_PROVIDER_SETTINGS = ['none', 'nsm', 'dev'] as const;
export type AttestationProviderSetting = (typeof ATTESTATION_PROVIDER_SETTINGS)[number];

export interface AttestationRequest {
  /** Application data; ours is the TLS binding (tls-binding.ts). */
  readonly userData: Buffer;
  /** The client's challenge, echoed in the document. */
  readonly nonce: Buffer;
  /** Optional DER public key (KMS recipient key, later). */
  readonly publicKey?: Buffer;
}

export interface AttestationProvider {
  readonly kind: AttestationProviderKind;
  /** Returns the untagged COSE_Sign1 bytes of a fresh attestation document. */
  attest(request: AttestationRequest): Promise<Buffer>;
  /**
   * Asks the device who it is, once at start-up (logged; `nsm` only). Fails
   * with ATTESTATION_UNAVAILABLE when the device does not answer.
   */
  describe?(): Promise<Readonly<Record<string, string | number>>>;
}

/**
 * Per-field limit of user_data / nonce / public_key: 512 bytes, the strictest
 * limit in AWS's validation rules (reference §0.9; the CDDL says 1024 and the
 * NSM's real bound is its 4096-byte request), so every verifier accepts our
 * documents.
 */
export const MAX_ATTESTATION_FIELD_BYTES = 512;

export function checkAttestationRequest(request: AttestationRequest): void {
  const fields: [string, Buffer | undefined][] = [
    ['userData', request.userData],
    ['nonce', request.nonce],
    ['publicKey', request.publicKey],
  ];
  for (const [name, value] of fields) {
    if (value !== undefined && value.length > MAX_ATTESTATION_FIELD_BYTES) {
      throw new AttestationRequestError(`${name} is ${value.length} bytes, at most ${MAX_ATTESTATION_FIELD_BYTES}`);
    }
  }
}
