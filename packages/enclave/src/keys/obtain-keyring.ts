// Start-up: the keyring from the configured key source, and nothing else.
//   env  ENCLAVE_KEY_BASE64 (development only);
//   kms  released by AWS KMS to this attested enclave (kms/kms-keyring.ts).
// There is no fallback between them: a KMS failure stops start-up.

import { readFileSync } from 'node:fs';
import type { AttestationProvider } from '../attest/attestation-provider.js';
import type { EnclaveConfig, KmsSettings } from '../config.js';
import type { Logger } from '../log.js';
import { type StorageClient } from '../storage/storage-client.js';
import { createKeyringFromEnvKey, type Keyring } from './keyring.js';
import { createCredentialsCache } from './kms/credentials-cache.js';
import { KmsClient } from './kms/kms-client.js';
import { loadKmsKeyring, type KmsKeyringDeps, type KmsKeyringState } from './kms/kms-keyring.js';
import { ConfigInvalidError, StorageUnavailableError } from '../enclave-errors.js';

/** How long key release waits for the host's storage service to answer at start-up. */
export const STORAGE_WAIT_AT_START_MS = 30_000;
const STORAGE_RETRY_MS = 250;

export type ObtainedKeyring =
  | { readonly source: 'env'; readonly keyring: Keyring }
  | { readonly source: 'kms'; readonly state: KmsKeyringState; readonly deps: KmsKeyringDeps };

export interface ObtainKeyringDeps {
  readonly storage: StorageClient;
  readonly attestation: AttestationProvider | undefined;
  readonly logger: Logger;
}

export async function obtainKeyring(config: EnclaveConfig, deps: ObtainKeyringDeps): Promise<ObtainedKeyring> {
  if (config.keySource === 'env') {
    if (config.masterKey === undefined) throw new ConfigInvalidError([{ variable: 'ENCLAVE_KEY_BASE64', problem: 'is not set' }]);
    deps.logger.warn('master key source is ENCLAVE_KEY_BASE64 (env): development only; the host can read this process environment');
    return { source: 'env', keyring: createKeyringFromEnvKey(config.masterKey) };
  }
  const settings = config.kms;
  if (settings === undefined || deps.attestation === undefined) throw new ConfigInvalidError([{ variable: 'KEY_SOURCE', problem: 'kms needs KMS settings and an attestation provider' }]);
  const kmsDeps: KmsKeyringDeps = {
    kms: createKmsClient(settings, deps.storage),
    kmsKeyId: settings.keyId,
    attestation: deps.attestation,
    storage: deps.storage,
    logger: deps.logger,
  };
  deps.logger.info('asking KMS for the master keyring', {
    kmsEndpoint: settings.endpoint.host,
    region: settings.region,
    attestationProvider: deps.attestation.kind,
  });
  await waitForStorage(deps.storage);
  const state = await loadKmsKeyring(kmsDeps);
  return { source: 'kms', state, deps: kmsDeps };
}

function createKmsClient(settings: KmsSettings, storage: StorageClient): KmsClient {
  let ca: string | undefined;
  if (settings.caPath !== undefined) {
    try {
      ca = readFileSync(settings.caPath, 'utf8');
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new ConfigInvalidError([{ variable: 'KMS_CA_PATH', problem: `cannot read the CA bundle (${typeof code === 'string' ? code : 'error'})` }]);
    }
  }
  return new KmsClient({
    region: settings.region,
    endpoint: settings.endpoint,
    egressAddress: settings.egressAddress,
    ca,
    timeoutMs: settings.timeoutMs,
    maxAttempts: settings.maxAttempts,
    credentials: createCredentialsCache(() => storage.getAwsCredentials()),
  });
}

/** The host may start after the enclave: wait (bounded) until its storage service answers. */
async function waitForStorage(storage: StorageClient): Promise<void> {
  const deadline = Date.now() + STORAGE_WAIT_AT_START_MS;
  for (;;) {
    try {
      await storage.ping(1_000);
      return;
    } catch (error) {
      if (!(error instanceof StorageUnavailableError) || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, STORAGE_RETRY_MS));
    }
  }
}
