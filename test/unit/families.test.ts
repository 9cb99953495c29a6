import assert from 'node:assert/strict';
import { AddressError, cidrContains, familyOf, firstHost, parseCidr, splitByFamily } from '@krouter/sdk';

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
