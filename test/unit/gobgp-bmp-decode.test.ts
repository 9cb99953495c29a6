import assert from 'node:assert/strict';
import ipaddr from 'ipaddr.js';
import { BmpDecodeError, BmpFramer, BMP_TYPE, decodeRouteMonitoring } from '../../core/services/gobgp/bmp-decode.ts';

// ---- encoders: BMP and BGP UPDATE bytes as RFC 7854 / 4271 / 4760 lay them out

function prefixBytes(prefix: string): Buffer {
  const [addr, len] = prefix.split('/') as [string, string];
  const bits = Number(len);
  const bytes = Buffer.from(ipaddr.parse(addr).toByteArray());
  return Buffer.concat([Buffer.from([bits]), bytes.subarray(0, (bits + 7) >> 3)]);
}

function attr(type: number, value: Buffer, flags = 0x40): Buffer {
  if (value.length > 255) {
    const head = Buffer.from([flags | 0x10, type, 0, 0]);
    head.writeUInt16BE(value.length, 2);
    return Buffer.concat([head, value]);
  }
  return Buffer.concat([Buffer.from([flags, type, value.length]), value]);
}

function asPath(asns: number[]): Buffer {
  const v = Buffer.alloc(2 + 4 * asns.length);
  v[0] = 2; // AS_SEQUENCE
  v[1] = asns.length;
  asns.forEach((a, i) => v.writeUInt32BE(a, 2 + 4 * i));
  return attr(2, v);
}

function mpReach(afi: number, nextHops: string[], prefixes: string[]): Buffer {
  const nh = Buffer.concat(nextHops.map((a) => Buffer.from(ipaddr.parse(a).toByteArray())));
  const head = Buffer.from([0, afi, 1, nh.length]);
  head.writeUInt16BE(afi, 0);
  return attr(14, Buffer.concat([head, nh, Buffer.from([0]), ...prefixes.map(prefixBytes)]), 0x80);
}

function mpUnreach(afi: number, prefixes: string[]): Buffer {
  const head = Buffer.from([0, afi, 1]);
  head.writeUInt16BE(afi, 0);
  return attr(15, Buffer.concat([head, ...prefixes.map(prefixBytes)]), 0x80);
}

function update(opts: { withdrawn?: string[]; attrs?: Buffer[]; nlri?: string[] }): Buffer {
  const withdrawn = Buffer.concat((opts.withdrawn ?? []).map(prefixBytes));
  const attrs = Buffer.concat(opts.attrs ?? []);
  const nlri = Buffer.concat((opts.nlri ?? []).map(prefixBytes));
  const body = Buffer.alloc(4 + withdrawn.length + attrs.length);
  body.writeUInt16BE(withdrawn.length, 0);
  withdrawn.copy(body, 2);
  body.writeUInt16BE(attrs.length, 2 + withdrawn.length);
  attrs.copy(body, 4 + withdrawn.length);
  const header = Buffer.alloc(19, 0xff);
  header.writeUInt16BE(19 + body.length + nlri.length, 16);
  header[18] = 2;
  return Buffer.concat([header, body, nlri]);
}

/** A BMP Route Monitoring message: common header, Loc-RIB per-peer header, the UPDATE. */
function routeMonitoring(pdu: Buffer, peerFlags = 0): Buffer {
  const perPeer = Buffer.alloc(42);
  perPeer[0] = 3; // Loc-RIB instance peer
  perPeer[1] = peerFlags;
  return bmp(BMP_TYPE.routeMonitoring, Buffer.concat([perPeer, pdu]));
}

function bmp(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(6);
  head[0] = 3;
  head.writeUInt32BE(6 + body.length, 1);
  head[5] = type;
  return Buffer.concat([head, body]);
}

function decodeOne(message: Buffer) {
  const [m, ...rest] = new BmpFramer().push(message);
  assert.equal(rest.length, 0);
  assert.equal(m!.type, BMP_TYPE.routeMonitoring);
  return decodeRouteMonitoring(m!.body);
}

describe('gobgp BMP Loc-RIB decoding', () => {
  it('an IPv4 announcement: prefix, NEXT_HOP, 4-byte AS path, communities', () => {
    const communities = Buffer.alloc(8);
    communities.writeUInt32BE(64512 * 65536 + 100, 0);
    communities.writeUInt32BE(65000 * 65536 + 7, 4);
    const msg = routeMonitoring(
      update({ attrs: [attr(1, Buffer.from([0])), asPath([64513, 4200000001]), attr(3, Buffer.from([198, 18, 0, 9])), attr(8, communities, 0xc0)], nlri: ['198.19.7.0/24'] }),
    );
    assert.deepEqual(decodeOne(msg), {
      announced: [{ family: 'ipv4', prefix: '198.19.7.0/24', nextHop: '198.18.0.9', asPath: [64513, 4200000001], communities: ['64512:100', '65000:7'] }],
      withdrawn: [],
    });
  });

  it('an IPv6 announcement in MP_REACH_NLRI: the global next hop (a link-local second one ignored), canonical prefix text', () => {
    const msg = routeMonitoring(update({ attrs: [asPath([]), mpReach(2, ['fd00:0:0:1::9', 'fe80::1'], ['fd00:00a0:0000:0001::/64'])] }));
    assert.deepEqual(decodeOne(msg).announced, [{ family: 'ipv6', prefix: 'fd00:a0:0:1::/64', nextHop: 'fd00:0:0:1::9', asPath: [], communities: [] }]);
  });

  it('an IPv4 prefix with an IPv6 next hop (RFC 8950) and the 2-byte AS flag', () => {
    const v = Buffer.from([2, 1, 0xfd, 0xe8]); // AS_SEQUENCE of one 2-byte AS: 65000
    const msg = routeMonitoring(update({ attrs: [attr(2, v), mpReach(1, ['fd00::9'], ['198.19.8.0/24'])] }), 0x20);
    assert.deepEqual(decodeOne(msg).announced, [{ family: 'ipv4', prefix: '198.19.8.0/24', nextHop: 'fd00::9', asPath: [65000], communities: [] }]);
  });

  it('withdrawals of both families (withdrawn routes and MP_UNREACH_NLRI)', () => {
    assert.deepEqual(decodeOne(routeMonitoring(update({ withdrawn: ['198.19.7.0/24', '10.0.0.0/8'] }))), {
      announced: [],
      withdrawn: [
        { family: 'ipv4', prefix: '198.19.7.0/24' },
        { family: 'ipv4', prefix: '10.0.0.0/8' },
      ],
    });
    assert.deepEqual(decodeOne(routeMonitoring(update({ attrs: [mpUnreach(2, ['fd00:1::/64', '::/0'])] }))).withdrawn, [
      { family: 'ipv6', prefix: 'fd00:1::/64' },
      { family: 'ipv6', prefix: '::/0' },
    ]);
  });

  it('an extended-length attribute (MP_REACH_NLRI over 255 bytes) is read whole', () => {
    const prefixes = Array.from({ length: 40 }, (_, i) => `fd00:${i.toString(16)}::/64`);
    const out = decodeOne(routeMonitoring(update({ attrs: [mpReach(2, ['fd00::9'], prefixes)] })));
    assert.deepEqual(
      out.announced.map((a) => a.prefix),
      prefixes.map((p) => p.replace(':0::', '::')),
    );
  });

  it('the framer cuts a stream split anywhere into whole messages, and skips nothing', () => {
    const messages = [
      bmp(BMP_TYPE.initiation, Buffer.from([0, 1, 0, 3, 0x61, 0x62, 0x63])),
      routeMonitoring(update({ attrs: [attr(3, Buffer.from([198, 18, 0, 9]))], nlri: ['198.19.1.0/24'] })),
      routeMonitoring(update({ attrs: [mpReach(2, ['fd00::9'], ['fd00:1::/64'])] })),
      routeMonitoring(update({ withdrawn: ['198.19.1.0/24'] })),
    ];
    const stream = Buffer.concat(messages);
    for (const cut of [1, 5, 6, 7, 50, messages[0]!.length, stream.length - 1]) {
      const framer = new BmpFramer();
      const got = [...framer.push(stream.subarray(0, cut)), ...framer.push(stream.subarray(cut))];
      assert.deepEqual(
        got.map((m) => m.type),
        [BMP_TYPE.initiation, BMP_TYPE.routeMonitoring, BMP_TYPE.routeMonitoring, BMP_TYPE.routeMonitoring],
        `cut at ${cut}`,
      );
      assert.deepEqual(
        got.slice(1).map((m) => decodeRouteMonitoring(m.body)),
        messages.slice(1).map((m) => decodeRouteMonitoring(m.subarray(6))),
      );
    }
  });

  it('unreadable input is an error naming what is wrong, not a wrong route', () => {
    assert.throws(() => new BmpFramer().push(Buffer.from([1, 0, 0, 0, 6, 0])), /bmp: unsupported version 1/);
    assert.throws(() => new BmpFramer().push(Buffer.from([3, 0, 0, 0, 2, 0])), /shorter than its header/);
    const truncated = routeMonitoring(update({ attrs: [attr(3, Buffer.from([198, 18, 0, 9]))], nlri: ['198.19.1.0/24'] }));
    // Claim a longer NEXT_HOP attribute than the message holds.
    const pduStart = 6 + 42;
    truncated[pduStart + 19 + 4 + 2] = 40;
    assert.throws(() => decodeRouteMonitoring(truncated.subarray(6)), BmpDecodeError);
    const badPrefix = routeMonitoring(update({ attrs: [attr(3, Buffer.from([198, 18, 0, 9]))] }));
    const withNlri = Buffer.concat([badPrefix, Buffer.from([33, 1, 2, 3, 4, 5])]);
    withNlri.writeUInt32BE(withNlri.length, 1);
    withNlri.writeUInt16BE(withNlri.readUInt16BE(pduStart + 16) + 6, pduStart + 16);
    assert.throws(() => decodeRouteMonitoring(withNlri.subarray(6)), /ipv4 prefix length 33/);
  });
});
