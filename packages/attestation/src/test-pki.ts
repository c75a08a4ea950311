// TEST ONLY: a throw-away development PKI, made with OpenSSL when the tests
// load this module (keys are never committed), in a temporary directory
// removed at exit. Root (P-384, CA) → intermediate (P-384, CA, pathlen 0) →
// leaf (P-384, not CA), plus a P-256 leaf under the same intermediate and a
// self-signed P-256 TLS certificate. Tests sign synthetic documents with the
// private keys, and verify at DEV_PKI_TIME, a time inside every certificate.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'attestation-test-pki-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(name: string, curve: 'secp384r1' | 'prime256v1'): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-out', `${name}.key`]);
}

/** Issues `name` (key already made) under `issuer`, with the extensions given. */
function issue(name: string, subject: string, issuer: string, serial: number, extensions: string, digest = 'sha384'): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-set_serial', String(serial),
    '-days', '3650', `-${digest}`, '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
}

const read = (file: string): string => readFileSync(join(dir, file), 'utf8');

newKey('root', 'secp384r1');
openssl(['req', '-x509', '-key', 'root.key', '-sha384', '-days', '3650', '-set_serial', '1', '-subj', '/C=US/O=http-enclave TEST/CN=dev-root.test',
  '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'root.pem']);
newKey('intermediate', 'secp384r1');
issue('intermediate', '/C=US/O=http-enclave TEST/CN=dev-intermediate.test', 'root', 2,
  'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
newKey('leaf', 'secp384r1');
issue('leaf', '/C=US/O=http-enclave TEST/CN=i-0123456789abcdef0-enc0123456789abcdef.test', 'intermediate', 3,
  'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
newKey('p256-leaf', 'prime256v1');
issue('p256-leaf', '/C=US/O=http-enclave TEST/CN=p256-leaf.test', 'intermediate', 4,
  'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n');
newKey('tls', 'prime256v1');
openssl(['req', '-x509', '-key', 'tls.key', '-sha256', '-days', '3650', '-subj', '/CN=enclave.test', '-out', 'tls.pem']);

/** A time inside every certificate above: they start now (OpenSSL's clock) and run ten years. */
export const DEV_PKI_TIME = new Date(Date.now() + 60 * 60_000);
export const DEV_ROOT_PEM = read('root.pem');
export const DEV_INTERMEDIATE_PEM = read('intermediate.pem');
export const DEV_INTERMEDIATE_KEY_PEM = read('intermediate.key');
export const DEV_LEAF_PEM = read('leaf.pem');
export const DEV_LEAF_KEY_PEM = read('leaf.key');
export const DEV_P256_LEAF_PEM = read('p256-leaf.pem');
export const DEV_P256_LEAF_KEY_PEM = read('p256-leaf.key');
export const TEST_TLS_CERTIFICATE_PEM = read('tls.pem');

export interface IssuedTestCertificate {
  /** The name to give as `issuer` when issuing below this certificate. */
  readonly name: string;
  readonly certificatePem: string;
  readonly keyPem: string;
}

let nextSerial = 100;

/**
 * Issues one more certificate with OpenSSL, under `issuer` ('root' for the
 * dev root, or a name returned earlier), with a fresh key on `curve`, signed
 * with `digest`, carrying exactly `extensions` (OpenSSL extfile syntax; an
 * empty string for none). Used to build chains with one defect each.
 */
export function issueTestCertificate(options: {
  readonly name: string;
  readonly issuer: string;
  readonly extensions: string;
  readonly curve?: 'secp384r1' | 'prime256v1';
  readonly digest?: 'sha384' | 'sha256' | 'sha512' | 'sha1';
}): IssuedTestCertificate {
  newKey(options.name, options.curve ?? 'secp384r1');
  nextSerial += 1;
  issue(options.name, `/C=US/O=http-enclave TEST/CN=${options.name}.test`, options.issuer, nextSerial, options.extensions, options.digest);
  return { name: options.name, certificatePem: read(`${options.name}.pem`), keyPem: read(`${options.name}.key`) };
}

/** OpenSSL extension lines of a well-formed intermediate CA and leaf, as the dev PKI above uses. */
export const TEST_CA_EXTENSIONS = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n';
export const TEST_LEAF_EXTENSIONS = 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n';
