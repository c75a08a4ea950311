// Which "source" a client connection counts against for
// HOST_MAX_CONNECTIONS_PER_SOURCE. An IPv4 address is one source. An IPv6
// client usually holds a whole /64 (SLAAC, privacy addresses: RFC 8981), so
// counting by full address would give one attacker 2^64 sources: IPv6
// addresses count by their /64 prefix. IPv4-mapped IPv6 (::ffff:a.b.c.d, how
// a dual-stack listener reports IPv4 clients) counts as the IPv4 address.

import { isIPv4, isIPv6 } from 'node:net';

/** The key a connection from `address` is counted under; undefined for no address (unix sockets). */
export function connectionSourceKey(address: string | undefined): string | undefined {
  if (address === undefined || address === '') return undefined;
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return address;
  const groups = expandIPv6(address.split('%')[0] ?? address);
  if (groups === undefined) return address;
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const low = ((groups[6] ?? 0) << 16) | (groups[7] ?? 0);
    return [low >>> 24, (low >>> 16) & 0xff, (low >>> 8) & 0xff, low & 0xff].join('.');
  }
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (with `::` and a trailing dotted IPv4 expanded). */
function expandIPv6(address: string): number[] | undefined {
  let text = address;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1] !== undefined) {
    const bytes = dotted[1].split('.').map(Number);
    tail.push(((bytes[0] ?? 0) << 8) | (bytes[1] ?? 0), ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0));
    text = text.slice(0, -dotted[1].length) + (text.endsWith(`::${dotted[1]}`) ? '' : '0');
    if (text.endsWith(':0')) text = text.slice(0, -2);
  }
  const [head = '', rest] = text.split('::');
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  const missing = 8 - tail.length - left.length - right.length;
  if (rest === undefined && missing !== 0) return undefined;
  if (missing < 0) return undefined;
  const groups = [...left, ...Array<number>(rest === undefined ? 0 : missing).fill(0), ...right, ...tail];
  return groups.length === 8 && groups.every((group) => Number.isInteger(group) && group >= 0 && group <= 0xffff) ? groups : undefined;
}
