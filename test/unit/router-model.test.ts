import assert from 'node:assert/strict';
import type { NodeNetwork, V1EndpointSlice, V1Service } from '@krouter/sdk';
import { parseCidr } from '@krouter/sdk';
import { readNodeBgpSettings } from '../../plugins/router/annotations.ts';
import { routerConfigSchema, type RouterConfig } from '../../plugins/router/config.ts';
import type { ClusterNode } from '../../plugins/router/model/cluster.ts';
import { desiredBgp } from '../../plugins/router/model/bgp.ts';
import { externalPeers, meshPeers, rrClusterId } from '../../plugins/router/model/peers.ts';
import { podCidrPaths, serviceVipPaths } from '../../plugins/router/model/paths.ts';
import { desiredKernelRoutes, diffRoutes } from '../../plugins/router/model/routes.ts';
import { desiredGlobal, generateRouterId } from '../../plugins/router/model/speaker.ts';

const config = (over: Partial<RouterConfig> = {}): RouterConfig => ({ ...routerConfigSchema.parse({ enabled: true }), ...over });

function node(i: number, opts: { v4?: boolean; v6?: boolean; annotations?: Record<string, string> } = {}): ClusterNode {
  const v4 = opts.v4 ?? true;
  const v6 = opts.v6 ?? true;
  const name = `node-${i}`;
  const net: NodeNetwork = {
    name,
    ips: { ipv4: v4 ? [`198.18.0.${10 + i}`] : [], ipv6: v6 ? [`fd00:18::${(10 + i).toString(16)}`] : [] },
    primaryIP: { ipv4: v4 ? `198.18.0.${10 + i}` : undefined, ipv6: v6 ? `fd00:18::${(10 + i).toString(16)}` : undefined },
    podCIDRs: { ipv4: v4 ? [`198.19.${i}.0/24`] : [], ipv6: v6 ? [`fd00:19:0:${i}::/64`] : [] },
    errors: [],
  };
  return { name, net, bgp: readNodeBgpSettings(name, opts.annotations) };
}

describe('router model', () => {
  describe('annotations', () => {
    it('reads the YAML peers annotation and decodes base64 passwords', () => {
      const s = readNodeBgpSettings('n1', {
        'kube-router.io/peers': '- remoteip: 198.18.0.254\n  remoteasn: 64513\n  password: c2VjcmV0\n- remoteip: fd00:18::fe\n  remoteasn: 64513\n',
      });
      assert.deepEqual(s.errors, []);
      assert.deepEqual(s.peers, [
        { address: '198.18.0.254', asn: 64513, password: 'secret' },
        { address: 'fd00:18::fe', asn: 64513 },
      ]);
    });

    it('reads the older single-key forms', () => {
      const s = readNodeBgpSettings('n1', {
        'kube-router.io/peer.ips': '198.18.0.254,fd00:18::fe',
        'kube-router.io/peer.asns': '64513,64514',
        'kube-router.io/peer.passwords': 'c2VjcmV0,',
      });
      assert.deepEqual(s.peers, [
        { address: '198.18.0.254', asn: 64513, password: 'secret' },
        { address: 'fd00:18::fe', asn: 64514 },
      ]);
    });

    it('names node and key for malformed annotations and keeps the good ones', () => {
      const s = readNodeBgpSettings('n1', {
        'kube-router.io/node.asn': '99999999999',
        'kube-router.io/peers': '- remoteip: 198.18.0.254\n  remoteasn: 0\n- remoteip: 198.18.0.253\n  remoteasn: 64513\n',
        'kube-router.io/node.bgp.communities': '65000:100,bogus',
      });
      assert.equal(s.asn, undefined);
      assert.deepEqual(s.peers, [{ address: '198.18.0.253', asn: 64513 }]);
      assert.deepEqual(s.communities, ['65000:100']);
      assert.equal(s.errors.length, 3);
      assert.ok(s.errors.every((e) => e.startsWith('node n1: annotation kube-router.io/')));
      assert.match(s.errors.join('\n'), /node\.asn: ASN "99999999999"/);
      assert.match(s.errors.join('\n'), /peers: entry 0 \(198\.18\.0\.254\): remoteasn 0/);
    });

    it('rejects peers YAML that is not a list', () => {
      const s = readNodeBgpSettings('n1', { 'kube-router.io/peers': 'remoteip: 1' });
      assert.equal(s.peers.length, 0);
      assert.match(s.errors[0]!, /must be a YAML list/);
    });
  });

  describe('speaker', () => {
    it('uses the node IPv4 address as router ID, or a stable generated one on IPv6-only nodes', () => {
      assert.equal(desiredGlobal(node(1), config(), ['ipv4', 'ipv6']).global!.routerId, '198.18.0.11');
      const v6only = desiredGlobal(node(1, { v4: false }), config(), ['ipv6']).global!;
      assert.equal(v6only.routerId, generateRouterId('node-1'));
      assert.notEqual(generateRouterId('node-1'), generateRouterId('node-2'));
      assert.match(desiredGlobal(node(1), config({ routerId: 'fd00::1' }), ['ipv4']).error!, /plugins\.router\.routerId/);
    });

    it('takes the ASN from the node annotation over the cluster ASN', () => {
      const n = node(1, { annotations: { 'kube-router.io/node.asn': '65001' } });
      assert.equal(desiredGlobal(n, config(), ['ipv4']).global!.asn, 65001);
      assert.equal(desiredGlobal(node(2), config(), ['ipv4']).global!.asn, 64512);
    });
  });

  describe('peers', () => {
    const nodes = [node(1), node(2), node(3)];

    it('builds a full mesh with one session per family over that family', () => {
      const peers = meshPeers(nodes[0]!, nodes, config(), ['ipv4', 'ipv6']);
      assert.deepEqual(
        peers.map((p) => [p.address, p.families]),
        [
          ['198.18.0.12', ['ipv4']],
          ['fd00:18::c', ['ipv6']],
          ['198.18.0.13', ['ipv4']],
          ['fd00:18::d', ['ipv6']],
        ],
      );
    });

    it('only peers in the families both nodes have', () => {
      const mixed = [node(1), node(2, { v4: false })];
      const peers = meshPeers(mixed[0]!, mixed, config(), ['ipv4', 'ipv6']);
      assert.deepEqual(peers.map((p) => p.address), ['fd00:18::c']);
    });

    it('can carry both families over one IPv6 session', () => {
      const peers = meshPeers(nodes[0]!, nodes, config({ sessionMode: 'single' }), ['ipv4', 'ipv6']);
      assert.deepEqual(peers.map((p) => [p.address, p.families, p.extendedNexthop]), [
        ['fd00:18::c', ['ipv4', 'ipv6'], true],
        ['fd00:18::d', ['ipv4', 'ipv6'], true],
      ]);
    });

    it('follows route-reflector annotations with full mesh off', () => {
      const rr = [
        node(1, { annotations: { 'kube-router.io/rr.server': '42' } }),
        node(2, { annotations: { 'kube-router.io/rr.client': '42' } }),
        node(3, { annotations: { 'kube-router.io/rr.client': '42' } }),
      ];
      const cfg = config({ nodesFullMesh: false });
      const server = meshPeers(rr[0]!, rr, cfg, ['ipv4']);
      assert.deepEqual(server.map((p) => [p.address, p.routeReflectorClient, p.routeReflectorClusterId]), [
        ['198.18.0.12', true, '0.0.0.42'],
        ['198.18.0.13', true, '0.0.0.42'],
      ]);
      const client = meshPeers(rr[1]!, rr, cfg, ['ipv4']);
      assert.deepEqual(client.map((p) => p.address), ['198.18.0.11']);
      assert.equal(rrClusterId('198.51.0.1'), '198.51.0.1');
    });

    it('ibgp: false (--enable-ibgp=false): no session with any node, reflectors neither; external peers stay', () => {
      assert.equal(meshPeers(nodes[0]!, nodes, config({ ibgp: false }), ['ipv4', 'ipv6']).length, 0);
      const rr = [node(1, { annotations: { 'kube-router.io/rr.server': '42' } }), node(2, { annotations: { 'kube-router.io/rr.client': '42' } })];
      assert.equal(meshPeers(rr[0]!, rr, config({ ibgp: false, nodesFullMesh: false }), ['ipv4']).length, 0);
      const ext = externalPeers(nodes[0]!, config({ ibgp: false, peerRouters: [{ address: '198.18.0.254', asn: 64513 }] }), ['ipv4']);
      assert.deepEqual(ext.peers.map((p) => p.address), ['198.18.0.254']);
    });

    it('does not mesh without full mesh or reflectors, nor across ASNs', () => {
      assert.equal(meshPeers(nodes[0]!, nodes, config({ nodesFullMesh: false }), ['ipv4']).length, 0);
      const other = [node(1), node(2, { annotations: { 'kube-router.io/node.asn': '65001' } })];
      assert.equal(meshPeers(other[0]!, other, config(), ['ipv4']).length, 0);
    });

    it('configures external peers and names the bad ones', () => {
      const local = node(1, { annotations: { 'kube-router.io/peer.ips': 'fd00:18::fe', 'kube-router.io/peer.asns': '64513' } });
      const cfg = config({
        peerRouters: [
          { address: '198.18.0.254', asn: 64513, password: Buffer.from('pw').toString('base64') },
          { address: 'not-an-ip', asn: 64513 },
        ],
        overrideNexthop: true,
      });
      const out = externalPeers(local, cfg, ['ipv4']);
      assert.deepEqual(out.peers.map((p) => [p.address, p.families, p.password, p.nextHopSelf]), [['198.18.0.254', ['ipv4'], 'pw', true]]);
      assert.equal(out.errors.length, 2);
      assert.match(out.errors[0]!, /plugins\.router\.peerRouters\[1\]: address "not-an-ip"/);
      assert.match(out.errors[1]!, /node node-1: annotation peers \(fd00:18::fe\): peer fd00:18::fe is ipv6, which is not enabled/);
    });

    it("names the node each error is about: another node's topology annotation is that node's, its peers annotation nobody's but its own", () => {
      const local = node(1, { annotations: { 'kube-router.io/node.bgp.communities': 'bogus' } });
      const other = node(2, { annotations: { 'kube-router.io/node.asn': 'x', 'kube-router.io/peers': 'not: [a list' } });
      const out = desiredBgp({ local, nodes: [local, other, node(3)], config: config(), families: ['ipv4', 'ipv6'], services: [], endpointSlices: [] });
      assert.ok(!('error' in out));
      assert.deepEqual(
        out.problems.map((p) => [p.node, p.message.replace(/: .*$/s, '')]),
        [
          ['node-1', 'node node-1'],
          ['node-2', 'node node-2'],
        ],
      );
      assert.match(out.problems[0]!.message, /node\.bgp\.communities: "bogus"/);
      assert.match(out.problems[1]!.message, /node\.asn: ASN "x"/);
      assert.deepEqual(out.errors, out.problems.map((p) => p.message));
    });

    it('takes passwords from the passwords file by position', () => {
      const cfg = config({ peerRouters: [{ address: '198.18.0.254', asn: 64513 }] });
      const out = externalPeers(node(1), cfg, ['ipv4'], ['from-file']);
      assert.equal(out.peers[0]!.password, 'from-file');
    });
  });

  describe('paths', () => {
    it('advertises each pod CIDR with a next hop of its own family', () => {
      const { paths, errors } = podCidrPaths(node(1), ['ipv4', 'ipv6']);
      assert.deepEqual(errors, []);
      assert.deepEqual(paths, [
        { prefix: '198.19.1.0/24', nextHop: '198.18.0.11' },
        { prefix: 'fd00:19:0:1::/64', nextHop: 'fd00:18::b' },
      ]);
    });

    it('refuses a pod CIDR whose family the node has no address in', () => {
      const n = node(1, { v6: false });
      n.net.podCIDRs.ipv6 = ['fd00:19:0:1::/64'];
      const { paths, errors } = podCidrPaths(n, ['ipv4', 'ipv6']);
      assert.equal(paths.length, 1);
      assert.match(errors[0]!, /node node-1: pod CIDR fd00:19:0:1::\/64 is ipv6 but the node has no ipv6 address/);
    });

    it('adds prepend and communities from annotations', () => {
      const n = node(1, {
        annotations: {
          'kube-router.io/path-prepend.as': '65000',
          'kube-router.io/path-prepend.repeat-n': '2',
          'kube-router.io/node.bgp.communities': '65000:1',
        },
      });
      assert.deepEqual(podCidrPaths(n, ['ipv4']).paths[0], {
        prefix: '198.19.1.0/24',
        nextHop: '198.18.0.11',
        communities: ['65000:1'],
        asPath: [65000, 65000],
      });
    });

    const svc = (over: Partial<V1Service['spec']> & { annotations?: Record<string, string> } = {}): V1Service => ({
      metadata: { name: 'web', namespace: 'demo', annotations: over.annotations },
      spec: { clusterIPs: ['198.18.240.10', 'fd00:20::a'], externalIPs: ['198.18.250.1'], ...over },
    });
    const slice = (nodeName: string, ready: boolean): V1EndpointSlice => ({
      addressType: 'IPv4',
      metadata: { name: 'web-x', namespace: 'demo', labels: { 'kubernetes.io/service-name': 'web' } },
      endpoints: [{ addresses: ['198.19.1.5'], nodeName, conditions: { ready } }],
    });

    it('advertises service VIPs per family when switched on', () => {
      const none = serviceVipPaths(node(1), [svc()], [], config(), ['ipv4', 'ipv6']);
      assert.equal(none.paths.length, 0);
      const on = serviceVipPaths(node(1), [svc()], [], config({ advertiseClusterIP: true, advertiseExternalIP: true }), ['ipv4', 'ipv6']);
      assert.deepEqual(on.paths.map((p) => [p.prefix, p.nextHop]), [
        ['198.18.240.10/32', '198.18.0.11'],
        ['fd00:20::a/128', 'fd00:18::b'],
        ['198.18.250.1/32', '198.18.0.11'],
      ]);
      const v6only = serviceVipPaths(node(1), [svc()], [], config({ advertiseClusterIP: true }), ['ipv6']);
      assert.deepEqual(v6only.paths.map((p) => p.prefix), ['fd00:20::a/128']);
    });

    it('lets the service annotation override the global switch', () => {
      const s = svc({ annotations: { 'kube-router.io/service.advertise.clusterip': 'true' } });
      assert.equal(serviceVipPaths(node(1), [s], [], config(), ['ipv4']).paths.length, 1);
      const off = svc({ annotations: { 'kube-router.io/service.advertise.clusterip': 'false' } });
      assert.equal(serviceVipPaths(node(1), [off], [], config({ advertiseClusterIP: true }), ['ipv4']).paths.length, 0);
    });

    it('advertises LoadBalancer ingress IPs of each family only for type LoadBalancer, not ipMode Proxy, not with skiplbips', () => {
      const lb = (over: Partial<V1Service['spec']> & { annotations?: Record<string, string> } = {}, ingress = [{ ip: '198.18.100.1' }, { ip: 'fd00:100::1' }]): V1Service => ({
        ...svc({ type: 'LoadBalancer', clusterIP: '198.18.240.10', externalIPs: [], ...over }),
        status: { loadBalancer: { ingress } },
      });
      const cfg = config({ advertiseLoadBalancerIP: true });
      assert.deepEqual(serviceVipPaths(node(1), [lb()], [], cfg, ['ipv4', 'ipv6']).paths.map((p) => [p.prefix, p.nextHop]), [
        ['198.18.100.1/32', '198.18.0.11'],
        ['fd00:100::1/128', 'fd00:18::b'],
      ]);
      assert.deepEqual(serviceVipPaths(node(1), [lb()], [], config(), ['ipv4', 'ipv6']).paths, [], 'switched off');
      // A status left behind by a type change is stale: nothing reaches the nodes for it.
      assert.deepEqual(serviceVipPaths(node(1), [lb({ type: 'ClusterIP' })], [], cfg, ['ipv4', 'ipv6']).paths, []);
      const proxied = lb({}, [{ ip: '198.18.100.1', ipMode: 'Proxy' } as never, { ip: 'fd00:100::1' }]);
      assert.deepEqual(serviceVipPaths(node(1), [proxied], [], cfg, ['ipv4', 'ipv6']).paths.map((p) => p.prefix), ['fd00:100::1/128']);
      assert.deepEqual(serviceVipPaths(node(1), [lb({ annotations: { 'kube-router.io/service.skiplbips': 'true' } })], [], cfg, ['ipv4', 'ipv6']).paths, []);
      assert.equal(serviceVipPaths(node(1), [lb({ annotations: { 'kube-router.io/service.skiplbips': 'false' } })], [], cfg, ['ipv4', 'ipv6']).paths.length, 2);
    });

    it('withdraws externalTrafficPolicy Local VIPs without a local ready endpoint', () => {
      const s = svc({ externalTrafficPolicy: 'Local' });
      const cfg = config({ advertiseClusterIP: true });
      assert.equal(serviceVipPaths(node(1), [s], [slice('node-2', true)], cfg, ['ipv4']).paths.length, 0);
      assert.equal(serviceVipPaths(node(1), [s], [slice('node-1', false)], cfg, ['ipv4']).paths.length, 0);
      assert.equal(serviceVipPaths(node(1), [s], [slice('node-1', true)], cfg, ['ipv4']).paths.length, 1);
    });
  });

  describe('kernel routes', () => {
    const ctx = {
      families: ['ipv4', 'ipv6'] as const,
      ownPrefixes: ['198.19.1.0/24', 'fd00:19:0:1::/64'],
      localAddresses: ['198.18.0.11', 'fd00:18::b'],
      connected: ['198.18.0.0/24', 'fd00:18::/64'].map((c) => parseCidr(c)),
      excluded: ['198.18.240.0/20', 'fd00:20::/108'],
    };
    const learned = (prefix: string, nextHop: string, family: 'ipv4' | 'ipv6' = prefix.includes(':') ? 'ipv6' : 'ipv4') => ({
      family,
      prefix,
      nextHop,
      source: nextHop,
      asPath: [],
      communities: [],
      best: true,
    });

    it('installs other nodes’ pod CIDRs per family via their next hop', () => {
      const { routes, skipped } = desiredKernelRoutes(
        [learned('198.19.2.0/24', '198.18.0.12'), learned('fd00:19:0:2::/64', 'fd00:18::c')],
        { ...ctx, families: [...ctx.families] },
      );
      assert.deepEqual(routes, [
        { dst: '198.19.2.0/24', via: '198.18.0.12' },
        { dst: 'fd00:19:0:2::/64', via: 'fd00:18::c' },
      ]);
      assert.equal(skipped.length, 0);
    });

    it('never installs a default route, a service range, our own prefix or an unreachable next hop', () => {
      const { routes, skipped } = desiredKernelRoutes(
        [
          learned('0.0.0.0/0', '198.18.0.254'),
          learned('::/0', 'fd00:18::fe'),
          learned('198.18.240.5/32', '198.18.0.12'),
          learned('fd00:20::5/128', 'fd00:18::c'),
          learned('198.19.1.0/24', '198.18.0.12'),
          learned('198.18.201.0/24', '203.0.113.1'),
          learned('198.18.202.0/24', '198.18.0.11'),
        ],
        { ...ctx, families: [...ctx.families] },
      );
      assert.deepEqual(routes, []);
      assert.deepEqual(skipped.map((s) => s.reason), [
        'default route',
        'default route',
        'excluded range',
        'excluded range',
        'own prefix',
        'next hop not directly reachable',
        'own next hop',
      ]);
    });

    it('diffs desired against the kernel', () => {
      const diff = diffRoutes(
        [
          { dst: '198.19.2.0/24', via: '198.18.0.12' },
          { dst: '198.19.3.0/24', via: '198.18.0.13' },
        ],
        [
          { dst: '198.19.2.0/24', via: '198.18.0.99' },
          { dst: '198.19.4.0/24', via: '198.18.0.14' },
        ],
      );
      assert.deepEqual(diff.replace.map((r) => r.dst), ['198.19.2.0/24', '198.19.3.0/24']);
      assert.deepEqual(diff.remove.map((r) => r.dst), ['198.19.4.0/24']);
    });
  });
});

describe('router export policy', () => {
  it('gives external peers exactly the node’s own prefixes of both families, nothing learned', async () => {
    const { exportPolicy } = await import('../../plugins/router/model/policies.ts');
    assert.equal(exportPolicy([], ['198.19.1.0/24']), undefined);
    assert.deepEqual(exportPolicy(['198.18.0.254', 'fd00:18::fe'], ['198.19.1.0/24', 'fd00:19:0:1::/64']), {
      name: 'krouter-export',
      statements: [
        {
          neighbors: ['198.18.0.254', 'fd00:18::fe'],
          prefixes: [
            { prefix: '198.19.1.0/24', maskLengthMin: 24, maskLengthMax: 24 },
            { prefix: 'fd00:19:0:1::/64', maskLengthMin: 64, maskLengthMax: 64 },
          ],
          action: 'accept',
        },
        { neighbors: ['198.18.0.254', 'fd00:18::fe'], action: 'reject' },
      ],
    });
  });
});

describe('router status', () => {
  it('shows each session under every family it carries, with uptime and counts, and routes per family', async () => {
    const { routerStatus } = await import('../../plugins/router/status.ts');
    const status = routerStatus({
      asn: 64512,
      routerId: '198.18.0.11',
      families: ['ipv4', 'ipv6'],
      familyOf: (p) => (p.includes(':') ? 'ipv6' : 'ipv4'),
      peers: [
        { address: '198.18.0.12', asn: 64512, state: 'established', uptime: 1000, families: { ipv4: { received: 2, accepted: 1, advertised: 1 } } },
        { address: 'fd00:18::c', asn: 64512, state: 'active', families: { ipv4: { received: 0, accepted: 0, advertised: 0 }, ipv6: { received: 0, accepted: 0, advertised: 0 } } },
      ],
      paths: [
        { prefix: '198.19.1.0/24', nextHop: '198.18.0.11' },
        { prefix: 'fd00:19:0:1::/64', nextHop: 'fd00:18::b' },
      ],
      installed: { ipv4: [{ dst: '198.19.3.0/24', via: '198.18.0.13' }, { dst: '198.19.2.0/24', via: '198.18.0.12' }], ipv6: [] },
      errors: [],
      nowSeconds: 1000 + 3723,
    });
    assert.deepEqual(status.families.ipv4!.peers, [
      { peer: '198.18.0.12', asn: 64512, state: 'established', uptimeSeconds: 3723, received: 2, accepted: 1, advertised: 1 },
      { peer: 'fd00:18::c', asn: 64512, state: 'active', uptimeSeconds: null, received: 0, accepted: 0, advertised: 0 },
    ]);
    assert.deepEqual(status.families.ipv6!.peers.map((p) => p.peer), ['fd00:18::c']);
    assert.deepEqual(status.families.ipv4!.advertised, [{ prefix: '198.19.1.0/24', nextHop: '198.18.0.11' }]);
    assert.deepEqual(status.families.ipv6!.advertised, [{ prefix: 'fd00:19:0:1::/64', nextHop: 'fd00:18::b' }]);
    assert.equal(status.families.ipv4!.routesInstalled, 2);
    assert.deepEqual(status.families.ipv4!.routes, [
      { destination: '198.19.2.0/24', via: '198.18.0.12' },
      { destination: '198.19.3.0/24', via: '198.18.0.13' },
    ]);
    assert.deepEqual(status.families.ipv6!.routes, []);
    assert.deepEqual([status.asn, status.routerId], [64512, '198.18.0.11']);
  });
});

describe('router on an IPv6-only underlay (one session, extended next hop)', () => {
  const v6underlay = (i: number): ClusterNode => {
    const n = node(i, { v4: false });
    n.net.podCIDRs.ipv4 = [`198.19.${i}.0/24`];
    return n;
  };
  const cfg = config({ sessionMode: 'single' });

  it('carries both families over the IPv6 session and advertises the IPv4 pod CIDR via the IPv6 address', () => {
    const nodes = [v6underlay(1), v6underlay(2)];
    assert.deepEqual(meshPeers(nodes[0]!, nodes, cfg, ['ipv4', 'ipv6']).map((p) => [p.address, p.families, p.extendedNexthop]), [
      ['fd00:18::c', ['ipv4', 'ipv6'], true],
    ]);
    assert.deepEqual(podCidrPaths(nodes[0]!, ['ipv4', 'ipv6'], { extendedNexthop: true }).paths, [
      { prefix: '198.19.1.0/24', nextHop: 'fd00:18::b', extendedNexthop: true },
      { prefix: 'fd00:19:0:1::/64', nextHop: 'fd00:18::b' },
    ]);
    // Without the single session it stays an error naming the node.
    assert.match(podCidrPaths(nodes[0]!, ['ipv4', 'ipv6']).errors[0]!, /node node-1: pod CIDR 198\.19\.1\.0\/24 is ipv4 but the node has no ipv4 address/);
  });

  it('installs an IPv4 route via an IPv6 next hop as an extended next hop route', () => {
    const { routes } = desiredKernelRoutes(
      [{ family: 'ipv4', prefix: '198.19.2.0/24', nextHop: 'fd00:18::c', source: 'fd00:18::c', asPath: [], communities: [], best: true }],
      { families: ['ipv4', 'ipv6'], ownPrefixes: [], localAddresses: ['fd00:18::b'], connected: [parseCidr('fd00:18::/64')], excluded: [] },
    );
    assert.deepEqual(routes, [{ dst: '198.19.2.0/24', via: 'fd00:18::c', extendedNexthop: true }]);
  });
});
