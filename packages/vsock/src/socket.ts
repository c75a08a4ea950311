// vsock file descriptors as ordinary Node sockets and servers.
//
// Node 20 cannot take an AF_VSOCK fd itself: `new net.Socket({ fd })` throws
// ERR_INVALID_FD_TYPE (libuv's uv_guess_handle does not know AF_VSOCK) and
// `server.listen({ fd })` fails with EINVAL. So the fd is opened into one of
// Node's own libuv stream handles, and net.Socket / net.Server run on that
// handle exactly as on a TCP or unix socket:
//   - a connected fd: a `Pipe` handle of type SOCKET (uv_pipe_open takes any
//     stream fd; data moves with read()/writev() in libuv);
//   - a listening fd: a `TCP` handle of type SERVER, because net.Server.listen
//     accepts a handle object only if it is a TCP wrap; libuv's accept path
//     works on any stream socket, and accepted connections arrive as TCP
//     handles (setNoDelay/setKeepAlive then fail quietly: no TCP options on
//     vsock, and Node ignores those errors).
// Why not a JS Duplex over the fd: every chunk would cost a copy and an extra
// hop through JavaScript, and tls.connect({ socket }) / server 'connection'
// would run TLS through JSStreamSocket instead of TLSWrap straight on the
// native handle. With these handles TLS runs natively (socket.test.ts checks
// that TLS over a socket from here sits on a native handle, not a
// JSStreamSocket; the reference measurement in the QEMU guest ran TLS 1.3
// and https over both handle kinds).
// Measured in the QEMU guest (test/vsock-guest, TCG, 2 vCPUs,
// vsock_loopback; `VSOCK_GUEST_ARGS=--only=C,D`), client and servers in
// separate processes, 6 runs on 2026-11-30:
//   - TLS over vsock vs TLS over TCP through this handle: keep-alive GETs
//     (C1) 0.92-1.02x, median 0.93x; bulk (C2) 0.80-0.92x, median 0.85x.
//     Without TLS the guest kernel's own vsock path gives 0.70-0.83x the
//     round trips (C3) and 0.74-0.78x the bulk bytes (D3) of TCP loopback:
//     what remains below 0.9x is that kernel's vsock_loopback, which hands
//     every packet to a worker thread, not this handle. With client and
//     server in one process (`--servers=same`) keep-alive reads 0.70-0.80x,
//     because TCP loopback then delivers inside the write() call (C3 0.36x).
//   - a JS Duplex path against this one, both on vsock (D2): 0.75-0.92x the
//     requests/s of 8 concurrent keep-alive TLS connections, 0.89-1.12x the
//     bulk MiB/s (bulk is bound by TLS crypto under emulation, so the extra
//     hop hides there). So: native handles.
//   - Pipe vs TCP handle for connected sockets: no difference beyond noise
//     (keep-alive 160/194, 208/208 req/s; bulk 5.4/5.2 MiB/s), so Pipe stays.
//   - a 1 MiB receive buffer instead of the kernel's 256 KiB (both
//     SO_VM_SOCKETS_BUFFER_MAX_SIZE and _SIZE: the size alone is silently
//     clipped to the max), A/B in the same run: TLS bulk 1.07x, 0.96x, 1.15x;
//     raw bulk 1.01x. At most a modest gain under emulation, for four times
//     the kernel memory a peer can pin per connection by not being read
//     (inside the enclave: up to MAX_CONNECTIONS x 1 MiB). The kernel default
//     stays; worth measuring again on Nitro hardware.
//
// The handle constructors come from process.binding('pipe_wrap' / 'tcp_wrap'):
// the only public way to reach them. process.binding is DEP0111, a
// documentation-only deprecation: silent on Node 20 (it warns only under
// --pending-deprecation); both modules are on its allow-list. If a future
// Node removes them, socket creation fails at once with a clear error, and a
// test here fails first.

import { Socket, type Server } from 'node:net';
import {
  VMADDR_CID_ANY,
  VsockSystemError,
  closeFd,
  getPeerCid,
  vsockConnect,
  vsockListen,
} from './native.js';

/** The parts of Node's internal stream handles that we use. */
interface NativeHandle {
  open(fd: number): number | undefined;
  close(): void;
  readonly fd: number;
}
type HandleClass = new (type: number) => NativeHandle;
interface WrapModule {
  readonly constants: { readonly SOCKET: number; readonly SERVER: number };
}

const bindingOf = (process as unknown as { binding(name: string): unknown }).binding.bind(process);
const pipeWrap = bindingOf('pipe_wrap') as WrapModule & { Pipe: HandleClass };
const tcpWrap = bindingOf('tcp_wrap') as WrapModule & { TCP: HandleClass };

/** Node's native Pipe handle class (tests check sockets sit on it). */
export const NativePipeHandle: abstract new (...args: never[]) => unknown = pipeWrap.Pipe;

/** Largest accept backlog we ask for; Linux caps it at net.core.somaxconn. */
const LISTEN_BACKLOG = 1024;

export interface SocketFromFdOptions {
  /** Keep the writable side open after the peer ends (needed to forward half-close). */
  readonly allowHalfOpen?: boolean;
}

function openHandle(Handle: HandleClass, type: number, fd: number): NativeHandle {
  const handle = new Handle(type);
  let status: number | undefined;
  try {
    status = handle.open(fd);
  } catch (error) {
    handle.close();
    throw error;
  }
  if (typeof status === 'number' && status < 0) {
    handle.close();
    throw new VsockSystemError(-status, 'uv_open', 'cannot open the fd as a stream handle', `fd ${fd}`);
  }
  return handle;
}

/**
 * A net.Socket on a connected stream socket fd (AF_VSOCK, or AF_UNIX in the
 * tests), which it then owns: destroying the socket closes the fd. If the fd
 * cannot be wrapped, it is closed and the error thrown.
 */
export function socketFromFd(fd: number, options: SocketFromFdOptions = {}): Socket {
  let handle: NativeHandle;
  try {
    handle = openHandle(pipeWrap.Pipe, pipeWrap.constants.SOCKET, fd);
  } catch (error) {
    closeFd(fd);
    throw error;
  }
  return new Socket({ handle, readable: true, writable: true, allowHalfOpen: options.allowHalfOpen ?? false } as ConstructorParameters<
    typeof Socket
  >[0]);
}

/**
 * Makes `server` (net, http, https or tls Server) listen on vsock CID `cid`
 * (`'any'`: every CID of this machine) and `port`. Resolves on 'listening';
 * rejects with the bind/listen error (EADDRINUSE, ...), or
 * VsockUnavailableError without the addon. server.close() closes the socket.
 */
export async function listenVsock(server: Server, cid: number | 'any', port: number): Promise<void> {
  const fd = vsockListen(cid === 'any' ? VMADDR_CID_ANY : cid, port, LISTEN_BACKLOG);
  let handle: NativeHandle;
  try {
    handle = openHandle(tcpWrap.TCP, tcpWrap.constants.SERVER, fd);
  } catch (error) {
    closeFd(fd);
    throw error;
  }
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError).once('listening', onListening);
    server.listen(handle as never, LISTEN_BACKLOG);
  });
}

export interface ConnectVsockOptions {
  /** Fail with ETIMEDOUT if the peer has not accepted within this time. */
  readonly timeoutMs: number;
  readonly allowHalfOpen?: boolean;
}

/**
 * Connects to vsock CID:port and returns a connected net.Socket. Rejects with
 * a VsockSystemError whose code is ETIMEDOUT, ECONNREFUSED, ECONNRESET,
 * ENODEV (no vsock transport to that CID), ...
 */
export async function connectVsock(cid: number, port: number, options: ConnectVsockOptions): Promise<Socket> {
  const fd = await vsockConnect(cid, port, options.timeoutMs);
  return socketFromFd(fd, { allowHalfOpen: options.allowHalfOpen ?? false });
}

/** The vsock CID of a socket's peer (remoteAddress is empty on vsock sockets), or undefined. */
export function vsockPeerCid(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  try {
    return getPeerCid(fd);
  } catch {
    return undefined;
  }
}
