// A typed API over the Nitro Secure Module: one method per request we use
// (Attestation, DescribePCR, DescribeNSM, GetRandom). Each method encodes its
// request (nsm-messages.ts), sends it through an `NsmDevice` (the raw CBOR
// round trip; @http-enclave/vsock's NsmDevice on /dev/nsm, a recorded device
// in tests) and decodes the answer strictly: a malformed answer is
// NSM_MALFORMED_RESPONSE, {"Error": …} is NSM_ERROR with the NSM's own code.

import { decodeNsmResponse, encodeNsmRequest, type NsmResponses } from './nsm-messages.js';

/** One raw round trip to /dev/nsm: CBOR request in, CBOR response out. */
export interface NsmDevice {
  call(request: Buffer): Promise<Buffer>;
}

export interface NsmAttestationFields {
  readonly userData: Buffer | null;
  readonly nonce: Buffer | null;
  readonly publicKey: Buffer | null;
}

export class NsmClient {
  readonly #device: NsmDevice;

  constructor(device: NsmDevice) {
    this.#device = device;
  }

  /** A fresh attestation document (untagged COSE_Sign1 bytes, exactly as the NSM returned them). */
  async attestation(fields: NsmAttestationFields): Promise<Buffer> {
    const answer = await this.#device.call(encodeNsmRequest({ kind: 'Attestation', ...fields }));
    return decodeNsmResponse('Attestation', answer).document;
  }

  /** PCR `index`: its value and whether it is locked. */
  async describePcr(index: number): Promise<NsmResponses['DescribePCR']> {
    return decodeNsmResponse('DescribePCR', await this.#device.call(encodeNsmRequest({ kind: 'DescribePCR', index })));
  }

  /** The module's version, module id, PCR count, locked PCRs and digest. */
  async describeNsm(): Promise<NsmResponses['DescribeNSM']> {
    return decodeNsmResponse('DescribeNSM', await this.#device.call(encodeNsmRequest({ kind: 'DescribeNSM' })));
  }

  /** Random bytes from the NSM's hardware source (the amount is the NSM's choice). */
  async getRandom(): Promise<Buffer> {
    return decodeNsmResponse('GetRandom', await this.#device.call(encodeNsmRequest({ kind: 'GetRandom' }))).random;
  }
}
