import assert from 'node:assert/strict';
import {
  BgpInputError,
  decodeDestination,
  decodePath,
  decodePeerState,
  encodeGlobal,
  encodePath,
  encodePeer,
  familyFromApi,
  familyToApi,
  formatCommunity,
  globalFamilyCode,
  parseCommunity,
  pathKey,
  peerFingerprint,
} from '../../core/services/gobgp/encode.ts';

const T = (name: string) => `type.googleapis.com/apipb.${name}`;
const V4 = { afi: 'AFI_IP', safi: 'SAFI_UNICAST' };
const V6 = { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' };

describe('gobgp encode: families and communities', () => {
  it('maps families both ways and rejects anything else', () => {
    assert.deepEqual(familyToApi('ipv4'), V4);
    assert.deepEqual(familyToApi('ipv6'), V6);
    assert.equal(familyFromApi(V4), 'ipv4');
    assert.equal(familyFromApi(V6), 'ipv6');
    assert.equal(familyFromApi({ afi: 'AFI_IP', safi: 'SAFI_MPLS_VPN' }), undefined);
    assert.equal(familyFromApi(undefined), undefined);
    assert.throws(() => familyToApi('ipx' as never), /ipx.*ipv4 or ipv6/);
    // Global.families are gobgp's AFI-SAFI table indexes.
    assert.equal(globalFamilyCode('ipv4'), 0);
    assert.equal(globalFamilyCode('ipv6'), 1);
  });

  it('parses and formats communities', () => {
    assert.equal(parseCommunity('65000:100'), 65000 * 65536 + 100);
    assert.equal(parseCommunity('4259840100'), 4259840100);
    assert.equal(parseCommunity('no-export'), 0xffffff01);
    assert.equal(formatCommunity(65000 * 65536 + 100), '65000:100');
    assert.equal(formatCommunity(0), '0:0');
    for (const bad of ['65536:1', '1:70000', 'abc', '1:2:3', '4294967296', '']) {
      assert.throws(() => parseCommunity(bad), BgpInputError, bad);
    }
  });
});

describe('gobgp encode: paths', () => {
  it('encodes an IPv4 path with NLRI, Origin and NextHop', () => {
    const e = encodePath({ prefix: '198.19.1.0/24', nextHop: '198.18.0.1' });
    assert.equal(e.family, 'ipv4');
    assert.equal(e.prefix, '198.19.1.0/24');
    assert.deepEqual(e.path, {
      family: V4,
      nlri: { '@type': T('IPAddressPrefix'), prefix: '198.19.1.0', prefix_len: 24 },
      pattrs: [
        { '@type': T('OriginAttribute'), origin: 0 },
        { '@type': T('NextHopAttribute'), next_hop: '198.18.0.1' },
      ],
    });
  });

  it('encodes an IPv6 path with MpReachNLRI (family, next hops, nlris) and no NextHop attribute', () => {
    const e = encodePath({ prefix: 'fd00:10::/64', nextHop: 'fd00:18::1' });
    assert.equal(e.family, 'ipv6');
    const nlri = { '@type': T('IPAddressPrefix'), prefix: 'fd00:10::', prefix_len: 64 };
    assert.deepEqual(e.path, {
      family: V6,
      nlri,
      pattrs: [
        { '@type': T('OriginAttribute'), origin: 0 },
        { '@type': T('MpReachNLRIAttribute'), family: V6, next_hops: ['fd00:18::1'], nlris: [nlri] },
      ],
    });
    assert.ok(!e.path.pattrs.some((a) => a['@type'] === T('NextHopAttribute')));
  });

  it('normalises the address text of prefix and next hop', () => {
    const e = encodePath({ prefix: 'FD00:0010:0::/64', nextHop: 'fd00:18:0::1' });
    assert.equal(e.prefix, 'fd00:10::/64');
    assert.deepEqual((e.path.pattrs[1] as Record<string, unknown>).next_hops, ['fd00:18::1']);
  });

  it('adds communities, local pref, AS path prepend and MED', () => {
    const e = encodePath({
      prefix: '198.19.2.0/24',
      nextHop: '198.18.0.1',
      communities: ['64512:10', 'no-export'],
      localPref: 200,
      asPath: [64512, 64512],
      med: 50,
    });
    const byType = Object.fromEntries(e.path.pattrs.map((a) => [a['@type'].replace(/.*\./, ''), a]));
    assert.deepEqual(byType.CommunitiesAttribute!.communities, [64512 * 65536 + 10, 0xffffff01]);
    assert.equal(byType.LocalPrefAttribute!.local_pref, 200);
    assert.deepEqual(byType.AsPathAttribute!.segments, [{ type: 'AS_SEQUENCE', numbers: [64512, 64512] }]);
    assert.equal(byType.MultiExitDiscAttribute!.med, 50);
  });

  it('refuses a next hop of the other family, naming prefix and next hop', () => {
    assert.throws(
      () => encodePath({ prefix: 'fd00:10::/64', nextHop: '198.18.0.1' }),
      (e: Error) => e instanceof BgpInputError && e.message.includes('fd00:10::/64') && e.message.includes('198.18.0.1') && /ipv4.*ipv6/.test(e.message),
    );
    assert.throws(
      () => encodePath({ prefix: '198.19.1.0/24', nextHop: 'fd00:18::1' }),
      (e: Error) => e instanceof BgpInputError && e.message.includes('198.19.1.0/24') && e.message.includes('fd00:18::1'),
    );
  });

  it('encodes an IPv4 prefix with an IPv6 next hop in MP_REACH_NLRI only when extended next hop is asked for (RFC 8950)', () => {
    const e = encodePath({ prefix: '198.19.1.0/24', nextHop: 'fd00:18::1', extendedNexthop: true });
    assert.equal(e.family, 'ipv4');
    const mp = (e.path.pattrs as Array<Record<string, any>>).find((a) => String(a['@type']).endsWith('MpReachNLRIAttribute'))!;
    assert.deepEqual(mp.next_hops, ['fd00:18::1']);
    assert.deepEqual(mp.family, e.path.family);
    assert.ok(!(e.path.pattrs as Array<Record<string, any>>).some((a) => String(a['@type']).endsWith('NextHopAttribute')));
    // Never the reverse: an IPv6 prefix with an IPv4 next hop stays refused.
    assert.throws(() => encodePath({ prefix: 'fd00:10::/64', nextHop: '198.18.0.1', extendedNexthop: true }), BgpInputError);
  });

  it('refuses malformed paths with a clear error', () => {
    assert.throws(() => encodePath({ prefix: '198.19.1.0', nextHop: '198.18.0.1' }), /198\.19\.1\.0.*CIDR/);
    assert.throws(() => encodePath({ prefix: '198.19.1.1/24', nextHop: '198.18.0.1' }), /host bits/);
    assert.throws(() => encodePath({ prefix: '198.19.1.0/33', nextHop: '198.18.0.1' }), /prefix length/);
    assert.throws(() => encodePath({ prefix: '198.19.1.0/24', nextHop: 'nope' }), /198\.19\.1\.0\/24: next hop.*not an IP/);
    assert.throws(() => encodePath({ prefix: '198.19.1.0/24', nextHop: '198.18.0.1', med: -1 }), /med/);
    assert.throws(() => encodePath({ prefix: '198.19.1.0/24', nextHop: '198.18.0.1', localPref: 1.5 }), /localPref/);
    assert.throws(() => encodePath({ prefix: '198.19.1.0/24', nextHop: '198.18.0.1', asPath: [0] }), /asPath\[0\]/);
    assert.throws(() => encodePath({ prefix: '198.19.1.0/24', nextHop: '198.18.0.1', communities: ['x'] }), /198\.19\.1\.0\/24.*community "x"/);
  });

  it('derives the key and family of a path from its prefix', () => {
    assert.deepEqual(pathKey({ prefix: 'fd00:10:0::/64' }), { prefix: 'fd00:10::/64', family: 'ipv6' });
    assert.deepEqual(pathKey({ prefix: '198.19.0.0/16' }), { prefix: '198.19.0.0/16', family: 'ipv4' });
    assert.throws(() => pathKey({ prefix: 'x' }), BgpInputError);
  });
});

describe('gobgp decode: paths and destinations', () => {
  it('decodes a received IPv4 path (NextHop attribute)', () => {
    const r = decodePath({
      family: V4,
      nlri: { '@type': T('IPAddressPrefix'), prefix: '198.19.1.0', prefix_len: 24 },
      pattrs: [
        { '@type': T('OriginAttribute'), origin: 0 },
        { '@type': T('NextHopAttribute'), next_hop: '198.18.0.1' },
        { '@type': T('AsPathAttribute'), segments: [{ type: 'AS_SEQUENCE', numbers: [64513, 64514] }] },
        { '@type': T('CommunitiesAttribute'), communities: [64512 * 65536 + 10] },
      ],
      best: true,
      neighbor_ip: '198.18.0.1',
      source_asn: 64512,
    });
    assert.deepEqual(r, {
      family: 'ipv4',
      prefix: '198.19.1.0/24',
      nextHop: '198.18.0.1',
      asPath: [64513, 64514],
      communities: ['64512:10'],
      best: true,
      source: '198.18.0.1',
      sourceAsn: 64512,
    });
  });

  it('decodes an IPv6 path (next hop from MpReachNLRI, global before link-local)', () => {
    const r = decodePath({
      family: V6,
      nlri: { '@type': T('IPAddressPrefix'), prefix: 'fd00:10::', prefix_len: 64 },
      pattrs: [{ '@type': T('MpReachNLRIAttribute'), family: V6, next_hops: ['fd00:18::1', 'fe80::1'], nlris: [] }],
      best: true,
      neighbor_ip: 'fd00:18::1',
    });
    assert.equal(r?.family, 'ipv6');
    assert.equal(r?.prefix, 'fd00:10::/64');
    assert.equal(r?.nextHop, 'fd00:18::1');
    assert.equal(r?.source, 'fd00:18::1');
  });

  it('marks withdrawals, has no source for local paths, and skips other families', () => {
    const local = decodePath({
      family: V4,
      nlri: { '@type': T('IPAddressPrefix'), prefix: '198.19.1.0', prefix_len: 24 },
      pattrs: [{ '@type': T('NextHopAttribute'), next_hop: '198.18.0.1' }],
      is_withdraw: true,
      neighbor_ip: '<nil>',
    });
    assert.equal(local?.withdrawal, true);
    assert.equal(local?.source, undefined);
    assert.equal(decodePath({ family: { afi: 'AFI_L2VPN', safi: 'SAFI_EVPN' }, nlri: {}, pattrs: [] }), undefined);
  });

  it('decodes a destination into its paths', () => {
    const routes = decodeDestination({
      prefix: '198.19.1.0/24',
      paths: [
        { family: V4, nlri: { '@type': T('IPAddressPrefix'), prefix: '198.19.1.0', prefix_len: 24 }, pattrs: [], best: true },
        { family: V4, nlri: { '@type': T('IPAddressPrefix'), prefix: '198.19.1.0', prefix_len: 24 }, pattrs: [], best: false },
      ],
    });
    assert.deepEqual(
      routes.map((r) => r.best),
      [true, false],
    );
  });

  it('round-trips an encoded path', () => {
    for (const p of [
      { prefix: '198.19.3.0/24', nextHop: '198.18.0.7', communities: ['1:2'], asPath: [65001] },
      { prefix: 'fd00:3::/48', nextHop: 'fd00:18::7', communities: ['3:4'] },
    ]) {
      const r = decodePath({ ...encodePath(p).path, best: true });
      assert.equal(r?.prefix, p.prefix);
      assert.equal(r?.nextHop, p.nextHop);
      assert.deepEqual(r?.communities, p.communities);
      assert.deepEqual(r?.asPath, p.asPath ?? []);
    }
  });
});

describe('gobgp encode: global', () => {
  it('encodes the global config', () => {
    assert.deepEqual(encodeGlobal({ asn: 64512, routerId: '198.18.0.1', families: ['ipv4', 'ipv6'], listenAddresses: ['fd00:18::1'] }), {
      asn: 64512,
      router_id: '198.18.0.1',
      listen_port: 179,
      listen_addresses: ['fd00:18::1'],
      families: [0, 1],
    });
    const g = encodeGlobal({ asn: 64512, routerId: '198.18.0.1', families: ['ipv6'], listenPort: -1, gracefulRestart: { enabled: true, restartTime: 90 } });
    assert.equal(g.listen_port, -1);
    assert.deepEqual(g.families, [1]);
    assert.deepEqual(g.graceful_restart, { enabled: true, restart_time: 90, deferral_time: 360 });
  });

  it('refuses a bad global config naming the key', () => {
    assert.throws(() => encodeGlobal({ asn: 0, routerId: '198.18.0.1', families: ['ipv4'] }), /asn/);
    assert.throws(() => encodeGlobal({ asn: 1, routerId: 'fd00::1', families: ['ipv4'] }), /routerId.*ipv6, expected ipv4/);
    assert.throws(() => encodeGlobal({ asn: 1, routerId: '198.18.0.1', families: [] }), /families/);
    assert.throws(() => encodeGlobal({ asn: 1, routerId: '198.18.0.1', families: ['ipv4'], listenPort: 70000 }), /listenPort/);
  });
});

describe('gobgp encode: peers', () => {
  it('encodes a minimal peer with one AFI-SAFI per family', () => {
    assert.deepEqual(encodePeer({ address: '198.18.0.2', asn: 64512, families: ['ipv4', 'ipv6'] }), {
      conf: { neighbor_address: '198.18.0.2', peer_asn: 64512 },
      afi_safis: [{ config: { family: V4, enabled: true } }, { config: { family: V6, enabled: true } }],
    });
  });

  it('encodes transport, multihop, route reflector, graceful restart (per AFI-SAFI), timers and password', () => {
    const p = encodePeer({
      address: 'fd00:18:0::2',
      asn: 65001,
      families: ['ipv6'],
      port: 1179,
      password: 's3cret',
      multihopTtl: 3,
      localAddress: 'fd00:18::1',
      holdTime: 9,
      keepaliveInterval: 3,
      connectRetry: 5,
      passive: true,
      description: 'tor',
      routeReflectorClient: true,
      routeReflectorClusterId: '198.18.0.1',
      gracefulRestart: { enabled: true, restartTime: 60, deferralTime: 30 },
    });
    assert.deepEqual(p, {
      conf: { neighbor_address: 'fd00:18::2', peer_asn: 65001, auth_password: 's3cret', description: 'tor' },
      afi_safis: [{ config: { family: V6, enabled: true }, mp_graceful_restart: { config: { enabled: true } } }],
      transport: { local_address: 'fd00:18::1', remote_port: 1179, passive_mode: true },
      ebgp_multihop: { enabled: true, multihop_ttl: 3 },
      route_reflector: { route_reflector_client: true, route_reflector_cluster_id: '198.18.0.1' },
      graceful_restart: { enabled: true, restart_time: 60, deferral_time: 30 },
      timers: { config: { hold_time: 9, keepalive_interval: 3, connect_retry: 5 } },
    });
  });

  it('refuses bad peers naming the peer and key', () => {
    assert.throws(() => encodePeer({ address: 'x', asn: 1, families: ['ipv4'] }), /bgp peer: address/);
    assert.throws(() => encodePeer({ address: '198.18.0.2', asn: 0, families: ['ipv4'] }), /198\.18\.0\.2: asn/);
    assert.throws(() => encodePeer({ address: '198.18.0.2', asn: 1, families: [] }), /198\.18\.0\.2: families/);
    assert.throws(() => encodePeer({ address: '198.18.0.2', asn: 1, families: ['ipv4'], multihopTtl: 256 }), /multihopTtl/);
    assert.throws(() => encodePeer({ address: '198.18.0.2', asn: 1, families: ['ipv4'], holdTime: 2 }), /holdTime/);
    assert.throws(() => encodePeer({ address: '198.18.0.2', asn: 1, families: ['ipv4'], localAddress: 'fd00::1' }), /localAddress/);
    assert.throws(() => encodePeer({ address: '198.18.0.2', asn: 1, families: ['ipv4'], port: 0 }), /port/);
  });

  it('fingerprints peers so that only a real change counts', () => {
    const p = { address: '198.18.0.2', asn: 64512, families: ['ipv4' as const] };
    assert.equal(peerFingerprint(p), peerFingerprint({ ...p }));
    assert.notEqual(peerFingerprint(p), peerFingerprint({ ...p, holdTime: 30 }));
    assert.notEqual(peerFingerprint(p), peerFingerprint({ ...p, nextHopSelf: true }));
  });

  it('decodes peer state with per-family counters and uptime', () => {
    const s = decodePeerState({
      conf: { neighbor_address: '198.18.0.2', peer_asn: 64512, description: 'b' },
      state: { neighbor_address: '198.18.0.2', peer_asn: 64512, session_state: 'ESTABLISHED' },
      timers: { state: { uptime: { seconds: 1700000000, nanos: 0 } } },
      afi_safis: [
        { config: { family: V4, enabled: true }, state: { family: V4, received: 3, accepted: 2, advertised: 1 } },
        { config: { family: V6, enabled: true }, state: { family: V6, received: 0, accepted: 0, advertised: 4 } },
      ],
    });
    assert.deepEqual(s, {
      address: '198.18.0.2',
      asn: 64512,
      state: 'established',
      uptime: 1700000000,
      description: 'b',
      families: { ipv4: { received: 3, accepted: 2, advertised: 1 }, ipv6: { received: 0, accepted: 0, advertised: 4 } },
    });
    const idle = decodePeerState({ conf: { neighbor_address: '198.18.0.3', peer_asn: 1 }, state: { session_state: 'ACTIVE' } });
    assert.equal(idle.state, 'active');
    assert.equal(idle.address, '198.18.0.3');
    assert.equal(idle.uptime, undefined);
  });
});
