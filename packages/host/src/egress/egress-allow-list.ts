// The egress allow-list: which destinations the enclave may reach through the
// host's egress forwarder (EGRESS_ALLOW).
//
//   allow-list = entry *( "," entry )          ; spaces around entries are ignored
//   entry      = host-pattern ":" port          ; port 1..65535, decimal, no wildcard
//   host-pattern = name-pattern / IPv4address / "[" IPv6address "]"
//   name-pattern = label-pattern *( "." label-pattern ) [ "." ]
//   label-pattern = label / "*"                 ; "*" is one whole DNS label, never part of one
//
// Names are compared case-insensitively after one trailing dot is stripped
// (RFC 4343; `example.com.` is the fully qualified `example.com`). A wildcard
// pattern must end in two literal labels under amazonaws.com or
// amazonaws.com.cn, so `*:443`, `*.com:443`, `*.co.uk:443` and `kms.*:443`
// are refused: a wildcard may pick the region, not the domain.
// IP literals match exactly (IPv6 compared in canonical form); a name pattern
// never matches an IP literal, and the other way round.
//
// What this defends: the allow-list limits what an enclave bug or a
// compromised enclave can reach through the host, and documents what the host
// operator must permit. It is not a defence against the host, which is the
// adversary and controls the forwarder, DNS and the network anyway; the
// enclave's own TLS verification of KMS is what protects the traffic.

import { EgressAllowListError } from '../host-errors.js';

// Defined in the catalogue; exported here too because config.ts imports it from this module.
export { EgressAllowListError };

/** The only domains a wildcard entry may sit under (AWS endpoints, where the region is the wildcard). */
const WILDCARD_DOMAINS = ['amazonaws.com', 'amazonaws.com.cn'] as const;
/** RFC 1035 §2.3.4: a label is 1..63 octets. */
const MAX_LABEL_LENGTH = 63;
/** RFC 1035 §2.3.4: 255 octets on the wire, 253 characters in dotted text without the trailing dot. */
const MAX_NAME_LENGTH = 253;
/** Entries in EGRESS_ALLOW; a KMS deployment needs two, so this is a sanity bound, not a tuning knob. */
export const MAX_EGRESS_ALLOW_ENTRIES = 64;
/** Largest TCP port. */
const MAX_PORT = 65_535;

/** A validated destination host: a lower-case DNS name without trailing dot, a dotted-quad IPv4 address, or a canonical IPv6 address. */
export type DestinationHost =
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'ipv4'; readonly address: string }
  | { readonly kind: 'ipv6'; readonly address: string };

export type EgressAllowPattern =
  | { readonly kind: 'name'; readonly labels: readonly string[]; readonly port: number } // '*' in labels is the wildcard
  | { readonly kind: 'ipv4' | 'ipv6'; readonly address: string; readonly port: number };

export interface EgressAllowList {
  readonly patterns: readonly EgressAllowPattern[];
}

const LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const IPV4_OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'; // no leading zeros: some resolvers read them as octal
const IPV4 = new RegExp(`^${IPV4_OCTET}(\\.${IPV4_OCTET}){3}$`);
const IPV6_CHARACTERS = /^[0-9a-fA-F:.]+$/;

/**
 * Parses the host part of a destination (brackets already removed for IPv6
 * when `bracketed`). Returns undefined for anything that is not a valid name
 * or address; the caller decides what that means.
 */
export function parseDestinationHost(text: string, bracketed: boolean): DestinationHost | undefined {
  if (bracketed) {
    // Zone ids (fe80::1%eth0) are refused: they name an interface of the host.
    if (!IPV6_CHARACTERS.test(text) || !text.includes(':')) return undefined;
    try {
      // The WHATWG URL parser validates IPv6 (RFC 4291 §2.2) and gives its canonical form (RFC 5952).
      const canonical = new URL(`http://[${text}]/`).hostname;
      return { kind: 'ipv6', address: canonical.slice(1, -1) };
    } catch {
      return undefined;
    }
  }
  if (IPV4.test(text)) return { kind: 'ipv4', address: text };
  const name = (text.endsWith('.') ? text.slice(0, -1) : text).toLowerCase();
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return undefined;
  const labels = name.split('.');
  for (const label of labels) {
    if (label.length > MAX_LABEL_LENGTH || !LABEL.test(label)) return undefined;
  }
  // An all-numeric last label is not a host name (RFC 3696 §2) but a malformed
  // or abbreviated IPv4 address (`127.1`, `1.2.3.256`), which resolvers disagree on.
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) return undefined;
  return { kind: 'name', name };
}

/** A decimal port 1..65535 without leading zeros, or undefined. */
export function parsePortNumber(text: string): number | undefined {
  if (!/^[1-9][0-9]{0,4}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= MAX_PORT ? port : undefined;
}

/** Parses EGRESS_ALLOW. Throws EgressAllowListError naming the first bad entry. */
export function parseEgressAllowList(text: string): EgressAllowList {
  const entries = text.split(',').map((entry) => entry.trim());
  if (entries.length > MAX_EGRESS_ALLOW_ENTRIES) throw new EgressAllowListError(`has ${entries.length} entries; at most ${MAX_EGRESS_ALLOW_ENTRIES}`);
  const patterns = entries.map((entry, index) => parseEntry(entry, index + 1));
  return Object.freeze({ patterns: Object.freeze(patterns) });
}

function parseEntry(entry: string, position: number): EgressAllowPattern {
  const fail = (rule: string): never => {
    throw new EgressAllowListError(`entry ${position} (${JSON.stringify(entry)}) ${rule}`);
  };
  if (entry.length === 0) fail('is empty');
  const colon = entry.lastIndexOf(':');
  if (colon < 0) fail('has no port (write HOST:PORT)');
  const hostText = entry.slice(0, colon);
  const portText = entry.slice(colon + 1);
  if (portText === '*') fail('has a wildcard port; give the port');
  const port = parsePortNumber(portText) ?? fail('has a bad port (1..65535)');

  if (hostText.startsWith('[')) {
    if (!hostText.endsWith(']')) fail('has a bad IPv6 literal (write [ADDRESS]:PORT)');
    const host = parseDestinationHost(hostText.slice(1, -1), true) ?? fail('has a bad IPv6 address');
    if (host.kind !== 'ipv6') return fail('has a bad IPv6 address');
    return Object.freeze({ kind: 'ipv6', address: host.address, port });
  }
  if (hostText.includes(':')) fail('has an IPv6 address without brackets (write [ADDRESS]:PORT)');
  if (!hostText.includes('*')) {
    const host = parseDestinationHost(hostText, false) ?? fail('has a bad host name or IPv4 address');
    if (host.kind === 'name') return Object.freeze({ kind: 'name', labels: Object.freeze(host.name.split('.')), port });
    return Object.freeze({ kind: host.kind, address: host.address, port });
  }
  // A wildcard pattern: check it as a name with each "*" standing for one label.
  const labels = (hostText.endsWith('.') ? hostText.slice(0, -1) : hostText).toLowerCase().split('.');
  for (const label of labels) {
    if (label.includes('*') && label !== '*') fail('has "*" inside a label; "*" must be a whole label');
  }
  const [last, beforeLast] = [labels[labels.length - 1], labels[labels.length - 2]];
  if (last === '*' || beforeLast === undefined || beforeLast === '*') fail('must end in two literal labels (a wildcard may not stand for the domain)');
  // Two literal labels do not make a domain (`*.co.uk`, `*.com.cn` are public
  // suffixes): wildcards stay within AWS's own endpoint domains. Any other
  // destination is listed by its exact name.
  const literalTail = labels.slice(labels.lastIndexOf('*') + 1).join('.');
  if (!WILDCARD_DOMAINS.some((domain) => literalTail === domain || literalTail.endsWith(`.${domain}`))) {
    fail(`may use "*" only under ${WILDCARD_DOMAINS.join(' or ')}; list other destinations by exact name`);
  }
  const probe = labels.map((label) => (label === '*' ? 'x' : label)).join('.');
  if (parseDestinationHost(probe, false)?.kind !== 'name') fail('has a bad host name');
  return Object.freeze({ kind: 'name', labels: Object.freeze(labels), port });
}

/** The DNS suffix of AWS endpoints in a region: `amazonaws.com.cn` in the China partition (cn-*), else `amazonaws.com`. */
export function awsDomainSuffix(region: string): string {
  return region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
}

/** EGRESS_ALLOW when it is unset: the KMS endpoints of the region, standard and FIPS, on 443. */
export function defaultEgressAllowText(region: string): string {
  const suffix = awsDomainSuffix(region);
  return `kms.${region}.${suffix}:443,kms-fips.${region}.${suffix}:443`;
}

/** Whether the enclave may connect to host:port. `host` is as the enclave asked (IPv6 without brackets). */
export function isAllowedDestination(list: EgressAllowList, host: string, port: number): boolean {
  const parsed = parseDestinationHost(host, host.includes(':'));
  if (parsed === undefined) return false;
  const labels = parsed.kind === 'name' ? parsed.name.split('.') : [];
  return list.patterns.some((pattern) => {
    if (pattern.port !== port) return false;
    if (pattern.kind !== 'name') return parsed.kind === pattern.kind && parsed.address === pattern.address;
    if (parsed.kind !== 'name' || labels.length !== pattern.labels.length) return false;
    return pattern.labels.every((label, i) => label === '*' || label === labels[i]);
  });
}

/** The list in EGRESS_ALLOW syntax (lower case, IPv6 canonical), for the start-up log line. */
export function formatEgressAllowList(list: EgressAllowList): string {
  return list.patterns
    .map((p) => (p.kind === 'name' ? `${p.labels.join('.')}:${p.port}` : p.kind === 'ipv6' ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`))
    .join(',');
}
