import assert from 'node:assert/strict';
import { isLocallyAdministeredMac, isUnicastMac, readNodeNetwork, type Family, type Link } from '@krouter/sdk';
import { makeNode } from '@krouter/sdk/testing';
import { configSchema } from '../../plugins/cni/config.ts';
import { bridgeMacFor, buildModel } from '../../plugins/cni/model.ts';
import {
  bridgeMacDrift,
  renderBridgeCreate,
  renderBridgeOps,
  renderBridgeSysctls,
  renderConflist,
  renderNftBody,
  renderSysctls,
} from '../../plugins/cni/render.ts';
import { takeOverConflist } from '../../plugins/cni/conflist.ts';

const config = (over: Record<string, unknown> = {}) => configSchema.parse({ ipamDataDir: '/var/lib/krt/n1', ...over });

function model(families: Family[], extra: Record<Family, string[]> = { ipv4: [], ipv6: [] }, opts: { nodeName?: string; bridgeMac?: string } = {}) {
  const nodes = [
    makeNode('n1', { internalIPs: ['198.18.0.1', 'fd00::1'], podCIDRs: ['198.18.16.0/24', 'fd00:16::/64'] }),
    makeNode('n2', { internalIPs: ['198.18.0.2', 'fd00::2'], podCIDRs: ['198.18.17.0/24', 'fd00:17::/64'] }),
  ].map((n) => readNodeNetwork(n, families));
  return buildModel({ families, nodeName: opts.nodeName ?? 'n1', nodes, clusterCIDRs: extra, lastGood: { nodes: new Map() }, bridgeMac: opts.bridgeMac });
}

/** The bridge as the kernel reports it, carrying the model's MAC unless told otherwise. */
const bridgeLink = (over: Partial<Link> = {}): Link => ({ name: 'kube-bridge', index: 3, kind: 'bridge', mtu: 1500, up: true, mac: bridgeMacFor('n1'), ...over });

describe('cni config schema', () => {
  it('fills defaults and names bad keys', () => {
    const c = configSchema.parse({});
    assert.equal(c.confPath, '/etc/cni/net.d/10-kuberouter.conflist');
    assert.equal(c.bridge, 'kube-bridge');
    assert.equal(c.mtu, 'auto');
    assert.equal(c.masquerade, true);
    assert.equal(c.bridgeMac, undefined, 'derived from the node name unless set');
    assert.equal(configSchema.parse({ bridgeMac: '02:AB:00:00:00:01' }).bridgeMac, '02:ab:00:00:00:01');
    for (const bridgeMac of ['02:ab:00:00:00', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00']) {
      const r = configSchema.safeParse({ bridgeMac });
      assert.equal(r.success, false, bridgeMac);
      assert.deepEqual(r.error!.issues.map((i) => i.path.join('.')), ['bridgeMac']);
      assert.match(r.error!.issues[0]!.message, /must be a unicast MAC/);
    }
    const bad = configSchema.safeParse({ clusterCIDRs: ['198.18.0.1/16'], mtu: 'big', surprise: 1 });
    assert.equal(bad.success, false);
    const paths = bad.error!.issues.map((i) => i.path.join('.') || i.message);
    assert.ok(paths.includes('clusterCIDRs.0'), paths.join());
    assert.ok(paths.includes('mtu'), paths.join());
    assert.ok(paths.some((p) => p.includes('surprise')), paths.join());
  });
});

describe('cni conflist rendering', () => {
  /** The list krouter writes where there is no file yet. */
  const fresh = (...args: Parameters<typeof renderConflist>) => JSON.parse(takeOverConflist(undefined, renderConflist(...args)).text);

  it('renders one host-local range set per family (dual)', () => {
    const conf = fresh(model(['ipv4', 'ipv6']), config(), 1450);
    assert.deepEqual(conf, {
      cniVersion: '1.0.0',
      name: 'kubernetes',
      plugins: [
        {
          type: 'bridge',
          bridge: 'kube-bridge',
          isGateway: true,
          isDefaultGateway: true,
          hairpinMode: true,
          mtu: 1450,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: '198.18.16.0/24', gateway: '198.18.16.1' }], [{ subnet: 'fd00:16::/64', gateway: 'fd00:16::1' }]],
            dataDir: '/var/lib/krt/n1',
          },
        },
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      ],
    });
    assert.equal(fresh(model(['ipv4']), config({ networkName: 'podnet' }), 1450).name, 'podnet');
  });

  it('renders only the enabled family (ipv4, ipv6)', () => {
    for (const f of ['ipv4', 'ipv6'] as const) {
      const conf = fresh(model([f]), config({ portmap: false, ipamDataDir: undefined }), 1500);
      const plugins = conf.plugins as Array<Record<string, any>>;
      assert.equal(plugins.length, 1);
      const ranges = plugins[0]!.ipam.ranges;
      assert.deepEqual(ranges, [[f === 'ipv4' ? { subnet: '198.18.16.0/24', gateway: '198.18.16.1' } : { subnet: 'fd00:16::/64', gateway: 'fd00:16::1' }]]);
      assert.equal(plugins[0]!.ipam.dataDir, undefined);
    }
  });

  it('keeps operator keys and extra plugins, sets ours', () => {
    const existing = JSON.stringify({
      cniVersion: '0.3.1',
      name: 'old',
      disableCheck: true,
      plugins: [
        { type: 'bridge', bridge: 'old-bridge', extra: 1 },
        { type: 'portmap' },
        { type: 'bandwidth', capabilities: { bandwidth: true } },
      ],
    });
    const ours = renderConflist(model(['ipv4']), config(), 1500);
    const { text, warning, changes } = takeOverConflist(existing, ours);
    assert.equal(warning, undefined);
    const merged = JSON.parse(text);
    assert.equal(merged.cniVersion, '0.3.1', 'a version the plugins support stays');
    assert.equal(merged.name, 'old', 'the network keeps its name (host-local leases live under it)');
    assert.equal(merged.disableCheck, true);
    assert.deepEqual(merged.plugins.map((p: { type: string }) => p.type), ['bridge', 'portmap', 'bandwidth']);
    assert.equal(merged.plugins[0].bridge, 'kube-bridge');
    assert.equal(merged.plugins[0].extra, 1, 'operator keys of the bridge entry stay');
    assert.deepEqual(merged.plugins[1], { type: 'portmap', capabilities: { portMappings: true }, snat: true });
    assert.ok(changes.includes('bridge: bridge "old-bridge" -> "kube-bridge"'), changes.join('\n'));
    // Taking over again gives the same text: nothing to rewrite, nothing changed.
    assert.deepEqual(takeOverConflist(text, ours), { text, changes: [], warning: undefined });
    assert.match(takeOverConflist('{not json', ours).warning!, /not valid JSON/);
    // A configured name wins over the file's.
    assert.equal(JSON.parse(takeOverConflist(existing, renderConflist(model(['ipv4']), config({ networkName: 'podnet' }), 1500)).text).name, 'podnet');
  });
});

describe('cni masquerade rules', () => {
  it('masquerades per family from the local pod CIDR to outside all cluster ranges', () => {
    const body = renderNftBody(model(['ipv4', 'ipv6'], { ipv4: ['198.19.0.0/16'], ipv6: [] }), config());
    assert.match(body, /set cluster-ipv4 \{\n    type ipv4_addr\n    flags interval\n    auto-merge\n    elements = \{ 198\.18\.16\.0\/24, 198\.18\.17\.0\/24, 198\.19\.0\.0\/16 \}/);
    assert.match(body, /set cluster-ipv6 \{\n    type ipv6_addr[^}]*elements = \{ fd00:16::\/64, fd00:17::\/64 \}/);
    assert.match(body, /oifname != "kube-bridge" ip saddr 198\.18\.16\.0\/24 ip daddr != @cluster-ipv4 masquerade/);
    assert.match(body, /oifname != "kube-bridge" ip6 saddr fd00:16::\/64 ip6 daddr != @cluster-ipv6 masquerade/);
    assert.match(body, /type nat hook postrouting priority srcnat/);
  });

  it('has no rule or set for a disabled family', () => {
    const body = renderNftBody(model(['ipv6']), config());
    assert.doesNotMatch(body, /ipv4|ip saddr/);
    assert.match(body, /ip6 saddr fd00:16::\/64/);
  });
});

describe('cni bridge and sysctls', () => {
  it('puts the first host of each pod CIDR on the bridge and removes stale global addresses', () => {
    const m = model(['ipv4', 'ipv6']);
    const ops = renderBridgeOps(m, 'kube-bridge', 1500, bridgeLink(), [
      { dev: 'kube-bridge', family: 'ipv4', cidr: '198.18.9.1/24', scope: 'global' },
      { dev: 'kube-bridge', family: 'ipv6', cidr: 'fe80::1/64', scope: 'link' },
      { dev: 'kube-bridge', family: 'ipv6', cidr: 'fd00:16::1/64', scope: 'global' },
    ]);
    assert.deepEqual(ops, [
      { op: 'addr.delete', dev: 'kube-bridge', cidr: '198.18.9.1/24' },
      { op: 'addr.replace', dev: 'kube-bridge', cidr: '198.18.16.1/24', noDad: true },
    ]);
    const fresh = renderBridgeOps(m, 'kube-bridge', 1400, bridgeLink({ up: false }), []);
    assert.deepEqual(fresh[0], { op: 'link.set', name: 'kube-bridge', up: true, mtu: 1400 });
  });

  it('turns on forwarding only for enabled families', () => {
    assert.deepEqual(renderSysctls(['ipv6']).map((s) => s.key), ['net.ipv6.conf.all.forwarding', 'net.bridge.bridge-nf-call-ip6tables']);
    assert.equal(renderSysctls(['ipv4']).find((s) => s.key.startsWith('net.bridge'))!.ifPresent, true);
    assert.deepEqual(renderSysctls(['ipv4', 'ipv6']).map((s) => s.key), [
      'net.ipv4.ip_forward',
      'net.bridge.bridge-nf-call-iptables',
      'net.ipv6.conf.all.forwarding',
      'net.bridge.bridge-nf-call-ip6tables',
    ]);
  });

  it('makes the bridge announce its gateways on a MAC change, per enabled family', () => {
    const line = (families: Family[]) => renderBridgeSysctls(families, 'kube-bridge').map((s) => `${s.key}=${s.value}`);
    assert.deepEqual(line(['ipv4']), ['net.ipv4.conf.kube-bridge.arp_notify=1']);
    assert.deepEqual(line(['ipv6']), [
      'net.ipv6.conf.kube-bridge.disable_ipv6=0',
      'net.ipv6.conf.kube-bridge.accept_dad=0',
      'net.ipv6.conf.kube-bridge.ndisc_notify=1',
    ]);
    assert.deepEqual(line(['ipv4', 'ipv6']), [...line(['ipv4']), ...line(['ipv6'])]);
  });
});

describe('cni bridge MAC', () => {
  const names = Array.from({ length: 2000 }, (_, i) => `node-${i}`).concat(['n1', 'n2', 'worker.example.com', 'a', 'b']);

  it('is the same for the same node, every time', () => {
    for (const name of names.slice(0, 50)) assert.equal(bridgeMacFor(name), bridgeMacFor(name));
    assert.equal(model(['ipv4']).bridgeMac, model(['ipv4', 'ipv6']).bridgeMac, 'whatever the families or pod CIDRs');
    assert.equal(model(['ipv6']).bridgeMac, bridgeMacFor('n1'));
  });

  it('differs between nodes', () => {
    const macs = new Set(names.map(bridgeMacFor));
    assert.equal(macs.size, names.length);
    assert.notEqual(model(['ipv4'], undefined, { nodeName: 'n2' }).bridgeMac, model(['ipv4']).bridgeMac);
  });

  it('is locally administered unicast (first octet: bit 1 set, bit 0 clear)', () => {
    for (const name of names) {
      const mac = bridgeMacFor(name);
      assert.match(mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      const first = parseInt(mac.slice(0, 2), 16);
      assert.equal(first & 0b11, 0b10, `${name}: ${mac}`);
      assert.ok(isUnicastMac(mac) && isLocallyAdministeredMac(mac));
    }
  });

  it('takes the configured MAC instead when one is given', () => {
    assert.equal(model(['ipv4'], undefined, { bridgeMac: '02:00:00:00:00:07' }).bridgeMac, '02:00:00:00:00:07');
  });

  it('creates the bridge with it and sets it on a bridge that carries another one', () => {
    const m = model(['ipv4', 'ipv6']);
    assert.deepEqual(renderBridgeCreate(m, 'kube-bridge', 1450), { op: 'link.bridge', name: 'kube-bridge', mtu: 1450, mac: bridgeMacFor('n1') });
    const gateways = [
      { dev: 'kube-bridge', family: 'ipv4' as const, cidr: '198.18.16.1/24', scope: 'global' },
      { dev: 'kube-bridge', family: 'ipv6' as const, cidr: 'fd00:16::1/64', scope: 'global' },
    ];
    assert.deepEqual(renderBridgeOps(m, 'kube-bridge', 1500, bridgeLink(), gateways), [], 'its own MAC: nothing to do');
    assert.deepEqual(renderBridgeOps(m, 'kube-bridge', 1500, bridgeLink({ mac: bridgeMacFor('n1').toUpperCase() }), gateways), [], 'case does not matter');
    // An adopted bridge carrying a port's MAC (or one someone changed): set ours, nothing else changes.
    const portMac = '9a:6b:00:00:00:01';
    assert.deepEqual(renderBridgeOps(m, 'kube-bridge', 1500, bridgeLink({ mac: portMac }), gateways), [
      { op: 'link.set', name: 'kube-bridge', up: true, mtu: 1500, mac: bridgeMacFor('n1') },
    ]);
    assert.deepEqual(bridgeMacDrift(m, bridgeLink({ mac: portMac })), { from: portMac, to: bridgeMacFor('n1') });
    assert.equal(bridgeMacDrift(m, bridgeLink()), undefined);
  });
});

describe('cni bridge gateways', () => {
});
