// Chooses the enclave's TLS identity at start-up: the certificate and key
// files named by TLS_CERT_PATH / TLS_KEY_PATH when both exist, a freshly
// generated in-memory P-256 identity when neither exists, and a CONFIG_INVALID
// error when only one exists or the files are unusable.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';

import { generateEphemeralTlsIdentity } from './self-signed-certificate.js';
import type { TlsMaterial } from './self-signed-certificate.js';
import { ConfigInvalidError } from '../enclave-errors.js';

export type TlsIdentitySource = 'files' | 'generated';

export interface TlsIdentity extends TlsMaterial {
  readonly source: TlsIdentitySource;
}

export interface LoadTlsIdentityOptions {
  readonly certPath: string;
  readonly keyPath: string;
  readonly now: Date;
  readonly exists?: (path: string) => boolean;
  readonly readFile?: (path: string) => Buffer;
  /** Passed through when generating. */
  readonly commonName?: string;
  readonly altNames?: readonly string[];
}

/** Only an error's `code` (e.g. ENOENT, ERR_OSSL_…) goes into messages: never its text, which may quote input. */
function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return error instanceof Error ? error.name : typeof error;
}

function readVariableFile(variable: 'TLS_CERT_PATH' | 'TLS_KEY_PATH', path: string, readFile: (path: string) => Buffer): Buffer {
  try {
    return readFile(path);
  } catch (error) {
    throw new ConfigInvalidError([{ variable: variable, problem: `file could not be read (${errorCode(error)})` }]);
  }
}

export function loadTlsIdentity(options: LoadTlsIdentityOptions): TlsIdentity {
  const exists = options.exists ?? existsSync;
  const readFile = options.readFile ?? ((path: string) => readFileSync(path));
  const certExists = exists(options.certPath);
  const keyExists = exists(options.keyPath);

  if (!certExists && !keyExists) {
    return {
      source: 'generated',
      ...generateEphemeralTlsIdentity({
        now: options.now,
        ...(options.commonName !== undefined ? { commonName: options.commonName } : {}),
        ...(options.altNames !== undefined ? { altNames: options.altNames } : {}),
      }),
    };
  }
  if (!certExists || !keyExists) {
    const [present, missing]: ['TLS_CERT_PATH' | 'TLS_KEY_PATH', 'TLS_CERT_PATH' | 'TLS_KEY_PATH'] = certExists ? ['TLS_CERT_PATH', 'TLS_KEY_PATH'] : ['TLS_KEY_PATH', 'TLS_CERT_PATH'];
    throw new ConfigInvalidError([{ variable: missing, problem: `file does not exist while ${present} does; set both to use files, or neither to generate an in-memory identity`, related: ['TLS_CERT_PATH', 'TLS_KEY_PATH'] }]);
  }

  const certBytes = readVariableFile('TLS_CERT_PATH', options.certPath, readFile);
  const keyBytes = readVariableFile('TLS_KEY_PATH', options.keyPath, readFile);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certBytes);
  } catch (error) {
    throw new ConfigInvalidError([{ variable: 'TLS_CERT_PATH', problem: `not a parseable X.509 certificate (${errorCode(error)})` }]);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyBytes);
  } catch (error) {
    throw new ConfigInvalidError([{ variable: 'TLS_KEY_PATH', problem: `not a parseable unencrypted private key (${errorCode(error)})` }]);
  } finally {
    keyBytes.fill(0);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigInvalidError([{ variable: 'TLS_KEY_PATH', problem: 'private key does not match the certificate in TLS_CERT_PATH', related: ['TLS_CERT_PATH'] }]);
  }
  return {
    source: 'files',
    // Re-export the key as PKCS#8 PEM: one format for the server whatever the file held.
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem: certificate.toString(),
    fingerprintSha256: certificate.fingerprint256,
  };
}
