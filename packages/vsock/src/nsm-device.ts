// /dev/nsm as a device object: one raw CBOR round trip per call (the
// NsmDevice seam of packages/enclave/src/attest/nsm-attestation-provider.ts).
// Message encoding and decoding live with the enclave (nsm-messages.ts); this
// class only moves bytes through the ioctl described at the top of vsock.c.

import { existsSync } from 'node:fs';
import { NSM_REQUEST_MAX_BYTES, NSM_RESPONSE_MAX_BYTES, isVsockAvailable, nsmClose, nsmOpen, nsmRequest } from './native.js';

export const NSM_DEVICE_PATH = '/dev/nsm';

/** True when the addon is built and the device node exists (inside a Nitro Enclave). */
export function isNsmAvailable(path: string = NSM_DEVICE_PATH): boolean {
  return isVsockAvailable() && existsSync(path);
}

export class NsmDeviceClosedError extends Error {
  readonly code = 'NSM_DEVICE_CLOSED';
  constructor() {
    super('the NSM device is closed');
    this.name = 'NsmDeviceClosedError';
  }
}

export class NsmDevice {
  #fd: number | undefined;
  /** Calls run one at a time, so NSM work holds at most one threadpool thread. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /** Opens the device (VsockUnavailableError without the addon; ENOENT outside an enclave). */
  static open(path: string = NSM_DEVICE_PATH): NsmDevice {
    return new NsmDevice(nsmOpen(path));
  }

  /** Sends one CBOR request (1..4096 bytes), resolves with the CBOR response (at most 12288 bytes). */
  call(request: Buffer): Promise<Buffer> {
    if (request.length === 0 || request.length > NSM_REQUEST_MAX_BYTES) {
      return Promise.reject(new RangeError(`an NSM request is 1..${NSM_REQUEST_MAX_BYTES} bytes, got ${request.length}`));
    }
    const run = async (): Promise<Buffer> => {
      if (this.#fd === undefined) throw new NsmDeviceClosedError();
      return nsmRequest(this.#fd, request, NSM_RESPONSE_MAX_BYTES);
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** Closes the device once the calls in flight are done. Idempotent. */
  async close(): Promise<void> {
    await this.#queue;
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    nsmClose(fd);
  }
}
