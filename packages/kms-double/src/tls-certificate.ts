// The double's TLS identity, made at start with the `openssl` CLI: a
// throw-away CA (EC P-256, CA:TRUE) and a leaf for localhost / 127.0.0.1 / ::1
// (serverAuth) that it issues. The private keys live in a private temporary
// directory only while openssl runs, then in memory; the CA certificate is
// what a client under test trusts (NODE_EXTRA_CA_CERTS or `ca`).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One day: a double lives as long as a test run. */
export const TLS_CERTIFICATE_DAYS = 1;

export interface DoubleTlsIdentity {
  readonly caCertificatePem: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

export function createDoubleTlsIdentity(): DoubleTlsIdentity {
  const dir = mkdtempSync(join(tmpdir(), 'kms-double-tls-'));
  const openssl = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  try {
    const days = String(TLS_CERTIFICATE_DAYS);
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'ca.key']);
    openssl(['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', days, '-subj', '/CN=kms-double TEST CA (not AWS)',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.pem']);
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'leaf.key']);
    openssl(['req', '-new', '-key', 'leaf.key', '-subj', '/CN=localhost', '-out', 'leaf.csr']);
    writeFileSync(join(dir, 'leaf.ext'), [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
      '',
    ].join('\n'));
    openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(Date.now()),
      '-days', days, '-sha256', '-extfile', 'leaf.ext', '-out', 'leaf.pem']);
    const read = (file: string): string => readFileSync(join(dir, file), 'utf8');
    return { caCertificatePem: read('ca.pem'), certificatePem: read('leaf.pem'), privateKeyPem: read('leaf.key') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
