import assert from 'node:assert/strict';
import { startApiServer } from '../lab/apiserver/index.ts';
import type { LabSpec } from '../lab/config.ts';
import { ERROR_ANNOTATION, startControllers } from '../lab/controllers/index.ts';
import { KubeClient, R, type Obj } from '../lab/controllers/kube.ts';

function spec(family: LabSpec['family']): LabSpec {
  return { family, nodes: ['node-1', 'node-2'], router: 'none', stateDir: '/nonexistent', repoRoot: '.', krouterBin: '', plugins: { cni: true, router: false, serviceProxy: false, firewall: false }, routerKernelRoutes: false };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

const readyNode = (name: string): Obj => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });

describe('lab controllers against the lab API server', function () {
  let server: Awaited<ReturnType<typeof startApiServer>>;
  let ctl: Awaited<ReturnType<typeof startControllers>> | undefined;
  let c: KubeClient;
  afterEach(async () => {
    await ctl?.close();
    ctl = undefined;
    await server?.close();
  });

  async function start(family: LabSpec['family']) {
    server = await startApiServer({});
    c = new KubeClient(server.url);
    ctl = await startControllers({ apiUrl: server.url, spec: spec(family) });
  }

  it('allocates per-family pod CIDRs, keeps them stable and releases them on delete', async () => {
    await start('dual');
    await c.create(R.nodes, readyNode('node-1'));
    const n1 = await until('node-1 CIDRs', async () => (await c.get(R.nodes, undefined, 'node-1')).spec?.podCIDRs);
    assert.deepEqual(n1, ['198.19.0.0/24', 'fd00:19::/64']);
    assert.equal((await c.get(R.nodes, undefined, 'node-1')).spec.podCIDR, '198.19.0.0/24');
    // A node that already has CIDRs keeps them, and they are not handed out again.
    await c.create(R.nodes, { ...readyNode('node-x'), spec: { podCIDR: '198.19.1.0/24', podCIDRs: ['198.19.1.0/24', 'fd00:19:0:1::/64'] } });
    await c.create(R.nodes, readyNode('node-2'));
    const n2 = await until('node-2 CIDRs', async () => (await c.get(R.nodes, undefined, 'node-2')).spec?.podCIDRs);
    assert.deepEqual(n2, ['198.19.2.0/24', 'fd00:19:0:2::/64']);
    await c.patch(R.nodes, undefined, 'node-1', { metadata: { labels: { a: 'b' } } });
    await c.delete(R.nodes, undefined, 'node-1');
    await new Promise((r) => setTimeout(r, 100));
    await c.create(R.nodes, readyNode('node-3'));
    const n3 = await until('node-3 CIDRs', async () => (await c.get(R.nodes, undefined, 'node-3')).spec?.podCIDRs);
    assert.deepEqual(n3, ['198.19.0.0/24', 'fd00:19::/64']);
  });

  it('gives services cluster IPs per family policy and records errors Kubernetes would give', async () => {
    await start('ipv6');
    await c.create(R.services, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: 'default' }, spec: { selector: { app: 'a' }, ports: [{ port: 80 }] } });
    const a = await until('service a IP', async () => {
      const s = await c.get(R.services, 'default', 'a');
      return s.spec.clusterIPs ? s : undefined;
    });
    assert.deepEqual([a.spec.clusterIP, a.spec.clusterIPs, a.spec.ipFamilies, a.spec.ipFamilyPolicy], ['fd00:20::1', ['fd00:20::1'], ['IPv6'], 'SingleStack']);
    await c.create(R.services, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'b', namespace: 'default' }, spec: { ipFamilyPolicy: 'RequireDualStack', ports: [{ port: 80 }] } });
    const b = await until('service b error', async () => (await c.get(R.services, 'default', 'b')).metadata.annotations?.[ERROR_ANNOTATION]);
    assert.equal(b, 'Service "b" is invalid: spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services');
    const events = await c.list(R.events, { namespace: 'default' });
    assert.ok(events.items.some((e) => e.involvedObject?.name === 'b' && e.message === b));
    assert.equal((await c.get(R.services, 'default', 'b')).spec.clusterIPs, undefined);
    // Fixing the request clears the error and allocates.
    await c.patch(R.services, 'default', 'b', { spec: { ipFamilyPolicy: 'PreferDualStack' } });
    const fixed = await until('service b IP', async () => {
      const s = await c.get(R.services, 'default', 'b');
      return s.spec.clusterIPs ? s : undefined;
    });
    assert.deepEqual([fixed.spec.clusterIPs, fixed.metadata.annotations?.[ERROR_ANNOTATION]], [['fd00:20::2'], undefined]);
  });

  it('builds EndpointSlices from pods, schedules unbound pods and follows deletes', async () => {
    await start('dual');
    await c.create(R.nodes, readyNode('node-1'));
    await c.create(R.nodes, readyNode('node-2'));
    await c.create(R.services, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { ipFamilyPolicy: 'PreferDualStack', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] } });
    for (const name of ['p1', 'p2']) {
      await c.create(R.pods, { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'x', ports: [{ name: 'http', containerPort: 8080 }] }] } });
    }
    const nodesOf = await until('scheduling', async () => {
      const pods = (await c.list(R.pods, { namespace: 'default' })).items;
      return pods.every((p) => p.spec.nodeName) ? pods.map((p) => p.spec.nodeName).sort() : undefined;
    });
    assert.deepEqual(nodesOf, ['node-1', 'node-2']);
    await c.patch(R.pods, 'default', 'p1', { status: { podIPs: [{ ip: '198.19.0.9' }, { ip: 'fd00:19::9' }], podIP: '198.19.0.9', conditions: [{ type: 'Ready', status: 'True' }] } }, 'status');
    const slices = await until('slices', async () => {
      const items = (await c.list(R.endpointslices, { namespace: 'default', labelSelector: 'kubernetes.io/service-name=web' })).items;
      return items.length === 2 && items.every((s) => s.endpoints?.length === 1) ? items : undefined;
    });
    const byType = Object.fromEntries(slices.map((s) => [s.addressType, s]));
    assert.deepEqual(byType.IPv4.endpoints[0].addresses, ['198.19.0.9']);
    assert.deepEqual(byType.IPv6.endpoints[0].addresses, ['fd00:19::9']);
    assert.deepEqual(byType.IPv4.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    await c.delete(R.pods, 'default', 'p1');
    await until('empty slices', async () => {
      const items = (await c.list(R.endpointslices, { namespace: 'default', labelSelector: 'kubernetes.io/service-name=web' })).items;
      return items.length === 2 && items.every((s) => (s.endpoints ?? []).length === 0) ? true : undefined;
    });
    await c.delete(R.services, 'default', 'web');
    await until('slices gone', async () => ((await c.list(R.endpointslices, { namespace: 'default' })).items.length === 0 ? true : undefined));
  });
});
