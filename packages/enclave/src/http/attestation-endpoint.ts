// GET /attestation?nonce=HEX — public (no bearer token): a fresh attestation
// document that binds the TLS key of THIS connection and echoes the nonce.
//
//   nonce      required, exactly one, an even number of hex digits, 1..512
//              bytes (the 512-byte limit of AWS's validation rules), else
//              400 INVALID_NONCE
//   user_data  tls-binding.ts of the certificate this TLS connection
//              presented (read from the socket, so it is the live one) and
//              of this TLS session (its exporter, with the nonce as context)
//   response   200 application/cbor: the raw COSE_Sign1 bytes; or, when
//              Accept prefers application/json (listed, q > 0, and above
//              application/cbor's q if that is listed too):
//              {"document": "<base64>", "format": "cose_sign1", "provider": "dev"|"nsm"}
//   404 ATTESTATION_UNAVAILABLE  ATTESTATION_PROVIDER=none, or plain HTTP
//              (USE_TLS=false: no TLS key to bind)
//
// Each document costs one ECDSA P-384 signature (~1 ms of CPU with `dev`);
// there is no rate limit beyond MAX_CONNECTIONS yet.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { TLSSocket } from 'node:tls';

import type { AttestationProvider } from '../attest/attestation-provider.js';
import { MAX_ATTESTATION_FIELD_BYTES } from '../attest/attestation-provider.js';
import { attestationExporter, tlsBindingUserData } from '../attest/tls-binding.js';
import { AttestationUnavailableError, InvalidNonceError } from '../enclave-errors.js';
import { publishAttestation } from '../telemetry/enclave-events.js';

const NONCE_PATTERN = new RegExp(`^(?:[0-9A-Fa-f]{2}){1,${MAX_ATTESTATION_FIELD_BYTES}}$`);

/** The nonce of `url`'s query string, or INVALID_NONCE. */
export function parseNonce(url: string | undefined): Buffer {
  const text = url ?? '';
  const queryStart = text.indexOf('?');
  const values = queryStart < 0 ? [] : new URLSearchParams(text.slice(queryStart + 1)).getAll('nonce');
  const [value] = values;
  if (values.length !== 1 || value === undefined || !NONCE_PATTERN.test(value)) throw new InvalidNonceError();
  return Buffer.from(value, 'hex');
}

function qualityOf(parameters: readonly string[]): number {
  for (const parameter of parameters) {
    const [name = '', value = ''] = parameter.split('=', 2).map((part) => part.trim());
    if (name.toLowerCase() === 'q') {
      const quality = Number(value);
      return Number.isFinite(quality) ? quality : 0;
    }
  }
  return 1;
}

/** Whether the Accept header asks for JSON rather than CBOR (the default). */
export function prefersJson(accept: string | undefined): boolean {
  let json = 0;
  let cbor = -1;
  for (const range of (accept ?? '').split(',')) {
    const [type = '', ...parameters] = range.split(';');
    const mediaType = type.trim().toLowerCase();
    if (mediaType === 'application/json') json = Math.max(json, qualityOf(parameters));
    else if (mediaType === 'application/cbor') cbor = Math.max(cbor, qualityOf(parameters));
  }
  return json > 0 && json > cbor;
}

/** The DER certificate this TLS connection presented, or undefined on plain HTTP. */
function liveCertificateDer(request: IncomingMessage): Buffer | undefined {
  const socket = request.socket;
  if (!(socket instanceof TLSSocket)) return undefined;
  const certificate = socket.getCertificate();
  return certificate !== null && 'raw' in certificate && Buffer.isBuffer(certificate.raw) ? certificate.raw : undefined;
}

function writeBody(response: ServerResponse, contentType: string, body: Buffer | string): void {
  response.writeHead(200, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    vary: 'accept',
  });
  response.end(body);
}

export async function serveAttestation(request: IncomingMessage, response: ServerResponse, provider: AttestationProvider | undefined): Promise<void> {
  const certificateDer = liveCertificateDer(request);
  if (provider === undefined || certificateDer === undefined) throw new AttestationUnavailableError();
  const nonce = parseNonce(request.url);
  const socket = request.socket as TLSSocket;
  const started = performance.now();
  let document: Buffer;
  try {
    document = await provider.attest({ userData: tlsBindingUserData(certificateDer, attestationExporter(socket, nonce)), nonce });
  } catch (error) {
    publishAttestation({ outcome: 'failed', durationMs: performance.now() - started });
    throw error;
  }
  publishAttestation({ outcome: 'signed', durationMs: performance.now() - started });
  if (prefersJson(request.headers.accept)) {
    writeBody(response, 'application/json', JSON.stringify({ document: document.toString('base64'), format: 'cose_sign1', provider: provider.kind }));
  } else {
    writeBody(response, 'application/cbor', document);
  }
}
