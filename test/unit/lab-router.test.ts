/** The lab's router-related pure parts: up options for the router plugin, and the parsers of gobgp, BIRD and FRR output. */
import assert from 'node:assert/strict';
import { labSpecFixture } from '../helpers/lab-spec.ts';
import { readFileSync } from 'node:fs';
import { renderAgentConfig } from '../lab/deploy.ts';
import { parseBirdRoutes, parseFrrRoutes, parseGobgpRib } from '../lab/bgp-inspect.ts';
import { nodeNames, parseLoadBalancerConfig, parseNodeAnnotations, parsePluginConfig, parseRouterConfig } from '../lab/config.ts';


describe('lab up options for the router plugin', () => {
  it('--router-config: a JSON object, merged over the lab defaults of plugins.router', () => {
    const routerConfig = parseRouterConfig('{"gracefulRestart":{"enabled":true},"clusterAsn":65000}');
    const example = readFileSync(new URL('../../deploy/config.yaml', import.meta.url), 'utf8');
    const c = renderAgentConfig(labSpecFixture('dual', 2, { routerConfig }), example) as { plugins: { router: Record<string, unknown> } };
    assert.deepEqual(c.plugins.router.gracefulRestart, { enabled: true });
    assert.equal(c.plugins.router.clusterAsn, 65000);
    assert.deepEqual(c.plugins.router.peerRouters, [{ address: '198.18.0.254', asn: 64513 }, { address: 'fd00:18::fe', asn: 64513 }], 'lab defaults stay');
    assert.equal(parseRouterConfig(undefined), undefined);
  });

  it('--router-config: not JSON, or not an object, is an error naming the option', () => {
    assert.throws(() => parseRouterConfig('{nope'), /--router-config: not JSON/);
    assert.throws(() => parseRouterConfig('[1]'), /--router-config: must be a JSON object/);
    assert.throws(() => parseRouterConfig('null'), /--router-config: must be a JSON object/);
  });

  it('the loadbalancer plugin: off unless asked; its ranges from the address plan (per enabled family), --loadbalancer-config merged over them', () => {
    const example = readFileSync(new URL('../../deploy/config.yaml', import.meta.url), 'utf8');
    const off = renderAgentConfig(labSpecFixture('dual', 2), example) as { plugins: Record<string, unknown> };
    assert.equal(off.plugins.loadbalancer, undefined);
    const plugins = { cni: true, router: true, serviceProxy: true, firewall: false, loadbalancer: true };
    for (const [family, ranges] of [['ipv4', ['198.18.100.0/24']], ['ipv6', ['fd00:100::/112']], ['dual', ['198.18.100.0/24', 'fd00:100::/112']]] as const) {
      const c = renderAgentConfig(labSpecFixture(family, 2, { plugins }), example) as { plugins: { loadbalancer: Record<string, unknown> } };
      assert.deepEqual(c.plugins.loadbalancer, { enabled: true, ipRanges: ranges });
    }
    const loadBalancerConfig = parseLoadBalancerConfig('{"defaultClass":false}');
    const c = renderAgentConfig(labSpecFixture('dual', 2, { plugins, loadBalancerConfig }), example) as { plugins: { loadbalancer: Record<string, unknown> } };
    assert.deepEqual(c.plugins.loadbalancer, { enabled: true, ipRanges: ['198.18.100.0/24', 'fd00:100::/112'], defaultClass: false });
    assert.throws(() => parseLoadBalancerConfig('[]'), /--loadbalancer-config: must be a JSON object of plugins.loadbalancer keys/);
  });

  it('--plugin-config: plugin sections merged over the lab defaults of the plugins that run', () => {
    const pluginConfig = parsePluginConfig('{"firewall":{"resyncSeconds":5},"service-proxy":{"resyncSeconds":7},"cni":{"mtu":1400}}');
    const example = readFileSync(new URL('../../deploy/config.yaml', import.meta.url), 'utf8');
    const spec = labSpecFixture('dual', 2, { pluginConfig });
    spec.plugins = { cni: false, router: true, serviceProxy: true, firewall: true };
    const c = renderAgentConfig(spec, example) as { plugins: Record<string, Record<string, unknown>> };
    assert.deepEqual(c.plugins.firewall, { enabled: true, resyncSeconds: 5 });
    assert.deepEqual(c.plugins['service-proxy'], { enabled: true, resyncSeconds: 7 });
    assert.equal(c.plugins.cni, undefined, 'a plugin that does not run gets no section');
    assert.equal(parsePluginConfig(undefined), undefined);
    assert.throws(() => parsePluginConfig('{nope'), /--plugin-config: not JSON/);
    assert.throws(() => parsePluginConfig('{"firewall":1}'), /--plugin-config: must be a JSON object of plugin sections/);
  });

  it('--node-annotation NODE:KEY=VALUE, repeatable, per node', () => {
    assert.deepEqual(parseNodeAnnotations(['node-1:kube-router.io/rr.server=42', 'node-2:kube-router.io/rr.client=42', 'node-2:a=b=c'], nodeNames(2)), {
      'node-1': { 'kube-router.io/rr.server': '42' },
      'node-2': { 'kube-router.io/rr.client': '42', a: 'b=c' },
    });
    assert.equal(parseNodeAnnotations([], nodeNames(2)), undefined);
    assert.throws(() => parseNodeAnnotations(['node-1=x'], nodeNames(2)), /expected NODE:KEY=VALUE/);
    assert.throws(() => parseNodeAnnotations(['node-9:k=v'], nodeNames(2)), /unknown node "node-9"/);
  });
});

describe('lab BGP output parsers', () => {
  it('gobgp global rib -j: next hop from NEXT_HOP or MP_REACH, best, neighbor; empty RIB', () => {
    const json = JSON.stringify({
      '198.19.1.0/24': [{ nlri: { prefix: '198.19.1.0/24' }, best: true, attrs: [{ type: 1, value: 0 }, { type: 3, nexthop: '198.18.0.12' }], stale: false, 'neighbor-ip': '198.18.0.12' }],
      'fd00:19::/64': [{ nlri: { prefix: 'fd00:19::/64' }, best: true, attrs: [{ type: 14, nexthop: 'fd00:18::b', afi: 2, safi: 1 }], stale: false }],
    });
    assert.deepEqual(parseGobgpRib(json), [
      { prefix: '198.19.1.0/24', nextHop: '198.18.0.12', best: true, neighbor: '198.18.0.12', stale: false },
      { prefix: 'fd00:19::/64', nextHop: 'fd00:18::b', best: true, neighbor: undefined, stale: false },
    ]);
    assert.deepEqual(parseGobgpRib('{}'), []);
    assert.deepEqual(parseGobgpRib('null'), []);
  });

  it('BIRD show route all: every route of a prefix, BGP next hop, static ones apart', () => {
    const text = [
      'BIRD 2.0.12 ready.',
      'Table master4:',
      '0.0.0.0/0            unreachable [originate4 05:28:38.330] * (200)',
      '\tType: static univ',
      '198.19.0.0/24        unicast [node_1_v4 05:28:40.006] * (100) [AS64512i]',
      '\tvia 198.18.0.11 on eth0',
      '\tType: BGP univ',
      '\tBGP.next_hop: 198.18.0.11',
      '                     unicast [node_2_v4 05:28:41.006] (100) [AS64512i]',
      '\tvia 198.18.0.12 on eth0',
      '\tType: BGP univ',
      '\tBGP.next_hop: 198.18.0.12',
      'fd00:19::/64         unicast [node_1_v6 05:28:40.234] * (100) [AS64512i]',
      '\tType: BGP univ',
      '\tBGP.next_hop: fd00:18::b fe80::1',
    ].join('\n');
    assert.deepEqual(parseBirdRoutes(text), [
      { prefix: '0.0.0.0/0', source: 'originate4', nextHop: '', fromBgp: false },
      { prefix: '198.19.0.0/24', source: 'node_1_v4', nextHop: '198.18.0.11', fromBgp: true },
      { prefix: '198.19.0.0/24', source: 'node_2_v4', nextHop: '198.18.0.12', fromBgp: true },
      { prefix: 'fd00:19::/64', source: 'node_1_v6', nextHop: 'fd00:18::b', fromBgp: true },
    ]);
  });

  it('FRR show bgp unicast json: peer and global next hop; locally originated routes apart', () => {
    const json = JSON.stringify({
      routes: {
        '0.0.0.0/0': [{ peerId: '(unspec)', nexthops: [{ ip: '0.0.0.0', afi: 'ipv4' }] }],
        'fd00:19::/64': [{ peerId: 'fd00:18::b', nexthops: [{ ip: 'fe80::1', scope: 'link-local' }, { ip: 'fd00:18::b', scope: 'global' }] }],
      },
    });
    assert.deepEqual(parseFrrRoutes(json), [
      { prefix: '0.0.0.0/0', source: '', nextHop: '', fromBgp: false },
      { prefix: 'fd00:19::/64', source: 'fd00:18::b', nextHop: 'fd00:18::b', fromBgp: true },
    ]);
  });
});
