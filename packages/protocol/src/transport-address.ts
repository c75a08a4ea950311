// Transport addresses: one syntax for every listener and connector of the project.
//
//   tcp://HOST:PORT        HOST is a name, an IPv4 address, or an IPv6 address in brackets
//   unix:///abs/path.sock  an absolute filesystem path (three slashes: empty authority)
//   vsock://CID:PORT       CID is a decimal context id or `any` (listening only)
//
// The seed's BIND_ADDR form `HOST:PORT` (no scheme) is accepted where a caller
// passes `allowBareHostPort`, and means tcp.
//
// Parsing is strict: an unknown scheme, a missing or out-of-range port, a
// relative unix path or trailing characters are errors, never a silent default.

export type TransportAddress =
  | { readonly scheme: 'tcp'; readonly host: string; readonly port: number }
  | { readonly scheme: 'unix'; readonly path: string }
  | { readonly scheme: 'vsock'; readonly cid: number | 'any'; readonly port: number };

/** Bad address syntax. `message` names the problem, never more than the address itself. */
export class TransportAddressError extends Error {
  readonly code = 'INVALID_ADDRESS';
  constructor(message: string) {
    super(message);
    this.name = 'TransportAddressError';
  }
}

/** Largest TCP/vsock port: both are 16-bit on the wire (vsock ports are 32-bit, but we keep one rule). */
const MAX_PORT = 65535;
/** Largest vsock CID we accept: CIDs are u32 (Linux `struct sockaddr_vm.svm_cid`). */
const MAX_VSOCK_CID = 0xffff_ffff;
/** sun_path is 108 bytes on Linux including the terminating NUL. */
const MAX_UNIX_PATH_BYTES = 107;

function parsePort(text: string, what: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw new TransportAddressError(`${what}: port must be a decimal number`);
  const port = Number(text);
  if (port > MAX_PORT) throw new TransportAddressError(`${what}: port ${port} is above ${MAX_PORT}`);
  return port;
}

function parseHostPort(rest: string, original: string): { host: string; port: number } {
  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') throw new TransportAddressError(`${original}: expected [IPv6]:PORT`);
    host = rest.slice(1, close);
    portText = rest.slice(close + 2);
    if (!/^[0-9a-fA-F:.]+$/.test(host)) throw new TransportAddressError(`${original}: bad IPv6 address`);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon <= 0) throw new TransportAddressError(`${original}: expected HOST:PORT`);
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (!/^[A-Za-z0-9.-]+$/.test(host)) throw new TransportAddressError(`${original}: bad host name`);
  }
  return { host, port: parsePort(portText, original) };
}

export interface ParseTransportAddressOptions {
  /** Accept `HOST:PORT` without a scheme as tcp (the seed's BIND_ADDR syntax). */
  readonly allowBareHostPort?: boolean;
}

export function parseTransportAddress(text: string, options: ParseTransportAddressOptions = {}): TransportAddress {
  const value = text.trim();
  const schemeEnd = value.indexOf('://');
  if (schemeEnd < 0) {
    if (options.allowBareHostPort === true) return { scheme: 'tcp', ...parseHostPort(value, value) };
    throw new TransportAddressError(`${value}: expected tcp://HOST:PORT, unix:///PATH or vsock://CID:PORT`);
  }
  const scheme = value.slice(0, schemeEnd);
  const rest = value.slice(schemeEnd + 3);
  switch (scheme) {
    case 'tcp':
      return { scheme: 'tcp', ...parseHostPort(rest, value) };
    case 'unix': {
      if (!rest.startsWith('/')) throw new TransportAddressError(`${value}: unix path must be absolute (unix:///path)`);
      if (Buffer.byteLength(rest) > MAX_UNIX_PATH_BYTES) {
        throw new TransportAddressError(`${value}: unix path is longer than ${MAX_UNIX_PATH_BYTES} bytes`);
      }
      if (rest.includes('\0')) throw new TransportAddressError(`${value}: unix path contains NUL`);
      return { scheme: 'unix', path: rest };
    }
    case 'vsock': {
      const colon = rest.indexOf(':');
      if (colon <= 0) throw new TransportAddressError(`${value}: expected vsock://CID:PORT`);
      const cidText = rest.slice(0, colon);
      let cid: number | 'any';
      if (cidText === 'any') cid = 'any';
      else if (/^[0-9]{1,10}$/.test(cidText) && Number(cidText) <= MAX_VSOCK_CID) cid = Number(cidText);
      else throw new TransportAddressError(`${value}: CID must be a decimal number or "any"`);
      return { scheme: 'vsock', cid, port: parsePort(rest.slice(colon + 1), value) };
    }
    default:
      throw new TransportAddressError(`${value}: unknown scheme "${scheme}" (use tcp, unix or vsock)`);
  }
}

export function formatTransportAddress(address: TransportAddress): string {
  switch (address.scheme) {
    case 'tcp':
      return address.host.includes(':') ? `tcp://[${address.host}]:${address.port}` : `tcp://${address.host}:${address.port}`;
    case 'unix':
      return `unix://${address.path}`;
    case 'vsock':
      return `vsock://${address.cid}:${address.port}`;
  }
}
