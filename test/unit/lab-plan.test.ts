/** The lab's pure parts: address plan, names, topology plan, router and agent configs. */
import assert from 'node:assert/strict';
import { labSpecFixture } from '../helpers/lab-spec.ts';
import { renderNodeConfig } from '../lab/agents.ts';
import {
  apiServerUrls,
  clusterCidrs,
  families,
  nodeNames,
  nodeUnderlay,
  podNetnsName,
  rootVethName,
  routerUnderlay,
  type LabFamily,
  type LabSpec,
} from '../lab/config.ts';
import { renderBirdConfig } from '../lab/router/bird.ts';
import { renderFrrConfig } from '../lab/router/frr.ts';
import { routerControlArgv, validateRouterSpec } from '../lab/router/index.ts';
import { routerModel } from '../lab/router/model.ts';
import { planTopology } from '../lab/topology.ts';

const spec = (family: LabFamily, nodes = 2, extra: Partial<LabSpec> = {}): LabSpec => labSpecFixture(family, nodes, extra);

describe('lab address plan', () => {
  it('gives each node one underlay address per enabled family', () => {
    assert.deepEqual(nodeUnderlay(spec('dual'), 1), { ipv4: '198.18.0.11', ipv6: 'fd00:18::b' });
    assert.deepEqual(nodeUnderlay(spec('ipv4'), 2), { ipv4: '198.18.0.12' });
    assert.deepEqual(nodeUnderlay(spec('ipv6'), 6), { ipv6: 'fd00:18::10' });
    assert.deepEqual(routerUnderlay(spec('dual')), { ipv4: '198.18.0.254', ipv6: 'fd00:18::fe' });
  });

  it('has API server URLs and cluster CIDRs only for enabled families', () => {
    assert.deepEqual(apiServerUrls(spec('dual')), ['http://198.18.0.1:6443', 'http://[fd00:18::1]:6443']);
    assert.deepEqual(apiServerUrls(spec('ipv6')), ['http://[fd00:18::1]:6443']);
    assert.deepEqual(clusterCidrs(spec('ipv4')).pods, { ipv4: '198.19.0.0/16' });
    assert.deepEqual(clusterCidrs(spec('dual')).services, { ipv4: '198.18.240.0/20', ipv6: 'fd00:20::/108' });
    assert.deepEqual(families(spec('dual')), ['ipv4', 'ipv6']);
  });

  it('names pod namespaces by a stable hash of namespace/name', () => {
    const a = podNetnsName('default', 'web-1');
    assert.match(a, /^krlab-p-[0-9a-f]{8}$/);
    assert.equal(podNetnsName('default', 'web-1'), a);
    assert.notEqual(podNetnsName('default', 'web-2'), a);
    assert.notEqual(podNetnsName('other', 'web-1'), a);
  });

  it('refuses bad node counts and too long link names', () => {
    assert.throws(() => nodeNames(0), /--nodes/);
    assert.throws(() => rootVethName('a-very-long-node-name'), /15 characters/);
  });
});

describe('lab topology plan', () => {
  it('makes the bridge first and records every namespace and link before its commands', () => {
    const steps = planTopology(spec('dual', 3));
    assert.deepEqual(steps[0]!.makes, { kind: 'link', name: 'krlab0' });
    const made = steps.filter((s) => s.makes).map((s) => s.makes!.name);
    assert.deepEqual(made, [
      'krlab0',
      'krlab-router',
      'krl-router',
      'krlab-node-1',
      'krl-node-1',
      'krlab-node-2',
      'krl-node-2',
      'krlab-node-3',
      'krl-node-3',
    ]);
    for (const s of steps.filter((x) => x.makes)) {
      const first = s.commands[0]!.join(' ');
      assert.ok(first.includes(s.makes!.name), `${s.title}: first command ${first} makes ${s.makes!.name}`);
    }
  });

  it('adds addresses and default routes only of enabled families, IPv6 without DAD', () => {
    const cmds = (f: LabFamily) => planTopology(spec(f)).flatMap((s) => s.commands.map((c) => c.join(' ')));
    const v4 = cmds('ipv4');
    assert.ok(v4.every((c) => !c.includes('fd00:')), 'no IPv6 address in ipv4 mode');
    assert.ok(v4.includes('ip -n krlab-node-1 -4 route add default via 198.18.0.254 dev eth0'));
    const v6 = cmds('ipv6');
    assert.ok(v6.every((c) => !/198\.18\./.test(c)), 'no IPv4 address in ipv6 mode');
    assert.ok(v6.includes('ip -n krlab-node-2 -6 addr add fd00:18::c/64 dev eth0 nodad'));
    assert.ok(v6.includes('ip -n krlab-router -6 addr add fd00:200::1/128 dev lo nodad'));
    assert.ok(v6.some((c) => c.includes('net.ipv6.conf.all.forwarding=1') && !c.includes('ip_forward')));
    // The root namespace only gets the bridge addresses: no route command without -n.
    assert.ok(cmds('dual').every((c) => !/^ip (-[46] )?route/.test(c)));
  });
});

describe('lab router configs', () => {
  it('has one session per node and family, originating the internet prefixes and a default route', () => {
    const m = routerModel(spec('dual', 2));
    assert.deepEqual(
      m.sessions.map((s) => `${s.name} ${s.neighbor} ${s.localAddress}`),
      ['node_1_v4 198.18.0.11 198.18.0.254', 'node_1_v6 fd00:18::b fd00:18::fe', 'node_2_v4 198.18.0.12 198.18.0.254', 'node_2_v6 fd00:18::c fd00:18::fe'],
    );
    assert.deepEqual(m.originate, { ipv4: ['198.18.201.0/24', '0.0.0.0/0'], ipv6: ['fd00:201::/64', '::/0'] });
    assert.deepEqual(routerModel(spec('ipv6', 1)).originate.ipv4, []);
  });

  it('BIRD exports learned routes to its kernel only when asked', () => {
    const off = renderBirdConfig(routerModel(spec('ipv4', 1)));
    assert.match(off, /protocol kernel kernel4 \{\n {2}ipv4 \{\n {4}import none;\n {4}export none;/);
    assert.doesNotMatch(off, /kernel6|ipv6/);
    const on = renderBirdConfig(routerModel(spec('dual', 1, { routerKernelRoutes: true })));
    assert.equal(on.match(/export where source = RTS_BGP;/g)?.length, 2);
    assert.match(on, /local fd00:18::fe as 64513;\n {2}neighbor fd00:18::b as 64512;/);
  });

  it('FRR activates each neighbor in its family only; kernel routes need BIRD', () => {
    const frr = renderFrrConfig(routerModel(spec('dual', 1, { router: 'frr' })));
    assert.match(frr, /address-family ipv4 unicast\n {2}network 198\.18\.201\.0\/24\n {2}network 0\.0\.0\.0\/0\n {2}neighbor 198\.18\.0\.11 activate\n exit/);
    assert.match(frr, /address-family ipv6 unicast\n {2}network fd00:201::\/64\n {2}network ::\/0\n {2}neighbor fd00:18::b activate\n exit/);
    assert.throws(() => validateRouterSpec(spec('dual', 1, { router: 'frr', routerKernelRoutes: true })), /needs --router bird/);
    assert.deepEqual(routerControlArgv(spec('dual', 1, { router: 'frr' }), ['show', 'bgp', 'summary']).slice(-2), ['-c', 'show bgp summary']);
    assert.throws(() => routerControlArgv(spec('dual', 1, { router: 'none' }), []), /no router/);
  });
});

describe('lab agent config', () => {
  it('points each node at the API server, its own gobgp socket and CNI paths', () => {
    const c = renderNodeConfig(spec('ipv6', 2), 'node-2') as Record<string, any>;
    assert.equal(c.nodeName, 'node-2');
    assert.equal(c.families, 'ipv6');
    assert.deepEqual(c.kubernetes, { master: 'http://[fd00:18::1]:6443' });
    assert.equal(c.gobgp.socket, '/run/krlab-test/nodes/node-2/gobgp.sock');
    assert.equal(c.plugins.cni.confPath, '/run/krlab-test/nodes/node-2/cni/net.d/10-kuberouter.conflist');
    assert.equal(c.plugins.router.routerId, 'generate');
    assert.deepEqual(c.plugins.router.peerRouters, [{ address: 'fd00:18::fe', asn: 64513 }]);
  });

  it('has no peer routers without a router, and no sections of plugins not run', () => {
    const c = renderNodeConfig(spec('dual', 1, { router: 'none', plugins: { cni: true, router: true, serviceProxy: false, firewall: false } }), 'node-1') as Record<string, any>;
    assert.deepEqual(c.plugins.router.peerRouters, []);
    assert.equal(c.plugins.router.routerId, '198.18.0.11');
    assert.deepEqual(Object.keys(c.plugins), ['cni', 'router']);
  });
});
