/**
 * The router plugin with a route reflector instead of the full mesh, and
 * service ClusterIP advertisement, on one dual-stack lab of 4 nodes (BIRD):
 * node-1 is annotated `kube-router.io/rr.server=42`, the others
 * `kube-router.io/rr.client=42`, router config `nodesFullMesh: false` and
 * `advertiseClusterIP: true`.
 * - clients peer only with the reflector (and the external router);
 * - `lab check` gives full pod to pod connectivity;
 * - each Service's cluster IPs reach BIRD as /32 and /128 in their family,
 *   from every node, and no node installs them from its peers. Root.
 */
import assert from 'node:assert/strict';
import { familyOf, type Family } from '../../sdk/src/families.ts';
import { gobgpNeighbors, nodeKrouterRoutes, routerRoutes } from '../lab/bgp-inspect.ts';
import { routerUnderlay } from '../lab/config.ts';
import { labClient } from '../lab/api.ts';
import { R } from '../lab/kube.ts';
import { labCli, labForSuite, until, type LabNodeInfo } from '../lab/testing.ts';
import { DEMO_APP, DEMO_NAMESPACE } from '../lab/workloads.ts';

const RR = '42';

describe('router e2e: route reflector (4 nodes, full mesh off) and ClusterIP advertisement (dual, BIRD)', function () {
  this.timeout(300_000);
  const lab = labForSuite(
    'krlab-router-rr-',
    [
      '--family',
      'dual',
      '--nodes',
      '4',
      '--router',
      'bird',
      '--router-config',
      JSON.stringify({ nodesFullMesh: false, advertiseClusterIP: true }),
      '--node-annotation',
      `node-1:kube-router.io/rr.server=${RR}`,
      ...['node-2', 'node-3', 'node-4'].flatMap((n) => ['--node-annotation', `${n}:kube-router.io/rr.client=${RR}`]),
    ],
    { demoWorkloads: true },
  );

  before(function () {
    assert.equal(lab.nodes.length, 4);
  });

  it('clients peer only with the reflector (and the external router); the reflector peers with every client', async function () {
    const router = Object.values(routerUnderlay(lab.spec));
    const addrs = (n: LabNodeInfo) => lab.fams.map((f) => n.addresses[f]!);
    const [server, ...clients] = lab.nodes;
    for (const node of lab.nodes) {
      // `up` waited for pod routes (reflected ones included), not for the external router's sessions.
      const neighbors = await until(`${node.name}'s sessions established`, () => {
        const list = gobgpNeighbors(lab.spec, node.name);
        return list.length > 0 && list.every((n) => n.state === 'established') ? list : undefined;
      }, 30_000).catch(() => gobgpNeighbors(lab.spec, node.name));
      const want = node === server ? [...clients.flatMap(addrs), ...router] : [...addrs(server!), ...router];
      assert.deepEqual(neighbors.map((n) => n.address).sort(), want.sort(), `${node.name}'s BGP neighbors`);
      assert.deepEqual(neighbors.filter((n) => n.state !== 'established').map((n) => `${n.address} ${n.state}`), [], `${node.name}: every session established`);
    }
  });

  it('every node routes to every other node directly (reflected paths keep the owner as next hop)', function () {
    for (const node of lab.nodes) {
      for (const f of lab.fams) {
        const routes = nodeKrouterRoutes(node.name, f).map((r) => `${r.dst} via ${r.gateway}`);
        for (const other of lab.nodes.filter((n) => n !== node)) {
          assert.ok(routes.includes(`${other.podCidrs[f]} via ${other.addresses[f]}`), `${node.name}: ${other.podCidrs[f]} via ${other.addresses[f]} in ${routes.join(', ')}`);
        }
      }
    }
  });

  it('`lab check` gives full connectivity: every pod reaches every other pod over TCP and UDP in both families', function () {
    const res = JSON.parse(labCli(lab.stateDir, ['check', '--json'])) as { ok: boolean; rows: Array<{ kind: string; family: Family; proto: string; result: string; from: string; to: string }> };
    assert.equal(res.ok, true);
    const cross = res.rows.filter((r) => r.kind === 'cross-node');
    // 8 pods, 6 on other nodes each, 2 families, TCP + UDP.
    assert.equal(cross.length, 8 * 6 * 2 * 2);
    assert.deepEqual(cross.filter((r) => r.result !== 'ok').map((r) => `${r.from} -> ${r.to} ${r.family}/${r.proto}`), []);
  });

  it("a Service's cluster IPs show up at BIRD as /32 and /128 in their family, from every node, and are not installed on nodes", async function () {
    const ports = [{ name: 'tcp', port: 80, targetPort: 'tcp', protocol: 'TCP' }];
    const svc = (name: string, extra: Record<string, unknown>) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: DEMO_NAMESPACE },
      spec: { selector: { app: DEMO_APP }, ports, ...extra },
    });
    const items = [
      svc('only-v4', { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4'] }),
      svc('only-v6', { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] }),
      svc('both', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] }),
    ];
    labCli(lab.stateDir, ['kubectl', 'create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
    const client = labClient(lab.spec);
    const clusterIPs = new Map<string, string[]>();
    for (const name of ['only-v4', 'only-v6', 'both']) {
      const s = await client.get(R.services, DEMO_NAMESPACE, name);
      clusterIPs.set(name, s.spec.clusterIPs as string[]);
    }
    assert.deepEqual(clusterIPs.get('only-v4')!.map(familyOf), ['ipv4']);
    assert.deepEqual(clusterIPs.get('only-v6')!.map(familyOf), ['ipv6']);
    assert.deepEqual(clusterIPs.get('both')!.map(familyOf), ['ipv6', 'ipv4']);

    const vips = [...clusterIPs.values()].flat();
    const hostRoute = (ip: string) => `${ip}/${familyOf(ip) === 'ipv4' ? 32 : 128}`;
    const atBird = await until('every cluster IP at BIRD from every node', () => {
      const found = new Map<string, string[]>();
      for (const f of lab.fams) for (const r of routerRoutes(lab.spec, f).filter((x) => x.fromBgp)) found.set(r.prefix, [...(found.get(r.prefix) ?? []), r.nextHop]);
      return vips.every((ip) => (found.get(hostRoute(ip)) ?? []).length === lab.nodes.length) ? found : undefined;
    });
    for (const ip of vips) {
      const f = familyOf(ip);
      assert.deepEqual(atBird.get(hostRoute(ip))!.sort(), lab.nodes.map((n) => n.addresses[f]!).sort(), `${hostRoute(ip)} at BIRD via every node's ${f} address`);
    }
    // Service ranges are never installed from peers.
    for (const node of lab.nodes) {
      for (const f of lab.fams) {
        const dsts = nodeKrouterRoutes(node.name, f).map((r) => r.dst);
        assert.deepEqual(vips.filter((ip) => dsts.includes(hostRoute(ip)) || dsts.includes(ip)), [], `${node.name}: no ${f} VIP route`);
      }
    }
  });
});
