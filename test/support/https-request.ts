// One HTTPS request to the stack, as a client would send it. The server's
// certificate is self-signed in tests, so the client pins it by SHA-256
// fingerprint when one is given (what a verifying client does after
// attestation), or skips verification when none is given.

import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { PeerCertificate } from 'node:tls';

export interface TestResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly peerFingerprint256: string | undefined;
  json(): unknown;
  errorCode(): string | undefined;
}

export interface TestRequest {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string | number>;
  readonly body?: string | Buffer;
  readonly token?: string;
  readonly pinFingerprint256?: string;
  readonly timeoutMs?: number;
  /** Source address to connect from (another loopback address such as 127.0.0.2 is another client to the host's per-source limit). */
  readonly localAddress?: string;
  /** Connect to this unix socket instead of 127.0.0.1:port (the enclave's own listener, not through the host). */
  readonly socketPath?: string;
}

export function sendRequest(port: number, req: TestRequest): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...req.headers };
    if (req.token !== undefined) headers['authorization'] = `Bearer ${req.token}`;
    if (req.body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
    const client = httpsRequest(
      {
        ...(req.socketPath === undefined ? { host: '127.0.0.1', port } : { socketPath: req.socketPath }),
        ...(req.localAddress === undefined ? {} : { localAddress: req.localAddress }),
        method: req.method ?? 'GET',
        path: req.path,
        headers,
        agent: false,
        rejectUnauthorized: false,
        servername: 'localhost',
        timeout: req.timeoutMs ?? 15_000,
        checkServerIdentity: (_host: string, cert: PeerCertificate) =>
          req.pinFingerprint256 === undefined || cert.fingerprint256 === req.pinFingerprint256
            ? undefined
            : new Error('certificate is not the pinned one'),
      },
      (res) => {
        const socket = res.socket as unknown as { getPeerCertificate?: () => PeerCertificate };
        const peerFingerprint256 = socket.getPeerCertificate?.().fingerprint256;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            peerFingerprint256,
            json: () => JSON.parse(body.toString('utf8')) as unknown,
            errorCode: () => {
              try {
                return (JSON.parse(body.toString('utf8')) as { error?: { code?: string } }).error?.code;
              } catch {
                return undefined;
              }
            },
          });
        });
        res.on('error', reject);
      },
    );
    client.on('timeout', () => client.destroy(new Error('request timed out')));
    client.on('error', reject);
    client.end(req.body);
  });
}

/** A fresh bearer token: 32 random bytes, base64url (what the README tells users to make). */
export async function newToken(): Promise<string> {
  const { randomBytes } = await import('node:crypto');
  return randomBytes(32).toString('base64url');
}
