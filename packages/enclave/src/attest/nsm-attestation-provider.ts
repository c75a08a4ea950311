// The `nsm` provider: attestation documents from the Nitro Secure Module.
//
// The NSM speaks CBOR through one ioctl on /dev/nsm (NSM_IOCTL_RAW =
// 0xC0200A00; request at most 4096 bytes, response at most 12288; reference
// §4). The request is serde_cbor's encoding of a Rust enum variant:
//
//   {"Attestation": {"user_data": bstr / null, "nonce": bstr / null, "public_key": bstr / null}}
//
// and the answer {"Attestation": {"document": bstr}} (the COSE_Sign1) or
// {"Error": "<ErrorCode>"}. The device itself is the seam `NsmDevice`,
// implemented by @http-enclave/vsock's NsmDevice (the native addon). Without
// the addon or /dev/nsm the provider refuses to start, so an enclave
// configured for nsm never runs without attestation by accident.

import { AttestationProviderUnavailableError } from './attestation-errors.js';
import type { AttestationProvider, AttestationRequest } from './attestation-provider.js';
import { isNsmAvailable, NsmDevice as NativeNsmDevice } from '@http-enclave/vsock';
import { checkAttestationRequest } from './attestation-provider.js';
import { cborMap, encodeCbor } from './cbor-encoder.js';
import { decodeNsmResponse } from './nsm-messages.js';

/** Largest NSM request (NSM_REQUEST_MAX_SIZE, linux include/uapi/linux/nsm.h). */
export const NSM_REQUEST_MAX_BYTES = 0x1000;

/** One raw round trip to /dev/nsm: CBOR request in, CBOR response out. */
export interface NsmDevice {
  call(request: Buffer): Promise<Buffer>;
}

export const NSM_UNAVAILABLE_MESSAGE = 'the nsm provider needs /dev/nsm and the native addon (issue: vsock and NSM)';

/** The NSM `Attestation` request for `request` (absent fields are null, as serde encodes None). */
export function encodeNsmAttestationRequest(request: AttestationRequest): Buffer {
  return encodeCbor(
    cborMap([
      [
        'Attestation',
        cborMap([
          ['user_data', request.userData],
          ['nonce', request.nonce],
          ['public_key', request.publicKey ?? null],
        ]),
      ],
    ]),
  );
}

/**
 * The nsm provider: `attest` sends encodeNsmAttestationRequest(request)
 * through the device and returns the response's `document` bytes unchanged.
 * Without a device (no addon, or no /dev/nsm: not in a Nitro Enclave) it
 * fails at start-up with ATTESTATION_UNAVAILABLE.
 */
export function createNsmAttestationProvider(device: NsmDevice | undefined = openNsmDevice()): AttestationProvider {
  if (device === undefined) throw new AttestationProviderUnavailableError(NSM_UNAVAILABLE_MESSAGE);
  return {
    kind: 'nsm',
    async attest(request: AttestationRequest): Promise<Buffer> {
      checkAttestationRequest(request);
      const response = await device.call(encodeNsmAttestationRequest(request));
      return decodeNsmResponse('Attestation', response).document;
    },
  };
}

function openNsmDevice(): NsmDevice | undefined {
  return isNsmAvailable() ? NativeNsmDevice.open() : undefined;
}
