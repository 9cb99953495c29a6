import assert from 'node:assert/strict';
import { AddressError, cidrContains, familyOf, familyOfKubernetes, firstHost, nftWords, parseCidr, parseIP, splitByFamily, unspecifiedAddress } from '@krouter/sdk';

describe('family helpers', () => {
  it('derives the family from the text of an address or prefix', () => {
    assert.equal(familyOf('198.18.0.1'), 'ipv4');
    assert.equal(familyOf('fd00::1'), 'ipv6');
    assert.equal(familyOf('198.18.0.0/24'), 'ipv4');
    assert.equal(familyOf('fd00:10::/64'), 'ipv6');
    assert.equal(familyOf('::ffff:198.18.0.1'), 'ipv6');
  });

  it('rejects malformed input with the input named', () => {
    for (const bad of ['', '10.1', '198.18.0.0/33', 'fd00::/129', 'fd00::/x', 'nonsense', '1.2.3.4.5']) {
      assert.throws(() => familyOf(bad), (e: unknown) => e instanceof AddressError && e.message.includes(JSON.stringify(bad)));
    }
  });

  it('normalises prefixes and refuses host bits unless allowed', () => {
    assert.equal(parseCidr('fd00:0:0::/64').text, 'fd00::/64');
    assert.throws(() => parseCidr('198.18.0.1/24'), /host bits set/);
    assert.equal(parseCidr('198.18.0.1/24', undefined, { allowHostBits: true }).text, '198.18.0.0/24');
    assert.throws(() => parseCidr('fd00::/64', 'ipv4'), /is ipv6, expected ipv4/);
  });

  it('refuses a prefix with more than one slash (trailing text is not dropped)', () => {
    for (const bad of ['198.19.7.0/24/8', 'fd00:19::/64/', '10.0.0.0/8/']) {
      assert.throws(() => parseCidr(bad), /not a CIDR/, bad);
      assert.throws(() => parseCidr(bad, bad.includes(':') ? 'ipv6' : 'ipv4'), /not a CIDR/, bad);
      assert.throws(() => parseCidr(bad, undefined, { allowHostBits: true }), /not a CIDR/, bad);
    }
  });

  it('parseIP: canonical IPv4 and repeated IPv6 texts take fast paths with the same answers and errors', () => {
    assert.deepEqual(parseIP('198.18.0.1'), { family: 'ipv4', address: '198.18.0.1' });
    assert.throws(() => parseIP('198.018.0.1'), AddressError, 'leading zeros are not an address');
    assert.throws(() => parseIP('198.18.0.256'), AddressError);
    assert.throws(() => parseIP('198.18.0.1', 'ipv6'), /is ipv4, expected ipv6/);
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(parseIP('FD00:0:0::0001'), { family: 'ipv6', address: 'fd00::1' });
      assert.throws(() => parseIP('FD00:0:0::0001', 'ipv4'), /is ipv6, expected ipv4/);
    }
    assert.deepEqual(unspecifiedAddress('ipv6'), '::');
    assert.equal(familyOfKubernetes('IPv6'), 'ipv6');
    assert.equal(familyOfKubernetes('FQDN'), undefined);
    assert.equal(nftWords('ipv4').loopback, '127.0.0.0/8');
    assert.equal(nftWords('ipv6').loopback, '::1/128');
  });

  it('splits lists by family', () => {
    const s = splitByFamily(['198.18.0.1', 'fd00::1', 'bogus', '198.19.0.0/16']);
    assert.deepEqual(s, { ipv4: ['198.18.0.1', '198.19.0.0/16'], ipv6: ['fd00::1'], invalid: ['bogus'] });
  });

  it('computes containment and first hosts per family', () => {
    assert.ok(cidrContains('198.18.0.0/15', '198.19.255.1'));
    assert.ok(!cidrContains('198.18.0.0/15', 'fd00::1'));
    assert.equal(firstHost('198.18.4.0/24'), '198.18.4.1');
    assert.equal(firstHost('fd00:10:1::/64'), 'fd00:10:1::1');
  });
});
