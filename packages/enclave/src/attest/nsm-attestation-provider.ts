// The `nsm` provider: attestation documents from the Nitro Secure Module.
//
// The NSM speaks CBOR through one ioctl on /dev/nsm (NSM_IOCTL_RAW =
// 0xC0200A00; request at most 4096 bytes, response at most 12288; the ioctl
// is specified at the top of packages/vsock/src/vsock.c, the messages in
// nsm-messages.ts). An attestation is the NSM's own request, field for field:
//
//   {"Attestation": {"user_data": bstr / null, "nonce": bstr / null, "public_key": bstr / null}}
//
// answered by {"Attestation": {"document": bstr}} (the COSE_Sign1, returned
// unchanged) or {"Error": "<ErrorCode>"}. The device is the seam `NsmDevice`
// (nsm-client.ts), implemented by @http-enclave/vsock's NsmDevice on the
// native addon. Without the addon or /dev/nsm the provider refuses to start,
// so an enclave configured for nsm never runs without attestation by accident;
// start-up also asks the device DescribeNSM (describe()), so a device that
// does not answer stops start-up instead of failing the first client.

import { isVsockAvailable, NsmDevice as NativeNsmDevice, NSM_DEVICE_PATH, vsockAbsenceReason } from '@http-enclave/vsock';
import { existsSync } from 'node:fs';
import type { AttestationProvider, AttestationRequest } from './attestation-provider.js';
import { checkAttestationRequest } from './attestation-provider.js';
import { NsmClient, type NsmDevice } from './nsm-client.js';
import { AttestationUnavailableError } from '../enclave-errors.js';

/** Why the nsm provider cannot run here, or undefined when it can. */
export function nsmUnavailableReason(): string | undefined {
  if (!isVsockAvailable()) return `the @http-enclave/vsock addon is not available (${vsockAbsenceReason() ?? 'unknown reason'})`;
  if (!existsSync(NSM_DEVICE_PATH)) return `${NSM_DEVICE_PATH} does not exist: not inside an AWS Nitro Enclave`;
  return undefined;
}

/**
 * The nsm provider over `device` (by default /dev/nsm through the addon):
 * `attest` sends the NSM Attestation request and returns the document bytes
 * unchanged; `describe` asks DescribeNSM. Without a device it fails at
 * start-up with ATTESTATION_UNAVAILABLE and the reason.
 */
export function createNsmAttestationProvider(device?: NsmDevice): AttestationProvider {
  if (device === undefined) {
    const reason = nsmUnavailableReason();
    if (reason !== undefined) throw new AttestationUnavailableError(`the nsm provider needs /dev/nsm and the native addon: ${reason}`);
  }
  const nsm = new NsmClient(device ?? openNsmDevice());
  return {
    kind: 'nsm',
    async attest(request: AttestationRequest): Promise<Buffer> {
      checkAttestationRequest(request);
      return nsm.attestation({ userData: request.userData, nonce: request.nonce, publicKey: request.publicKey ?? null });
    },
    async describe() {
      let nsmInfo;
      try {
        nsmInfo = await nsm.describeNsm();
      } catch (error) {
        throw new AttestationUnavailableError(`the NSM did not answer DescribeNSM (${codeOrName(error)})`);
      }
      return {
        moduleId: nsmInfo.moduleId,
        nsmVersion: `${nsmInfo.versionMajor}.${nsmInfo.versionMinor}.${nsmInfo.versionPatch}`,
        digest: nsmInfo.digest,
        maxPcrs: nsmInfo.maxPcrs,
      };
    },
  };
}

/** /dev/nsm through the addon; a failure to open it (EACCES, ...) is ATTESTATION_UNAVAILABLE with the errno code. */
function openNsmDevice(): NsmDevice {
  try {
    return NativeNsmDevice.open();
  } catch (error) {
    throw new AttestationUnavailableError(`cannot open ${NSM_DEVICE_PATH} (${codeOrName(error)})`);
  }
}

/** An error's stable `code` (errno name, NSM_ERROR, ...) or else its class name: never its message. */
function codeOrName(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.name : 'UNKNOWN';
}
