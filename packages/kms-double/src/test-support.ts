// TEST ONLY helpers for the double's own tests (not exported from index.ts):
// a SHA-256 class for @smithy/signature-v4, a signed KMS client over
// node:https, dev attestation documents signed by the attestation package's
// test PKI, and a minimal BER reader to open CMS envelopes with node:crypto.

import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { request as httpsRequest } from 'node:https';

import { expectedPcr4ForModuleId } from '@http-enclave/attestation';
import { SignatureV4 } from '@smithy/signature-v4';

import { encodeTestCbor, signTestDocument, testPayloadFields, TEST_MODULE_ID, type TestCbor } from '../../attestation/dist/test-support.js';
import { DEV_ROOT_PEM } from '../../attestation/dist/test-pki.js';

export { DEV_ROOT_PEM };

type SourceData = string | ArrayBuffer | ArrayBufferView;

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** The `sha256` option of SignatureV4: SHA-256, or HMAC-SHA-256 when given a secret. */
export class NodeSha256 {
  readonly #secret: SourceData | undefined;
  #hash: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.#secret = secret;
    this.#hash = this.#fresh();
  }

  #fresh(): Hash | Hmac {
    return this.#secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(this.#secret));
  }

  update(data: SourceData): void {
    this.#hash.update(toBuffer(data));
  }

  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#hash.digest()));
  }

  reset(): void {
    this.#hash = this.#fresh();
  }
}

export interface TestCredential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface SignedRequestInput {
  readonly credential: TestCredential;
  readonly region: string;
  readonly service?: string;
  readonly host: string;
  readonly path?: string;
  readonly query?: Record<string, string>;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly signingDate?: Date;
  readonly applyChecksum?: boolean;
}

/** Signs with @smithy/signature-v4 (the oracle); returns the headers to send. */
export async function signWithSmithy(input: SignedRequestInput): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    service: input.service ?? 'kms',
    region: input.region,
    credentials: input.credential,
    sha256: NodeSha256,
    applyChecksum: input.applyChecksum ?? true,
  });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: 'https:',
      hostname: input.host.split(':')[0] ?? input.host,
      path: input.path ?? '/',
      query: input.query ?? {},
      headers: { host: input.host, ...input.headers },
      body: input.body,
    },
    input.signingDate === undefined ? {} : { signingDate: input.signingDate },
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) headers[name] = String(value);
  return headers;
}

export interface KmsResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
  readonly json: Record<string, unknown> | null;
}

export interface CallKmsOptions {
  readonly url: string;
  readonly caCertificatePem: string;
  readonly region: string;
  readonly credential: TestCredential;
  readonly target: string;
  readonly body: Record<string, unknown> | string;
  readonly signingDate?: Date;
  /** Changes the request after signing (tests of the verifier through the server). */
  readonly afterSigning?: (headers: Record<string, string>, body: string) => { headers: Record<string, string>; body: string };
}

/** One signed AWS JSON 1.1 call to the double over HTTPS. */
export async function callKms(options: CallKmsOptions): Promise<KmsResponse> {
  const url = new URL(options.url);
  let body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  let headers = await signWithSmithy({
    credential: options.credential,
    region: options.region,
    host: url.host,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': options.target },
    body,
    ...(options.signingDate === undefined ? {} : { signingDate: options.signingDate }),
  });
  if (options.afterSigning !== undefined) ({ headers, body } = options.afterSigning(headers, body));
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      { hostname: url.hostname, port: url.port, path: '/', method: 'POST', ca: options.caCertificatePem, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> | null = null;
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = null;
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** PCR0 of the attestation test PKI's documents (48 bytes of 0x01), lower-case hex. */
export const TEST_DOCUMENT_PCR0_HEX = '01'.repeat(48);

export interface DevDocumentOptions {
  readonly publicKeySpki: Uint8Array | null;
  readonly now: Date;
  /** PCR index → 48-byte value overriding the test PKI's PCRs. */
  readonly pcrs?: ReadonlyMap<number, Uint8Array>;
  readonly debug?: boolean;
}

/**
 * A dev attestation document (COSE_Sign1) signed by the attestation package's
 * test PKI: chains to DEV_ROOT_PEM, module_id of the Nitro form with the
 * matching PCR4, PCR0..2 non-zero, `public_key` as given.
 */
export function makeDevAttestationDocument(options: DevDocumentOptions): Buffer {
  const pcr4 = expectedPcr4ForModuleId(TEST_MODULE_ID);
  if (pcr4 === null) throw new Error('TEST_MODULE_ID has no PCR4');
  const fields = testPayloadFields(pcr4, options.now.getTime());
  const pcrs = fields.get('pcrs') as Map<TestCbor, TestCbor>;
  for (const [index, value] of options.pcrs ?? new Map<number, Uint8Array>()) pcrs.set(index, value);
  if (options.debug === true) for (const index of [0, 1, 2]) pcrs.set(index, new Uint8Array(48));
  fields.set('public_key', options.publicKeySpki);
  return Buffer.from(signTestDocument(encodeTestCbor(fields)));
}

// ---- a minimal BER reader for tests (X.690 §8.1), indefinite lengths included

export interface BerNode {
  readonly tag: number;
  readonly constructed: boolean;
  /** Primitive contents. */
  readonly value: Buffer;
  readonly children: readonly BerNode[];
}

function readNode(bytes: Buffer, at: number): { node: BerNode; end: number } {
  const tag = bytes[at];
  const first = bytes[at + 1];
  if (tag === undefined || first === undefined) throw new RangeError('BER: truncated header');
  const constructed = (tag & 0x20) !== 0;
  let offset = at + 2;
  if (first === 0x80) {
    if (!constructed) throw new RangeError('BER: indefinite primitive');
    const children: BerNode[] = [];
    while (bytes[offset] !== 0x00 || bytes[offset + 1] !== 0x00) {
      if (offset >= bytes.length) throw new RangeError('BER: missing end-of-contents');
      const child = readNode(bytes, offset);
      children.push(child.node);
      offset = child.end;
    }
    return { node: { tag, constructed, value: Buffer.alloc(0), children }, end: offset + 2 };
  }
  let length = first;
  if (first > 0x80) {
    length = 0;
    for (let i = 0; i < (first & 0x7f); i += 1) length = length * 256 + (bytes[offset + i] ?? 0);
    offset += first & 0x7f;
  }
  const end = offset + length;
  if (end > bytes.length) throw new RangeError('BER: length beyond the input');
  const children: BerNode[] = [];
  if (constructed) {
    for (let cursor = offset; cursor < end;) {
      const child = readNode(bytes, cursor);
      children.push(child.node);
      cursor = child.end;
    }
  }
  return { node: { tag, constructed, value: bytes.subarray(offset, end), children }, end };
}

export function readBer(bytes: Uint8Array): BerNode {
  const buffer = Buffer.from(bytes);
  const { node, end } = readNode(buffer, 0);
  if (end !== buffer.length) throw new RangeError('BER: trailing bytes');
  return node;
}

export function child(node: BerNode | undefined, index: number): BerNode {
  const found = node?.children[index];
  if (found === undefined) throw new RangeError(`BER: no child ${index}`);
  return found;
}
