/** The lab's pure parts: address plan, names, topology plan, router and agent configs. */
import assert from 'node:assert/strict';
import { labSpecFixture } from '../helpers/lab-spec.ts';
import { readFileSync } from 'node:fs';
import { kubeRouterLabArgs, patchDaemonSet, renderAgentConfig, renderDeployment } from '../lab/deploy.ts';
import { parseKubeRouterFlags } from '../../core/config/flags.ts';
import YAML from 'yaml';
import {
  apiServerUrl,
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
import { planNodeTopology, planTopology } from '../lab/topology.ts';

const spec = (family: LabFamily, nodes = 2, extra: Partial<LabSpec> = {}): LabSpec => labSpecFixture(family, nodes, extra);

describe('lab address plan', () => {
  it('gives each node one underlay address per enabled family', () => {
    assert.deepEqual(nodeUnderlay(spec('dual'), 1), { ipv4: '198.18.0.11', ipv6: 'fd00:18::b' });
    assert.deepEqual(nodeUnderlay(spec('ipv4'), 2), { ipv4: '198.18.0.12' });
    assert.deepEqual(nodeUnderlay(spec('ipv6'), 6), { ipv6: 'fd00:18::10' });
    assert.deepEqual(routerUnderlay(spec('dual')), { ipv4: '198.18.0.254', ipv6: 'fd00:18::fe' });
  });

  it('has the API server on the primary family and cluster CIDRs only for enabled families', () => {
    assert.equal(apiServerUrl(spec('dual')), 'https://198.18.0.1:6443');
    assert.equal(apiServerUrl(spec('ipv6')), 'https://[fd00:18::1]:6443');
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

  it("a node's own part (what reboot-node makes again) is the same as its part of the whole plan", () => {
    const whole = planTopology(spec('dual', 3)).flatMap((s) => s.commands.map((c) => c.join(' ')));
    const node2 = planNodeTopology(spec('dual', 3), 'node-2').flatMap((s) => s.commands.map((c) => c.join(' ')));
    assert.ok(node2.length > 0 && node2.every((c) => c.includes('node-2')), node2.join('\n'));
    const start = whole.indexOf(node2[0]!);
    assert.deepEqual(whole.slice(start, start + node2.length), node2);
    assert.throws(() => planNodeTopology(spec('dual', 3), 'node-9'), /unknown lab node/);
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

describe('lab agent deployment (deploy/ with lab values)', () => {
  const example = readFileSync(new URL('../../deploy/config.yaml', import.meta.url), 'utf8');
  const files = () => ({
    rbac: readFileSync(new URL('../../deploy/rbac.yaml', import.meta.url), 'utf8'),
    daemonset: readFileSync(new URL('../../deploy/daemonset.yaml', import.meta.url), 'utf8'),
    config: example,
  });

  it("takes deploy/config.yaml and sets the lab's families, peers and service ranges; nothing per node", () => {
    const c = renderAgentConfig(spec('ipv6', 2), example) as Record<string, any>;
    assert.equal(c.families, 'ipv6');
    assert.equal(c.nodeName, undefined, 'the node name comes from NODE_NAME (the DaemonSet sets it)');
    assert.deepEqual(c.externalPlugins, []);
    assert.deepEqual(c.plugins.router.peerRouters, [{ address: 'fd00:18::fe', asn: 64513 }]);
    assert.deepEqual(c.plugins.router.serviceClusterIPRanges, ['fd00:20::/108']);
    assert.equal(c.plugins.router.routerId, undefined, "the router's own default (the node's IPv4 or a generated id)");
    assert.equal(c.plugins.cni.confPath, '/etc/cni/net.d/10-kuberouter.conflist', 'the example path; the kubelet maps it per node');
    assert.equal(c.health.port, 20244);
  });

  it('has no peer routers without a router, and no sections of plugins not run', () => {
    const c = renderAgentConfig(spec('dual', 1, { router: 'none', plugins: { cni: true, router: true, serviceProxy: false, firewall: false } }), example) as Record<string, any>;
    assert.deepEqual(c.plugins.router.peerRouters, []);
    assert.deepEqual(Object.keys(c.plugins), ['cni', 'router']);
  });

  it('patches only the image and the API server address of the DaemonSet', () => {
    const { docs } = renderDeployment(spec('ipv6', 2), files());
    assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), ['ServiceAccount/krouter', 'ClusterRole/krouter', 'ClusterRoleBinding/krouter', 'Role/krouter', 'RoleBinding/krouter', 'ConfigMap/krouter-config', 'DaemonSet/krouter']);
    const ds = docs.find((d) => d.kind === 'DaemonSet')!;
    const agent = ds.spec.template.spec.containers[0];
    assert.equal(agent.image, 'krouter-lab/krouter:dev');
    assert.equal(ds.spec.template.spec.initContainers[0].image, 'krouter-lab/krouter:dev');
    assert.deepEqual(agent.env.filter((e: { name: string }) => e.name.startsWith('KUBERNETES_')), [
      { name: 'KUBERNETES_SERVICE_HOST', value: 'fd00:18::1' },
      { name: 'KUBERNETES_SERVICE_PORT', value: '6443' },
    ]);
    assert.ok(agent.env.some((e: { name: string }) => e.name === 'NODE_NAME'), 'the manifest env stays');
    assert.deepEqual(agent.securityContext, { privileged: false, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_BIND_SERVICE', 'NET_RAW'] } }, 'the securityContext stays');
    const unpatched = patchDaemonSet(ds, spec('dual'));
    assert.equal(unpatched.spec.template.spec.containers[0].env.filter((e: { name: string }) => e.name === 'KUBERNETES_SERVICE_HOST').length, 1, 'patching twice does not duplicate');
  });

  it("--kube-router-args: kube-router's flags and environment, a tokenFile kubeconfig, no krouter config", () => {
    const s = spec('dual', 2, { kubeRouterArgs: true, plugins: { cni: true, router: true, serviceProxy: true, firewall: true } });
    const { docs, configText } = renderDeployment(s, files());
    assert.equal(configText, '');
    assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), ['ServiceAccount/krouter', 'ClusterRole/krouter', 'ClusterRoleBinding/krouter', 'Role/krouter', 'RoleBinding/krouter', 'ConfigMap/kube-router-cfg', 'DaemonSet/krouter']);
    const kubeconfig = YAML.parse(docs.find((d) => d.kind === 'ConfigMap')!.data.kubeconfig);
    assert.deepEqual(kubeconfig.users, [{ name: 'kube-router', user: { tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token' } }]);
    assert.equal(kubeconfig.clusters[0].cluster.server, 'https://198.18.0.1:6443');
    const pod = docs.find((d) => d.kind === 'DaemonSet')!.spec.template.spec;
    const agent = pod.containers[0];
    assert.equal(agent.args[0], '--run-router=true', 'no subcommand, as kube-router is started');
    assert.ok(!agent.args.some((a: string) => a.startsWith('--config')));
    assert.ok(agent.env.some((e: { name: string; value?: string }) => e.name === 'KUBE_ROUTER_CNI_CONF_FILE' && e.value === '/etc/cni/net.d/10-kuberouter.conflist'));
    assert.deepEqual(pod.volumes.filter((v: { name: string }) => v.name === 'config'), [], 'no krouter config');
    assert.ok(agent.volumeMounts.some((m: { name: string; mountPath: string }) => m.name === 'kubeconfig' && m.mountPath === '/var/lib/kube-router'));
    const flags = parseKubeRouterFlags(kubeRouterLabArgs(s));
    assert.deepEqual(flags.errors, []);
    assert.deepEqual(flags.warnings.map((w) => w.split(':')[0]), ['--enable-overlay']);
    assert.equal(flags.overlay.families, 'dual');
    assert.deepEqual((flags.overlay as any).plugins.router.peerRouters, [{ address: '198.18.0.254', asn: 64513 }, { address: 'fd00:18::fe', asn: 64513 }]);
    assert.deepEqual((flags.overlay as any).plugins['service-proxy'].serviceClusterIPRanges, ['198.18.240.0/20', 'fd00:20::/108']);
    assert.equal((flags.overlay as any).plugins.loadbalancer, undefined, 'no --run-loadbalancer unless asked');
    const lb = parseKubeRouterFlags(kubeRouterLabArgs({ ...s, plugins: { ...s.plugins, loadbalancer: true } }));
    assert.deepEqual(lb.errors, []);
    assert.deepEqual((lb.overlay as any).plugins.loadbalancer, { enabled: true, ipRanges: ['198.18.100.0/24', 'fd00:100::/112'] });
  });
});
