// Builds the provider ATTESTATION_PROVIDER names, at start-up:
//   none → undefined (GET /attestation answers 404 ATTESTATION_UNAVAILABLE);
//   nsm  → the Nitro Secure Module; ATTESTATION_UNAVAILABLE without /dev/nsm or the addon;
//   dev  → the simulator, with a warning naming its root's fingerprint.

import type { Logger } from '../log.js';
import type { AttestationProvider, AttestationProviderSetting } from './attestation-provider.js';
import { measureRunningEnclave, type DevMeasurements } from './code-measurement.js';
import { createDevAttestationProvider } from './dev-attestation-provider.js';
import { generateDevAttestationRoot, loadDevAttestationRoot } from './dev-attestation-root.js';
import { createNsmAttestationProvider } from './nsm-attestation-provider.js';
import { AttestationUnavailableError, CodeMeasurementError } from '../enclave-errors.js';

export interface AttestationProviderOptions {
  readonly setting: AttestationProviderSetting;
  /** Both or neither (config.ts checks); only with `dev`. */
  readonly devRootKeyPath: string | undefined;
  readonly devRootCertPath: string | undefined;
}

export interface AttestationProviderDeps {
  readonly now: () => Date;
  readonly logger: Logger;
  /** Defaults to measuring the running code (code-measurement.ts). */
  readonly measure?: () => DevMeasurements;
}

export function createAttestationProvider(options: AttestationProviderOptions, deps: AttestationProviderDeps): AttestationProvider | undefined {
  switch (options.setting) {
    case 'none':
      return undefined;
    case 'nsm':
      return createNsmAttestationProvider();
    case 'dev': {
      const root =
        options.devRootKeyPath !== undefined && options.devRootCertPath !== undefined
          ? loadDevAttestationRoot({ keyPath: options.devRootKeyPath, certPath: options.devRootCertPath, now: deps.now() })
          : generateDevAttestationRoot(deps.now());
      let measurements: DevMeasurements;
      try {
        measurements = (deps.measure ?? measureRunningEnclave)();
      } catch (error) {
        // A link or a missing dependency in the code to measure: no document is better than one that misstates the code.
        if (error instanceof CodeMeasurementError) throw new AttestationUnavailableError(`ATTESTATION_PROVIDER=dev: ${error.message}`);
        throw error;
      }
      const provider = createDevAttestationProvider({ root, measurements, now: deps.now });
      deps.logger.warn('ATTESTATION_PROVIDER=dev: attestation documents are signed by a local development CA, not AWS; no client should trust them outside development', {
        devRootSha256: provider.rootFingerprintSha256,
        devRootSource: root.source,
        moduleId: provider.moduleId,
        pcr0: measurements.pcr0.toString('hex'),
      });
      return provider;
    }
  }
}
