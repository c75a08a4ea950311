import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  EgressAllowListError,
  MAX_EGRESS_ALLOW_ENTRIES,
  defaultEgressAllowText,
  formatEgressAllowList,
  isAllowedDestination,
  parseDestinationHost,
  parseEgressAllowList,
} from './egress-allow-list.js';

function allowListError(text: string): InstanceType<typeof EgressAllowListError> {
  try {
    parseEgressAllowList(text);
  } catch (error) {
    assert.ok(error instanceof EgressAllowListError, String(error));
    assert.equal(error.code, 'EGRESS_ALLOW_INVALID');
    return error;
  }
  assert.fail(`expected EGRESS_ALLOW_INVALID for ${JSON.stringify(text)}`);
}

test('default: the KMS endpoints of the region, standard and FIPS, and .com.cn in China', () => {
  assert.equal(defaultEgressAllowText('us-east-1'), 'kms.us-east-1.amazonaws.com:443,kms-fips.us-east-1.amazonaws.com:443');
  assert.equal(defaultEgressAllowText('cn-north-1'), 'kms.cn-north-1.amazonaws.com.cn:443,kms-fips.cn-north-1.amazonaws.com.cn:443');
  const list = parseEgressAllowList(defaultEgressAllowText('eu-west-1'));
  assert.equal(isAllowedDestination(list, 'kms.eu-west-1.amazonaws.com', 443), true);
  assert.equal(isAllowedDestination(list, 'kms-fips.eu-west-1.amazonaws.com', 443), true);
  assert.equal(isAllowedDestination(list, 'kms.us-east-1.amazonaws.com', 443), false);
  assert.equal(isAllowedDestination(list, 'kms.eu-west-1.amazonaws.com', 80), false);
});

test('names match case-insensitively, with or without one trailing dot, on either side', () => {
  const list = parseEgressAllowList('KMS.Eu-West-1.AmazonAWS.com.:443');
  for (const host of ['kms.eu-west-1.amazonaws.com', 'KMS.EU-WEST-1.AMAZONAWS.COM', 'kms.eu-west-1.amazonaws.com.']) {
    assert.equal(isAllowedDestination(list, host, 443), true, host);
  }
  for (const host of ['kms.eu-west-1.amazonaws.com..', 'xkms.eu-west-1.amazonaws.com', 'kms.eu-west-1.amazonaws.com.evil.example', 'eu-west-1.amazonaws.com']) {
    assert.equal(isAllowedDestination(list, host, 443), false, host);
  }
  assert.equal(formatEgressAllowList(list), 'kms.eu-west-1.amazonaws.com:443');
});

test('"*" stands for exactly one whole label', () => {
  const list = parseEgressAllowList('kms.*.amazonaws.com:443');
  assert.equal(isAllowedDestination(list, 'kms.us-east-1.amazonaws.com', 443), true);
  assert.equal(isAllowedDestination(list, 'kms.cn-north-1.amazonaws.com', 443), true);
  assert.equal(isAllowedDestination(list, 'kms.amazonaws.com', 443), false); // zero labels
  assert.equal(isAllowedDestination(list, 'kms.a.b.amazonaws.com', 443), false); // two labels
  assert.equal(isAllowedDestination(list, 'kms.us-east-1.amazonaws.com.cn', 443), false);
  assert.equal(isAllowedDestination(list, 'kms.us-east-1.amazonaws.com', 444), false);
  assert.equal(isAllowedDestination(parseEgressAllowList('*.kms.amazonaws.com:443'), 'a.kms.amazonaws.com', 443), true);
});

test('IP literals match exactly; IPv6 in canonical form; names and addresses never match each other', () => {
  const list = parseEgressAllowList('127.0.0.1:8443, [::1]:8443 ,[2001:DB8:0:0::1]:443');
  assert.deepEqual(
    list.patterns.map((p) => p.kind),
    ['ipv4', 'ipv6', 'ipv6'],
  );
  assert.equal(isAllowedDestination(list, '127.0.0.1', 8443), true);
  assert.equal(isAllowedDestination(list, '127.0.0.2', 8443), false);
  assert.equal(isAllowedDestination(list, '::1', 8443), true);
  assert.equal(isAllowedDestination(list, '0:0:0:0:0:0:0:1', 8443), true);
  assert.equal(isAllowedDestination(list, '2001:db8::1', 443), true);
  assert.equal(isAllowedDestination(list, 'localhost', 8443), false);
  assert.equal(isAllowedDestination(list, '127.1', 8443), false); // abbreviated IPv4 is not a name either
  assert.equal(isAllowedDestination(parseEgressAllowList('localhost:8443'), '127.0.0.1', 8443), false);
  assert.equal(formatEgressAllowList(list), '127.0.0.1:8443,[::1]:8443,[2001:db8::1]:443');
});

test('bad entries are refused with the entry position and the rule', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /entry 1 .* is empty/],
    ['kms.us-east-1.amazonaws.com:443,', /entry 2 .* is empty/],
    ['kms.us-east-1.amazonaws.com', /has no port/],
    ['kms.us-east-1.amazonaws.com:*', /wildcard port/],
    ['kms.us-east-1.amazonaws.com:0', /bad port/],
    ['kms.us-east-1.amazonaws.com:65536', /bad port/],
    ['kms.us-east-1.amazonaws.com:0443', /bad port/],
    ['kms.us-east-1.amazonaws.com:', /bad port/],
    ['*:443', /two literal labels/],
    ['*', /has no port/],
    ['*.com:443', /two literal labels/],
    ['kms.*:443', /two literal labels/],
    ['kms.amazonaws.*:443', /two literal labels/],
    ['*.co.uk:443', /only under amazonaws\.com or amazonaws\.com\.cn/],
    ['kms.*.com.cn:443', /only under amazonaws\.com or amazonaws\.com\.cn/],
    ['*.example.org:443', /only under amazonaws\.com or amazonaws\.com\.cn/],
    ['kms-*.amazonaws.com:443', /inside a label/],
    ['k*s.us-east-1.amazonaws.com:443', /inside a label/],
    ['**.amazonaws.com:443', /inside a label/],
    ['kms..amazonaws.com:443', /bad host name/],
    ['-kms.amazonaws.com:443', /bad host name/],
    ['kms_1.amazonaws.com:443', /bad host name/],
    [`${'a'.repeat(64)}.amazonaws.com:443`, /bad host name/],
    ['1.2.3.256:443', /bad host name or IPv4/],
    ['01.2.3.4:443', /bad host name or IPv4/],
    ['::1:443', /without brackets/],
    ['[::1:443', /bad IPv6 literal/],
    ['[fe80::1%eth0]:443', /bad IPv6 address/],
    ['[not-v6]:443', /bad IPv6 address/],
    ['user@kms.amazonaws.com:443', /bad host name/],
  ];
  for (const [text, message] of cases) assert.match(allowListError(text).message, message, JSON.stringify(text));
  const tooMany = Array.from({ length: MAX_EGRESS_ALLOW_ENTRIES + 1 }, (_, i) => `h${i}.example.com:443`).join(',');
  assert.match(allowListError(tooMany).message, /at most 64/);
});

test('parseDestinationHost: names lower-cased without the trailing dot, addresses validated', () => {
  assert.deepEqual(parseDestinationHost('KMS.Example.COM.', false), { kind: 'name', name: 'kms.example.com' });
  assert.deepEqual(parseDestinationHost('10.0.0.1', false), { kind: 'ipv4', address: '10.0.0.1' });
  assert.deepEqual(parseDestinationHost('::FFFF:1.2.3.4', true), { kind: 'ipv6', address: '::ffff:102:304' });
  for (const bad of ['', '.', 'a..b', 'a.b-', '999.1.1.1', '1.2.3', 'a b', `${'a.'.repeat(127)}com`]) {
    assert.equal(parseDestinationHost(bad, false), undefined, bad);
  }
  assert.equal(parseDestinationHost('127.0.0.1', true), undefined);
});
