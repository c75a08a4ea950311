// A whole local stack with KEY_SOURCE=kms: the real host (ingress, storage,
// egress forwarder, AWS credentials from its environment), the real enclave
// (dev attestation provider with a root made here), and the KMS double
// (packages/kms-double, test code only) as a real HTTPS server on
// 127.0.0.1 that the enclave reaches only through the host's egress
// forwarder. The double's key policy pins the enclave's PCR0 unless told
// otherwise.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureRunningEnclave } from '@http-enclave/enclave';
import { startKmsDouble, type KmsDoubleHandle, type KeyPolicy } from '@http-enclave/kms-double';
import { startStack, type Stack, type StackOptions } from './stack.js';

export const KMS_REGION = 'eu-west-3';

export interface KmsStackOptions {
  /** Condition keys of the key policy; default pins ImageSha384 (= PCR0) to the enclave's own. */
  readonly recipientConditions?: Readonly<Record<string, string>>;
  readonly enclaveEnv?: Record<string, string>;
  readonly hostEnv?: Record<string, string>;
  readonly dir?: string;
  /**
   * Puts something between the egress forwarder and the double (a capture
   * relay): given the double's port, returns the port the enclave and the
   * allow-list should use instead.
   */
  readonly interpose?: (kmsPort: number) => Promise<number>;
}

export interface KmsStack {
  readonly stack: Stack;
  readonly double: KmsDoubleHandle;
  readonly keyArn: string;
  readonly pcr0Hex: string;
  readonly dir: string;
  /** The credentials the host hands to the enclave (test-generated). */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken: string };
  /** Environment the enclave and host were started with (for starting another enclave by hand). */
  readonly enclaveEnv: Record<string, string>;
  readonly hostEnv: Record<string, string>;
  stop(): Promise<void>;
}

/** A dev attestation root (P-384) made at test time, in `dir`. */
export function makeDevRoot(dir: string): { keyPath: string; certPath: string; certPem: string } {
  const keyPath = join(dir, 'root-key.pem');
  const certPath = join(dir, 'root.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1', '-sha384', '-nodes', '-days', '30',
    '-subj', '/CN=http-enclave dev attestation root', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', keyPath, '-out', certPath], { stdio: 'ignore' });
  return { keyPath, certPath, certPem: readFileSync(certPath, 'utf8') };
}

export function randomCredentials(): { accessKeyId: string; secretAccessKey: string; sessionToken: string } {
  return {
    accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64'),
    sessionToken: randomBytes(96).toString('base64'),
  };
}

export async function startKmsStack(options: KmsStackOptions = {}): Promise<KmsStack> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'http-enclave-kms-'));
  const root = makeDevRoot(dir);
  const pcr0Hex = measureRunningEnclave().pcr0.toString('hex');
  const credentials = randomCredentials();
  const handle = await startKmsDouble({ region: KMS_REGION, devRootCertificatePem: root.certPem, credentials: [credentials] });
  const policy: KeyPolicy = {
    allowDecryptWithoutRecipient: false,
    allowGenerateWithoutRecipient: false,
    recipientConditions: options.recipientConditions ?? { 'kms:RecipientAttestation:ImageSha384': pcr0Hex },
  };
  const keyArn = handle.createKey(policy);
  const caPath = join(dir, 'kms-ca.pem');
  writeFileSync(caPath, handle.caCertificatePem);
  const doublePort = Number(new URL(handle.url).port);
  const kmsPort = options.interpose === undefined ? doublePort : await options.interpose(doublePort);
  const hostEnv = {
    AWS_REGION: KMS_REGION,
    AWS_CREDENTIALS_SOURCE: 'env',
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_SESSION_TOKEN: credentials.sessionToken,
    EGRESS_LISTEN: `unix://${join(dir, 'egress.sock')}`,
    EGRESS_ALLOW: `localhost:${kmsPort}`,
    ...options.hostEnv,
  };
  const enclaveEnv = {
    KEY_SOURCE: 'kms',
    KMS_KEY_ID: keyArn,
    AWS_REGION: KMS_REGION,
    KMS_ENDPOINT: `https://localhost:${kmsPort}`,
    KMS_CA_PATH: caPath,
    EGRESS_ADDR: `unix://${join(dir, 'egress.sock')}`,
    ATTESTATION_PROVIDER: 'dev',
    ATTESTATION_DEV_ROOT_KEY_PATH: root.keyPath,
    ATTESTATION_DEV_ROOT_CERT_PATH: root.certPath,
    ...options.enclaveEnv,
  };
  const stackOptions: StackOptions = { dir, hostEnv, enclaveEnv };
  let stack: Stack;
  try {
    stack = await startStack(stackOptions);
  } catch (error) {
    await handle.close();
    throw error;
  }
  return {
    stack,
    double: handle,
    keyArn,
    pcr0Hex,
    dir,
    credentials,
    enclaveEnv,
    hostEnv,
    async stop() {
      await stack.stop();
      await handle.close();
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
