// The one loader of the native addon (build/Release/vsock.node, built from
// src/vsock.c at install by scripts/install.mjs). Every argument is checked
// here, so the C code can stay thin; native errors get a Node-style `code`
// (ECONNREFUSED, ETIMEDOUT, ENODEV, ...) from their errno.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getSystemErrorName } from 'node:util';

/** The functions of src/vsock.c, as the addon exports them. */
interface NativeBinding {
  vsockListen(cid: number, port: number, backlog: number): number;
  connectStream(family: number, cid: number, port: number, path: string, timeoutMs: number): Promise<number>;
  getPeerCid(fd: number): number;
  getLocalCid(fd: number): number;
  socketPair(): [number, number];
  closeFd(fd: number): void;
  nsmOpen(path: string): number;
  nsmRequest(fd: number, request: Buffer, maxResponseBytes: number): Promise<Buffer>;
}

/** VMADDR_CID_ANY: listen on every CID of this machine. */
export const VMADDR_CID_ANY = 0xffff_ffff;
/** NSM_REQUEST_MAX_SIZE (linux include/uapi/linux/nsm.h). */
export const NSM_REQUEST_MAX_BYTES = 0x1000;
/** NSM_RESPONSE_MAX_SIZE: the driver never returns more (12 KiB, not 16). */
export const NSM_RESPONSE_MAX_BYTES = 0x3000;
/** connect_stream's families (FAMILY_VSOCK / FAMILY_UNIX in vsock.c). */
const FAMILY_VSOCK = 0;
const FAMILY_UNIX = 1;
/** sun_path holds 108 bytes including the NUL. */
const MAX_UNIX_PATH_BYTES = 107;
/** poll() takes an int of milliseconds; ten minutes is more than any caller needs. */
const MAX_TIMEOUT_MS = 600_000;

/** Thrown when the addon is not built (not Linux, or the build failed at install). */
export class VsockUnavailableError extends Error {
  readonly code = 'VSOCK_UNAVAILABLE';
  constructor(reason: string) {
    super(`the vsock native addon is not available: ${reason}`);
    this.name = 'VsockUnavailableError';
  }
}

/** An error of a system call in the addon: `code` is the errno name. */
export class VsockSystemError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  constructor(errno: number, syscall: string, message: string, context: string) {
    const code = errnoName(errno);
    super(`${syscall} ${code} (${message})${context === '' ? '' : `: ${context}`}`);
    this.name = 'VsockSystemError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `E${errno}`;
  }
}

const addonDir = new URL('../build/', import.meta.url);
let binding: NativeBinding | undefined;
let absence: string | undefined;
try {
  binding = createRequire(import.meta.url)(new URL('Release/vsock.node', addonDir).pathname) as NativeBinding;
} catch (error) {
  const recorded = new URL('ABSENT', addonDir);
  absence = existsSync(recorded)
    ? readFileSync(recorded, 'utf8').trim()
    : `cannot load build/Release/vsock.node (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); run \`npm rebuild @http-enclave/vsock\``;
}

/** True when the addon loaded: vsock sockets and /dev/nsm can be used. */
export function isVsockAvailable(): boolean {
  return binding !== undefined;
}

/** Why the addon is absent (undefined when it is available). */
export function vsockAbsenceReason(): string | undefined {
  return absence;
}

function native(): NativeBinding {
  if (binding === undefined) throw new VsockUnavailableError(absence ?? 'unknown reason');
  return binding;
}

/** Turns the addon's `{errno, syscall}` errors into VsockSystemError; rethrows anything else. */
function translate(error: unknown, context: string): never {
  if (error instanceof Error && typeof (error as { errno?: unknown }).errno === 'number') {
    const { errno, syscall } = error as Error & { errno: number; syscall: string };
    throw new VsockSystemError(errno, syscall, error.message, context);
  }
  throw error;
}

function checkInteger(name: string, value: unknown, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
}
const checkFd = (fd: unknown): void => checkInteger('fd', fd, 0, 0x7fff_ffff);
const checkCid = (cid: unknown): void => checkInteger('cid', cid, 0, 0xffff_ffff);
/** vsock ports are u32 in the kernel; VMADDR_PORT_ANY (0xffffffff) is refused: we always name the port. */
const checkPort = (port: unknown): void => checkInteger('port', port, 0, 0xffff_fffe);

/** A non-blocking, close-on-exec listening AF_VSOCK socket: socket(), bind(cid, port), listen(backlog). */
export function vsockListen(cid: number, port: number, backlog: number): number {
  checkCid(cid);
  checkPort(port);
  checkInteger('backlog', backlog, 1, 65_535);
  const addon = native();
  try {
    return addon.vsockListen(cid, port, backlog);
  } catch (error) {
    return translate(error, `vsock://${cid === VMADDR_CID_ANY ? 'any' : cid}:${port}`);
  }
}

/**
 * A connected, non-blocking AF_VSOCK socket fd, or a VsockSystemError
 * (ETIMEDOUT after timeoutMs, ECONNREFUSED, ECONNRESET, ENODEV without a
 * transport to that CID...). Runs on the libuv threadpool (see vsock.c).
 */
export async function vsockConnect(cid: number, port: number, timeoutMs: number): Promise<number> {
  checkCid(cid);
  checkPort(port);
  checkInteger('timeoutMs', timeoutMs, 1, MAX_TIMEOUT_MS);
  const addon = native();
  try {
    return await addon.connectStream(FAMILY_VSOCK, cid, port, '', timeoutMs);
  } catch (error) {
    return translate(error, `vsock://${cid}:${port}`);
  }
}

/**
 * The same C connect path as vsockConnect, for an AF_UNIX socket path: lets
 * the tests exercise the threadpool connect, its timeout and its errors on
 * this machine, where an AF_VSOCK connect must never be made.
 */
export async function unixConnectThroughAddon(path: string, timeoutMs: number): Promise<number> {
  if (typeof path !== 'string' || !path.startsWith('/') || path.includes('\0') || Buffer.byteLength(path) > MAX_UNIX_PATH_BYTES) {
    throw new RangeError(`path must be an absolute unix socket path of at most ${MAX_UNIX_PATH_BYTES} bytes`);
  }
  checkInteger('timeoutMs', timeoutMs, 1, MAX_TIMEOUT_MS);
  const addon = native();
  try {
    return await addon.connectStream(FAMILY_UNIX, 0, 0, path, timeoutMs);
  } catch (error) {
    return translate(error, `unix://${path}`);
  }
}

/** The CID of the peer of a connected vsock socket fd (getpeername), for logs. */
export function getPeerCid(fd: number): number {
  checkFd(fd);
  const addon = native();
  try {
    return addon.getPeerCid(fd);
  } catch (error) {
    return translate(error, `fd ${fd}`);
  }
}

/** The local CID of a vsock socket fd (getsockname), for logs. */
export function getLocalCid(fd: number): number {
  checkFd(fd);
  const addon = native();
  try {
    return addon.getLocalCid(fd);
  } catch (error) {
    return translate(error, `fd ${fd}`);
  }
}

/** A connected AF_UNIX stream socket pair (non-blocking, close-on-exec): the stream layer's test bed. */
export function socketPair(): [number, number] {
  const addon = native();
  try {
    return addon.socketPair();
  } catch (error) {
    return translate(error, '');
  }
}

/** close(2) an fd that no stream handle owns (after a failed wrap, or the NSM device). */
export function closeFd(fd: number): void {
  checkFd(fd);
  const addon = native();
  try {
    addon.closeFd(fd);
  } catch (error) {
    translate(error, `fd ${fd}`);
  }
}

/** open(path, O_RDWR | O_CLOEXEC) of the NSM device. */
export function nsmOpen(path: string): number {
  if (typeof path !== 'string' || path === '' || path.includes('\0') || Buffer.byteLength(path) > 255) {
    throw new RangeError('path must be a non-empty device path of at most 255 bytes');
  }
  const addon = native();
  try {
    return addon.nsmOpen(path);
  } catch (error) {
    return translate(error, path);
  }
}

/** One NSM_IOCTL_RAW round trip on the threadpool: CBOR request in, the response's bytes out. */
export async function nsmRequest(fd: number, request: Buffer, maxResponseBytes: number = NSM_RESPONSE_MAX_BYTES): Promise<Buffer> {
  checkFd(fd);
  if (!Buffer.isBuffer(request) || request.length === 0 || request.length > NSM_REQUEST_MAX_BYTES) {
    throw new RangeError(`an NSM request is a Buffer of 1..${NSM_REQUEST_MAX_BYTES} bytes`);
  }
  checkInteger('maxResponseBytes', maxResponseBytes, 1, NSM_RESPONSE_MAX_BYTES);
  const addon = native();
  try {
    return await addon.nsmRequest(fd, request, maxResponseBytes);
  } catch (error) {
    return translate(error, 'NSM request');
  }
}

/** close(2) the NSM device fd. */
export function nsmClose(fd: number): void {
  closeFd(fd);
}
