import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { gobgpMethod } from '../../core/services/gobgp/descriptor.ts';
import { decodeDestination, decodePath } from '../../core/services/gobgp/encode.ts';
import { WIRE_FIELDS, decodeListPathRoutes, decodeWatchTableEvent } from '../../core/services/gobgp/wire.ts';
import descriptor from '../../build/generated/gobgp-descriptor.json' with { type: 'json' };

const T = 'type.googleapis.com/apipb.';
const any = (type: string, fields: Record<string, unknown>) => ({ '@type': T + type, ...fields });
const prefix = (p: string, len: number) => any('IPAddressPrefix', { prefix: p, prefix_len: len });
const v6 = { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' };
const v4 = { afi: 'AFI_IP', safi: 'SAFI_UNICAST' };

/** Paths as gobgpd sends them in a WatchEvent (an IPv6 path carries the UPDATE's sibling NLRIs). */
function samplePaths(): Array<Record<string, unknown>> {
  const siblings = Array.from({ length: 300 }, (_, i) => prefix(`fd00:300:0:${i.toString(16)}::`, 64));
  return [
    {
      family: v6,
      nlri: prefix('fd00:300::', 64),
      pattrs: [
        any('OriginAttribute', { origin: 0 }),
        any('AsPathAttribute', { segments: [{ type: 'AS_SEQUENCE', numbers: [64513, 65001] }, { type: 'AS_SET', numbers: [7] }] }),
        any('MpReachNLRIAttribute', { family: v6, next_hops: ['fd00:100::fe', 'fe80::1'], nlris: siblings }),
        any('CommunitiesAttribute', { communities: [64513 * 65536 + 100, 0xffffff01] }),
      ],
      neighbor_ip: 'fd00:100::fe',
      source_asn: 64513,
      best: true,
    },
    {
      family: v4,
      nlri: prefix('198.19.128.0', 32),
      pattrs: [any('OriginAttribute', { origin: 0 }), any('NextHopAttribute', { next_hop: '198.18.100.254' }), any('LocalPrefAttribute', { local_pref: 100 })],
      neighbor_ip: '198.18.100.254',
      source_asn: 64513,
    },
    // A withdrawal.
    { family: v4, nlri: prefix('198.19.128.1', 32), pattrs: [], neighbor_ip: '198.18.100.254', is_withdraw: true },
    // Locally originated: no source.
    { family: v4, nlri: prefix('198.19.101.0', 24), pattrs: [any('NextHopAttribute', { next_hop: '0.0.0.0' })], neighbor_ip: '<nil>' },
    // Not IPv4/IPv6 unicast, or not a plain prefix: dropped by both decoders.
    { family: { afi: 'AFI_L2VPN', safi: 'SAFI_EVPN' }, nlri: prefix('198.19.0.0', 16), pattrs: [] },
    { family: v4, nlri: any('LabeledIPAddressPrefix', { prefix: '198.19.0.0', prefix_len: 16 }), pattrs: [] },
  ];
}

describe('gobgp WatchEvent wire decoder', () => {
  const watch = gobgpMethod('WatchEvent')!;

  it('decodes table events to the same routes as the generic decoder and decodePath', () => {
    const bytes = watch.responseSerialize({ table: { paths: samplePaths() } });
    const generic = watch.responseDeserialize(bytes) as { table: { paths: Array<Record<string, unknown>> } };
    const expected = generic.table.paths.map((p) => decodePath(p)).filter((r) => r !== undefined);
    assert.equal(expected.length, 4);
    assert.deepEqual(decodeWatchTableEvent(bytes), expected);
    assert.deepEqual(expected[0], {
      family: 'ipv6',
      prefix: 'fd00:300::/64',
      nextHop: 'fd00:100::fe',
      asPath: [64513, 65001, 7],
      communities: ['64513:100', '65535:65281'],
      best: true,
      source: 'fd00:100::fe',
      sourceAsn: 64513,
    });
  });

  it('decodes a ListPath destination to the same routes as decodeDestination', () => {
    const listPath = gobgpMethod('ListPath')!;
    const bytes = listPath.responseSerialize({ destination: { prefix: 'fd00:300::/64', paths: samplePaths() } });
    const generic = listPath.responseDeserialize(bytes) as { destination: Record<string, unknown> };
    const expected = decodeDestination(generic.destination);
    assert.equal(expected.length, 4);
    assert.deepEqual(decodeListPathRoutes(bytes), expected);
    assert.deepEqual(decodeListPathRoutes(listPath.responseSerialize({})), []);
  });

  it('decodes paths listed in their BGP wire form (enable_only_binary) to the same routes as the Any form', () => {
    const listPath = gobgpMethod('ListPath')!;
    const attr = (flags: number, type: number, value: number[]) =>
      Buffer.from(value.length > 255 ? [flags | 0x10, type, value.length >> 8, value.length & 0xff, ...value] : [flags, type, value.length, ...value]);
    const u32 = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
    const v6bytes = (words: number[]) => words.flatMap((w) => [w >> 8, w & 0xff]);
    // fd00:300::/64 with the UPDATE's 300 siblings in MP_REACH_NLRI, next hops fd00:100::fe and fe80::1.
    const siblings = Array.from({ length: 300 }, (_, i) => [64, ...v6bytes([0xfd00, 0x300, 0, i])]).flat();
    const mpReach = [0, 2, 1, 32, ...v6bytes([0xfd00, 0x100, 0, 0, 0, 0, 0, 0xfe]), ...v6bytes([0xfe80, 0, 0, 0, 0, 0, 0, 1]), 0, ...siblings];
    const binary = [
      {
        family: v6,
        nlri_binary: Buffer.from([64, ...v6bytes([0xfd00, 0x300, 0, 0])]),
        pattrs_binary: [
          attr(0x40, 1, [0]),
          attr(0x40, 2, [2, 2, ...u32(64513), ...u32(65001), 1, 1, ...u32(7)]),
          attr(0x80, 14, mpReach),
          attr(0xc0, 8, [...u32(64513 * 65536 + 100), ...u32(0xffffff01)]),
        ],
        neighbor_ip: 'fd00:100::fe',
        source_asn: 64513,
        best: true,
      },
      {
        family: v4,
        nlri_binary: Buffer.from([32, 198, 19, 128, 0]),
        pattrs_binary: [attr(0x40, 1, [0]), attr(0x40, 3, [198, 18, 100, 254]), attr(0x40, 5, u32(100))],
        neighbor_ip: '198.18.100.254',
        source_asn: 64513,
      },
      { family: v4, nlri_binary: Buffer.from([32, 198, 19, 128, 1]), pattrs_binary: [], neighbor_ip: '198.18.100.254', is_withdraw: true },
    ];
    const anyForm = listPath.responseSerialize({ destination: { prefix: 'x', paths: samplePaths().slice(0, 3) } });
    const binaryForm = listPath.responseSerialize({ destination: { prefix: 'x', paths: binary } });
    const expected = decodeListPathRoutes(anyForm);
    assert.equal(expected.length, 3);
    assert.deepEqual(decodeListPathRoutes(binaryForm), expected);
  });

  it('leaves peer events to the generic decoder and reads an empty table event as no routes', () => {
    const peer = watch.responseSerialize({ peer: { type: 'STATE', peer: { state: { neighbor_address: '198.18.100.254' } } } });
    assert.equal(decodeWatchTableEvent(peer), undefined);
    assert.deepEqual(decodeWatchTableEvent(watch.responseSerialize({ table: { paths: [] } })), []);
  });

  it('fails loudly on a truncated message', () => {
    const bytes = watch.responseSerialize({ table: { paths: samplePaths() } });
    assert.throws(() => decodeWatchTableEvent(bytes.subarray(0, bytes.length - 5)));
  });

  it('uses the field numbers of the generated descriptor', () => {
    const root = protobuf.Root.fromJSON((descriptor as { root: protobuf.INamespace }).root);
    for (const [message, fields] of Object.entries(WIRE_FIELDS)) {
      const type = root.lookupType(`apipb.${message}`);
      for (const [name, id] of Object.entries(fields)) assert.equal(type.fields[name]?.id, id, `${message}.${name}`);
    }
    const family = root.lookupType('apipb.Family');
    assert.equal((family.lookupEnum('Afi').values as Record<string, number>).AFI_IP, 1);
    assert.equal((family.lookupEnum('Afi').values as Record<string, number>).AFI_IP6, 2);
    assert.equal((family.lookupEnum('Safi').values as Record<string, number>).SAFI_UNICAST, 1);
  });
});
