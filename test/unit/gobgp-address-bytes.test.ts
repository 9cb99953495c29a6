import assert from 'node:assert/strict';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { formatAddressBytes } from '../../core/services/gobgp/address-bytes.ts';

/** IPv6 bytes with long zero runs likely: groups drawn from {0, 1, random}. */
const group = fc.oneof(fc.constant(0), fc.constant(0), fc.constant(1), fc.integer({ min: 0, max: 0xffff }));
const v6bytes = fc.array(group, { minLength: 8, maxLength: 8 }).map((gs) => Uint8Array.from(gs.flatMap((g) => [g >> 8, g & 0xff])));

describe('gobgp: binary addresses to text (core/services/gobgp/address-bytes.ts)', () => {
  it('gives the text ipaddr.js gives, IPv4 and IPv6', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (b) => {
        assert.equal(formatAddressBytes(b, 0, 4), ipaddr.fromByteArray([...b]).toString());
      }),
    );
    fc.assert(
      fc.property(v6bytes, (b) => {
        assert.equal(formatAddressBytes(b, 0, 16), ipaddr.fromByteArray([...b]).toString());
      }),
      { numRuns: 2000 },
    );
  });

  it('compresses the longest zero run, the first of equal ones, never a single zero group', () => {
    const v6 = (...groups: number[]) => Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
    assert.equal(formatAddressBytes(v6(0, 0, 0, 0, 0, 0, 0, 0), 0, 16), '::');
    assert.equal(formatAddressBytes(v6(0, 0, 0, 0, 0, 0, 0, 1), 0, 16), '::1');
    assert.equal(formatAddressBytes(v6(0xfd00, 0x300, 0, 0x1f, 0, 0, 0, 0), 0, 16), 'fd00:300:0:1f::');
    assert.equal(formatAddressBytes(v6(1, 0, 0, 2, 0, 0, 3, 4), 0, 16), '1::2:0:0:3:4');
    assert.equal(formatAddressBytes(v6(1, 0, 2, 3, 4, 5, 6, 7), 0, 16), '1:0:2:3:4:5:6:7');
  });

  it('reads only the bytes present at the offset, the rest as zero (a BGP prefix)', () => {
    const buf = Uint8Array.from([99, 198, 19, 130, 7, 99]);
    assert.equal(formatAddressBytes(buf, 1, 4, 3), '198.19.130.0');
    assert.equal(formatAddressBytes(Uint8Array.from([0xfd, 0x00, 0x03, 0x00, 0xff]), 0, 16, 4), 'fd00:300::');
  });
});
