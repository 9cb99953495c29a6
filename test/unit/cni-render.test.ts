import assert from 'node:assert/strict';
import { readNodeNetwork, type Family } from '@krouter/sdk';
import { makeNode } from '@krouter/sdk/testing';
import { configSchema } from '../../plugins/cni/config.ts';
import { buildModel } from '../../plugins/cni/model.ts';
import { mergeConflist, renderBridgeOps, renderConflist, renderNftBody, renderSysctls } from '../../plugins/cni/render.ts';

const config = (over: Record<string, unknown> = {}) => configSchema.parse({ ipamDataDir: '/var/lib/krt/n1', ...over });

function model(families: Family[], extra: Record<Family, string[]> = { ipv4: [], ipv6: [] }) {
  const nodes = [
    makeNode('n1', { internalIPs: ['198.18.0.1', 'fd00::1'], podCIDRs: ['198.18.16.0/24', 'fd00:16::/64'] }),
    makeNode('n2', { internalIPs: ['198.18.0.2', 'fd00::2'], podCIDRs: ['198.18.17.0/24', 'fd00:17::/64'] }),
  ].map((n) => readNodeNetwork(n, families));
  return buildModel({ families, nodeName: 'n1', nodes, clusterCIDRs: extra, lastGood: { nodes: new Map() } });
}

describe('cni config schema', () => {
  it('fills defaults and names bad keys', () => {
    const c = configSchema.parse({});
    assert.equal(c.confPath, '/etc/cni/net.d/10-kuberouter.conflist');
    assert.equal(c.bridge, 'kube-bridge');
    assert.equal(c.mtu, 'auto');
    assert.equal(c.masquerade, true);
    const bad = configSchema.safeParse({ clusterCIDRs: ['198.18.0.1/16'], mtu: 'big', surprise: 1 });
    assert.equal(bad.success, false);
    const paths = bad.error!.issues.map((i) => i.path.join('.') || i.message);
    assert.ok(paths.includes('clusterCIDRs.0'), paths.join());
    assert.ok(paths.includes('mtu'), paths.join());
    assert.ok(paths.some((p) => p.includes('surprise')), paths.join());
  });
});

describe('cni conflist rendering', () => {
  it('renders one host-local range set per family (dual)', () => {
    const conf = renderConflist(model(['ipv4', 'ipv6']), config(), 1450);
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
  });

  it('renders only the enabled family (ipv4, ipv6)', () => {
    for (const f of ['ipv4', 'ipv6'] as const) {
      const conf = renderConflist(model([f]), config({ portmap: false, ipamDataDir: undefined }), 1500);
      const plugins = conf.plugins as Array<Record<string, any>>;
      assert.equal(plugins.length, 1);
      const ranges = plugins[0]!.ipam.ranges;
      assert.deepEqual(ranges, [[f === 'ipv4' ? { subnet: '198.18.16.0/24', gateway: '198.18.16.1' } : { subnet: 'fd00:16::/64', gateway: 'fd00:16::1' }]]);
      assert.equal(plugins[0]!.ipam.dataDir, undefined);
    }
  });

  it('keeps operator keys and extra plugins, replaces ours', () => {
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
    const { text, warning } = mergeConflist(existing, ours);
    assert.equal(warning, undefined);
    const merged = JSON.parse(text);
    assert.equal(merged.cniVersion, '1.0.0');
    assert.equal(merged.name, 'kubernetes');
    assert.equal(merged.disableCheck, true);
    assert.deepEqual(merged.plugins.map((p: { type: string }) => p.type), ['bridge', 'portmap', 'bandwidth']);
    assert.equal(merged.plugins[0].bridge, 'kube-bridge');
    assert.equal(merged.plugins[0].extra, undefined);
    // Merging again gives the same text: nothing to rewrite.
    assert.equal(mergeConflist(text, ours).text, text);
    assert.match(mergeConflist('{not json', ours).warning!, /not valid JSON/);
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
    const ops = renderBridgeOps(m, 'kube-bridge', 1500, { name: 'kube-bridge', index: 3, kind: 'bridge', mtu: 1500, up: true }, [
      { dev: 'kube-bridge', family: 'ipv4', cidr: '198.18.9.1/24', scope: 'global' },
      { dev: 'kube-bridge', family: 'ipv6', cidr: 'fe80::1/64', scope: 'link' },
      { dev: 'kube-bridge', family: 'ipv6', cidr: 'fd00:16::1/64', scope: 'global' },
    ]);
    assert.deepEqual(ops, [
      { op: 'addr.delete', dev: 'kube-bridge', cidr: '198.18.9.1/24' },
      { op: 'addr.replace', dev: 'kube-bridge', cidr: '198.18.16.1/24', noDad: true },
    ]);
    const fresh = renderBridgeOps(m, 'kube-bridge', 1400, { name: 'kube-bridge', index: 3, kind: 'bridge', mtu: 1500, up: false }, []);
    assert.deepEqual(fresh[0], { op: 'link.set', name: 'kube-bridge', up: true, mtu: 1400 });
  });

  it('turns on forwarding only for enabled families', () => {
    assert.deepEqual(renderSysctls(['ipv6']).map((s) => s.key), ['net.ipv6.conf.all.forwarding', 'net.bridge.bridge-nf-call-ip6tables']);
    assert.equal(renderSysctls(['ipv4']).find((s) => s.key.startsWith('net.bridge'))!.ifPresent, true);
  });
});
