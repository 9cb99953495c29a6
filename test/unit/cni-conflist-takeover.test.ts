import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { takeOverConflist, type DesiredConflist } from '../../plugins/cni/conflist.ts';

/** kube-router's published cni-conf.json files; see test/fixtures/kube-router/README.md. */
const fixture = (name: string) => readFileSync(join(import.meta.dirname, '..', 'fixtures', 'kube-router', name), 'utf8');
const PUBLISHED = fixture('kubeadm-kuberouter.cni-conf.json');
const PUBLISHED_HOSTPORT = fixture('kubeadm-kuberouter-all-features-hostport.cni-conf.json');
const WRITTEN = fixture('written-by-kube-router.conflist');

type Json = Record<string, any>;

const V4 = { subnet: '198.18.16.0/24', gateway: '198.18.16.1' };
const V6 = { subnet: 'fd00:16::/64', gateway: 'fd00:16::1' };

/** What the cni plugin asks for with its defaults (as renderConflist gives it). */
function desired(over: Partial<DesiredConflist> = {}): DesiredConflist {
  return {
    cniVersion: '1.0.0',
    name: undefined,
    bridge: { bridge: 'kube-bridge', isGateway: true, isDefaultGateway: true, hairpinMode: true, mtu: 1500 },
    ipam: {},
    ranges: [V4, V6],
    portmap: { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ...over,
  };
}

const take = (text: string | undefined, d = desired()) => {
  const r = takeOverConflist(text, d);
  return { ...r, list: JSON.parse(r.text) as Json };
};

describe('cni conflist takeover: kube-router\'s published conflist', () => {
  it('completes kube-router\'s conflist (no ranges) with one range per family and keeps its keys (dual)', () => {
    const { list, changes, warning } = take(PUBLISHED);
    assert.equal(warning, undefined);
    assert.deepEqual(list, {
      cniVersion: '0.3.0',
      name: 'mynet',
      plugins: [
        {
          name: 'kubernetes',
          type: 'bridge',
          bridge: 'kube-bridge',
          isDefaultGateway: true,
          ipam: { type: 'host-local', ranges: [[V4], [V6]] },
          isGateway: true,
          hairpinMode: true,
          mtu: 1500,
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    });
    assert.deepEqual(changes, [
      'bridge: isGateway unset -> true',
      'bridge: hairpinMode unset -> true',
      'bridge: mtu unset -> 1500',
      'bridge: ipam range 198.18.16.0/24 added',
      'bridge: ipam range fd00:16::/64 added',
      'portmap entry added',
    ]);
  });

  for (const [family, range] of [['ipv4', V4], ['ipv6', V6]] as const) {
    it(`completes it with the one range of an ${family}-only node`, () => {
      const { list } = take(PUBLISHED, desired({ ranges: [range] }));
      assert.deepEqual(list.plugins[0].ipam, { type: 'host-local', ranges: [[range]] });
    });
  }

  it('keeps the operator\'s portmap entry (its capabilities included) and its place', () => {
    const { list, changes } = take(PUBLISHED_HOSTPORT);
    assert.deepEqual(list.plugins.map((p: Json) => p.type), ['bridge', 'portmap']);
    assert.deepEqual(list.plugins[1], { type: 'portmap', capabilities: { snat: true, portMappings: true }, snat: true });
    assert.ok(changes.includes('portmap: snat true added'), changes.join('\n'));
    assert.ok(!changes.includes('portmap entry added'));
    assert.equal(list.plugins[0].hairpinMode, true);
    assert.ok(!changes.some((c) => c.startsWith('bridge: hairpinMode')), 'hairpinMode was already true');
  });

  it('takes over the file kube-router has written (ranges without gateways, its MTU) and ends in a fixed point', () => {
    const { list, changes, text } = take(WRITTEN, desired({ bridge: { ...desired().bridge, mtu: 1450 } }));
    assert.deepEqual(list.plugins[0].ipam.ranges, [[V4], [V6]], 'the existing ranges, with our gateways');
    assert.equal(list.plugins[0].mtu, 1450);
    assert.equal(list.plugins[0].name, 'kubernetes');
    assert.deepEqual(changes, [
      'bridge: isGateway unset -> true',
      'bridge: mtu 1480 -> 1450',
      'bridge: ipam range 198.18.16.0/24 gateway unset -> "198.18.16.1"',
      'bridge: ipam range fd00:16::/64 gateway unset -> "fd00:16::1"',
      'portmap: snat true added',
    ]);
    // Key order of the file is kept (Go's sorted keys), ours come after.
    assert.deepEqual(Object.keys(list.plugins[0]), ['bridge', 'hairpinMode', 'ipam', 'isDefaultGateway', 'mtu', 'name', 'type', 'isGateway']);
    assert.deepEqual(take(text, desired({ bridge: { ...desired().bridge, mtu: 1450 } })).changes, []);
    assert.equal(take(text, desired({ bridge: { ...desired().bridge, mtu: 1450 } })).text, text);
  });

  it('drops a range that is no longer this node\'s pod CIDR and keeps the extra keys of one that is', () => {
    const existing = JSON.parse(PUBLISHED) as Json;
    existing.plugins[0].ipam.ranges = [
      [{ subnet: '198.18.99.0/24' }],
      [{ subnet: '198.18.16.0/24', rangeStart: '198.18.16.10', rangeEnd: '198.18.16.200' }],
    ];
    const { list, changes } = take(JSON.stringify(existing));
    assert.deepEqual(list.plugins[0].ipam.ranges, [[{ ...V4, rangeStart: '198.18.16.10', rangeEnd: '198.18.16.200' }], [V6]]);
    assert.ok(changes.includes('bridge: ipam range 198.18.99.0/24 removed (not a pod CIDR of this node)'), changes.join('\n'));
  });

  it('folds the legacy single-range ipam keys into ranges (host-local would add them as one more range)', () => {
    const existing = JSON.parse(PUBLISHED) as Json;
    Object.assign(existing.plugins[0].ipam, { subnet: '198.18.16.0/24', rangeStart: '198.18.16.5', dataDir: '/var/lib/op-ipam', routes: [{ dst: '0.0.0.0/0' }] });
    const { list, changes } = take(JSON.stringify(existing));
    assert.deepEqual(list.plugins[0].ipam, {
      type: 'host-local',
      dataDir: '/var/lib/op-ipam',
      routes: [{ dst: '0.0.0.0/0' }],
      ranges: [[{ subnet: '198.18.16.0/24', rangeStart: '198.18.16.5', gateway: '198.18.16.1' }], [V6]],
    });
    assert.ok(changes.includes('bridge: legacy ipam.subnet "198.18.16.0/24" folded into ranges'), changes.join('\n'));
  });

  it('keeps extra plugins and top-level keys, puts the bridge first, and honours a configured name and dataDir', () => {
    const existing = JSON.parse(PUBLISHED_HOSTPORT) as Json;
    existing.disableCheck = true;
    existing.plugins.unshift({ type: 'tuning', sysctl: { 'net.core.somaxconn': '512' } });
    existing.plugins.push({ type: 'bandwidth', capabilities: { bandwidth: true } });
    const { list, changes } = take(JSON.stringify(existing), desired({ name: 'podnet', ipam: { dataDir: '/var/lib/krt' } }));
    assert.equal(list.disableCheck, true);
    assert.equal(list.name, 'podnet');
    assert.deepEqual(list.plugins.map((p: Json) => p.type), ['bridge', 'tuning', 'portmap', 'bandwidth']);
    assert.equal(list.plugins[0].ipam.dataDir, '/var/lib/krt');
    assert.ok(changes.includes('bridge entry moved first'));
    assert.ok(changes.includes('name "mynet" -> "podnet"'));
  });

  it('removes portmap when it is off, replaces a version the plugins cannot serve, and reads a single network config', () => {
    assert.deepEqual(take(PUBLISHED_HOSTPORT, desired({ portmap: undefined })).list.plugins.map((p: Json) => p.type), ['bridge']);
    const old = JSON.parse(PUBLISHED) as Json;
    old.cniVersion = '0.2.0';
    const r = take(JSON.stringify(old));
    assert.equal(r.list.cniVersion, '1.0.0');
    assert.ok(r.changes[0]!.startsWith('cniVersion "0.2.0" -> "1.0.0"'));
    const single = { cniVersion: '0.3.1', name: 'mynet', type: 'bridge', bridge: 'kube-bridge', isDefaultGateway: true, ipam: { type: 'host-local', subnet: '198.18.16.0/24' } };
    const s = take(JSON.stringify(single));
    assert.equal(s.list.name, 'mynet');
    assert.equal(s.list.cniVersion, '0.3.1');
    assert.deepEqual(s.list.plugins.map((p: Json) => p.type), ['bridge', 'portmap']);
    assert.deepEqual(s.list.plugins[0].ipam.ranges, [[V4], [V6]]);
    assert.equal(s.list.plugins[0].type, 'bridge');
  });

  it('writes its own list where there is no file, and replaces one that is not JSON with a warning', () => {
    const fresh = take(undefined);
    assert.equal(fresh.list.name, 'kubernetes');
    assert.deepEqual(fresh.changes, []);
    const bad = take('{"cniVersion": ');
    assert.match(bad.warning!, /not valid JSON/);
    assert.deepEqual(bad.list, fresh.list);
  });
});
