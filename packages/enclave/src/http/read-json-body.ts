// Reads a JSON request body with its limits: the Content-Type must be JSON,
// a declared Content-Length above the limit is refused before a byte is
// read, a streamed body is cut at the limit, and the bytes must be UTF-8 and
// parse as JSON. Parser messages quote the input (V8 does), so they never
// leave this file: the caller gets a fixed INVALID_JSON.

import type { IncomingMessage } from 'node:http';
import { BodyTooLargeError, InvalidJsonError, RequestAbortedError, UnsupportedMediaTypeError } from '../enclave-errors.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const [mediaType = '', ...parameters] = value.split(';');
  const type = mediaType.trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) return false;
  return parameters.every((p) => {
    const [name = '', val = ''] = p.split('=');
    return name.trim().toLowerCase() !== 'charset' || val.trim().replace(/"/g, '').toLowerCase() === 'utf-8';
  });
}

/**
 * Reads and checks the body; resolves to the exact bytes received.
 * `beforeReading` runs once the content type and declared size are accepted
 * (the API handler answers `100 Continue` there).
 */
export async function readJsonBody(request: IncomingMessage, maxBytes: number, beforeReading?: () => void): Promise<Buffer> {
  if (!isJsonContentType(request.headers['content-type'])) throw new UnsupportedMediaTypeError();
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw new BodyTooLargeError();
  beforeReading?.();
  const body = await collectBody(request, maxBytes);
  try {
    JSON.parse(strictUtf8.decode(body));
  } catch {
    throw new InvalidJsonError();
  }
  return body;
}

/**
 * Collects the body with plain events rather than `for await`: leaving an
 * async iterator early destroys the socket, and we still want to answer 413.
 * On overflow we stop reading (the caller answers with Connection: close).
 */
function collectBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = (): void => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > maxBytes) {
        cleanup();
        request.pause();
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, received));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onAborted = (): void => {
      cleanup();
      reject(new RequestAbortedError());
    };
    request.on('data', onData).on('end', onEnd).on('error', onError).on('aborted', onAborted);
  });
}

