// run(): starts the double from a config, makes one key, and returns the
// handle and the line main.ts prints: {"url":…,"caPath":…,"keyArn":…}.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

import type { KmsDoubleConfig } from './kms-double-config.js';
import { startKmsDouble, type KmsDoubleHandle } from './server.js';

export interface RunningKmsDouble {
  readonly handle: KmsDoubleHandle;
  readonly keyArn: string;
  /** One JSON line, no secrets: url, caPath, keyArn. */
  readonly announcement: string;
}

export async function runKmsDouble(config: KmsDoubleConfig): Promise<RunningKmsDouble> {
  // PEM or DER: X509Certificate reads both; the verifier wants PEM.
  const devRootCertificatePem = new X509Certificate(readFileSync(config.devRootCertificatePath)).toString();
  const handle = await startKmsDouble({
    region: config.region,
    devRootCertificatePem,
    credentials: [{
      accessKeyId: config.accessKeyId,
      secretAccessKey: config.secretAccessKey,
      ...(config.sessionToken === null ? {} : { sessionToken: config.sessionToken }),
    }],
    port: config.port,
    ...(config.caDirectory === null ? {} : { caDirectory: config.caDirectory }),
  });
  const keyArn = config.policy === null ? handle.createKey() : handle.createKey(config.policy);
  const announcement = JSON.stringify({ url: handle.url, caPath: handle.caPath, keyArn });
  return { handle, keyArn, announcement };
}
