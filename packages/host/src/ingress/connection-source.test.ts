// connectionSourceKey against Node's own address parsing as the oracle
// (net.BlockList with a /64 subnet): two IPv6 addresses share a key exactly
// when one is inside the other's /64.

import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { test } from 'node:test';
import { connectionSourceKey } from './connection-source.js';

test('IPv4 counts by address; IPv4-mapped IPv6 as the IPv4 address; unix sockets not at all', () => {
  assert.equal(connectionSourceKey('203.0.113.7'), '203.0.113.7');
  assert.equal(connectionSourceKey('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(connectionSourceKey('::ffff:cb00:7107'), '203.0.113.7');
  assert.equal(connectionSourceKey(undefined), undefined);
  assert.equal(connectionSourceKey(''), undefined);
});

test('IPv6 counts by /64, in agreement with net.BlockList', () => {
  const addresses = [
    '2001:db8:1:2::1',
    '2001:db8:1:2:ffff:ffff:ffff:ffff',
    '2001:0db8:0001:0002:0000:0000:0000:0009',
    '2001:db8:1:3::1',
    '2001:db8::1',
    '2001:db8:0:0:1::',
    '::1',
    '::',
    'fe80::1%eth0',
    'fe80::2',
    '2001:db8:1:2:3:4:1.2.3.4',
    '64:ff9b::192.0.2.33',
  ];
  for (const a of addresses) {
    const subnet = new BlockList();
    subnet.addSubnet(a.split('%')[0] ?? a, 64, 'ipv6');
    for (const b of addresses) {
      const same = subnet.check(b.split('%')[0] ?? b, 'ipv6');
      assert.equal(connectionSourceKey(a) === connectionSourceKey(b), same, `${a} vs ${b}`);
    }
  }
  assert.equal(connectionSourceKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
});
