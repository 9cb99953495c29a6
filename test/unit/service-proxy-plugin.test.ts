import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { isPlugin, type Family, type V1EndpointSlice } from '@krouter/sdk';
import { createTestContext, FakeAddressFamilies, FakeExec, FakeInformers, FakeNftables, makeNode } from '@krouter/sdk/testing';
import plugin from '../../plugins/service-proxy/index.ts';
import { ServiceProxyAgent, startServiceProxy } from '../../plugins/service-proxy/agent.ts';
import { configSchema } from '../../plugins/service-proxy/config.ts';
import { TABLE } from '../../plugins/service-proxy/names.ts';
import type { ServiceProxyStatus } from '../../plugins/service-proxy/status.ts';
import { makeService, makeSlice } from '../helpers/services.ts';

function setup(families: Family[] = ['ipv4', 'ipv6'], config: Record<string, unknown> = {}) {
  const test = createTestContext(configSchema.parse(config), { name: 'service-proxy', nodeName: 'n1' });
  const informers = new FakeInformers();
  informers.nodes.add(makeNode('n1', { internalIPs: ['198.18.0.1', 'fd00::1'], podCIDRs: ['198.18.16.0/24', 'fd00:16::/64'] }));
  const deps = {
    families: new FakeAddressFamilies({ enabled: families, nodeName: 'n1', nodes: informers.nodes }),
    nftables: new FakeNftables(),
    informers,
    exec: new FakeExec().on('conntrack', { code: 1, stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.' }),
  };
  return { ...test, informers, deps, agent: new ServiceProxyAgent(test.ctx, deps) };
}

const slice4 = (ips: string[], name = 'web-4'): V1EndpointSlice =>
  makeSlice('ns', 'web', name, 'IPv4', ips.map((ip) => ({ ip })), [{ name: 'http', port: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' }]);
const web = () =>
  makeService('ns', 'web', { clusterIPs: ['198.18.128.10', 'fd00:128::10'], ports: [{ name: 'http', port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }] });

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('service-proxy plugin (with the SDK test doubles)', () => {
  it('is an SDK plugin that requires families, nftables, informers and exec', () => {
    assert.ok(isPlugin(plugin));
    assert.equal(plugin.name, 'service-proxy');
    assert.deepEqual(Object.keys(plugin.requires).sort(), ['exec', 'families', 'informers', 'nftables']);
  });

  it('first sync replaces the whole table; an EndpointSlice change is a partial sync of that service only', async () => {
    const t = setup();
    t.informers.services.add(web());
    t.informers.services.add(makeService('ns', 'other', { clusterIPs: ['198.18.128.11'] }));
    t.informers.endpointSlices.add(slice4(['198.18.16.5', '198.18.16.6']));
    assert.equal(await t.agent.sync(['start']), 'full');
    const body = t.deps.nftables.body(TABLE)!;
    assert.match(body, /198\.18\.128\.10 \. tcp \. 80 : goto svc-ipv4-ns\/web\/tcp\/http/);
    assert.match(body, /198\.18\.128\.11 \. tcp \. 80 : goto reject-chain/);
    assert.match(body, /fd00:128::10 \. tcp \. 80 : goto reject-chain/, 'no IPv6 endpoints: the IPv6 ClusterIP rejects');

    t.informers.endpointSlices.update(slice4(['198.18.16.5']));
    t.agent.markDirty('ns/web');
    assert.equal(await t.agent.sync(['endpointslice']), 'partial');
    const write = t.deps.nftables.writes.at(-1)!;
    assert.equal(write.kind, 'script');
    const script = (write as { script: string }).script;
    assert.match(script, /flush chain inet krouter-proxy svc-ipv4-ns\/web\/tcp\/http\n/);
    assert.doesNotMatch(script, /198\.18\.16\.6/);
    assert.ok(!script.includes('ns/other'), 'the other service is not in the transaction');
    assert.equal(t.agent.last?.bytes, Buffer.byteLength(script));
    // The removed UDP endpoint's conntrack entries are deleted after the sync.
    assert.deepEqual(t.deps.exec.commandLines(), ['conntrack -D -f ipv4 -p udp --orig-dst 198.18.128.10 --dst-nat 198.18.16.6']);
    assert.deepEqual(t.agent.counts(), { ipv4: { services: 2, endpoints: 1 }, ipv6: { services: 1, endpoints: 0 } });
    assert.equal(t.metrics.value('service_proxy_endpoints', { family: 'ipv4' }), 1);
    assert.equal(t.metrics.observations('service_proxy_sync_duration_seconds', { mode: 'partial' }).length, 1);
    assert.equal(t.metrics.observations('service_proxy_transaction_bytes', { mode: 'full' }).length, 1);

    // No change: no transaction at all.
    const writes = t.deps.nftables.writes.length;
    t.agent.markDirty('ns/web');
    await t.agent.sync(['service']);
    assert.equal(t.deps.nftables.writes.length, writes);
  });

  it('a deleted service leaves by partial sync; resync and node-context changes are full syncs', async () => {
    const t = setup(['ipv4']);
    t.informers.services.add(web());
    t.informers.endpointSlices.add(slice4(['198.18.16.5']));
    await t.agent.sync(['start']);
    t.informers.services.delete('ns/web');
    t.agent.markDirty('ns/web');
    assert.equal(await t.agent.sync(['service']), 'partial');
    assert.match((t.deps.nftables.writes.at(-1) as { script: string }).script, /delete element inet krouter-proxy service-ips-ipv4 \{ 198\.18\.128\.10 \. tcp \. 80, 198\.18\.128\.10 \. udp \. 53 \}/);
    assert.equal(await t.agent.sync(['resync']), 'full');
    const node = t.informers.nodes.get('n1')!;
    t.informers.nodes.update({ ...node, metadata: { ...node.metadata, labels: { 'topology.kubernetes.io/zone': 'z1' } } });
    assert.equal(await t.agent.sync(['node']), 'full', 'the zone changed: every service is rebuilt');
  });

  it('a full sync asks to keep the affinity sets of ClientIP services (and only those)', async () => {
    const t = setup(['ipv4', 'ipv6']);
    t.informers.services.add(web());
    t.informers.services.add(makeService('ns', 'sticky', { clusterIPs: ['198.18.128.12'], sessionAffinity: {} }));
    t.informers.endpointSlices.add(slice4(['198.18.16.5', '198.18.16.6']));
    t.informers.endpointSlices.add(makeSlice('ns', 'sticky', 'sticky-4', 'IPv4', [{ ip: '198.18.16.7' }, { ip: '198.18.16.8' }]));
    for (const reason of ['start', 'resync']) {
      assert.equal(await t.agent.sync([reason]), 'full');
      const write = t.deps.nftables.writes.at(-1) as { kind: string; keepSets?: string[]; body: string };
      assert.deepEqual(write.keepSets, ['aff-ipv4-ns/sticky/tcp/http/198.18.16.7/8080', 'aff-ipv4-ns/sticky/tcp/http/198.18.16.8/8080'], reason);
      for (const name of write.keepSets!) assert.ok(write.body.includes(`set ${name} { type ipv4_addr; flags dynamic,timeout; }`), name);
    }
  });

  it('a failed transaction makes the next sync full, and the services stay dirty', async () => {
    const t = setup(['ipv4']);
    t.informers.services.add(web());
    await t.agent.sync(['start']);
    t.informers.endpointSlices.add(slice4(['198.18.16.5']));
    t.agent.markDirty('ns/web');
    t.deps.nftables.failNext('nft: boom');
    await assert.rejects(t.agent.sync(['endpointslice']), /boom/);
    assert.equal(await t.agent.sync(['retry']), 'full');
    assert.match(t.deps.nftables.body(TABLE)!, /goto svc-ipv4-ns\/web\/tcp\/http/);
  });

  it('bad input: one Warning event and error line per problem, naming object and field; not repeated; other services served', async () => {
    const t = setup(['ipv4']);
    t.informers.services.add(makeService('ns', 'bad', { clusterIPs: ['198.18.128.12'], ports: [{ name: 'a', port: 80 }, { name: 'b', port: 0 }] }));
    t.informers.services.add(web());
    t.informers.endpointSlices.add(makeSlice('ns', 'web', 'web-x', 'IPv4', [{ ip: 'fd00::9' }]));
    await t.agent.sync(['start']);
    const events = t.informers.api.events.map((e) => `${e.type} ${e.reason} ${e.ref.kind} ${e.ref.namespace}/${e.ref.name}`);
    assert.deepEqual(events.sort(), ['Warning InvalidEndpoint EndpointSlice ns/web-x', 'Warning InvalidServicePort Service ns/bad']);
    assert.match(t.informers.api.events.find((e) => e.ref.kind === 'Service')!.message, /Service ns\/bad spec\.ports\[1\]\.port 0: port must be 1\.\.65535/);
    assert.equal(t.logger.find('bad service input', 'error').length, 2);
    assert.match(t.deps.nftables.body(TABLE)!, /198\.18\.128\.12 \. tcp \. 80 : goto reject-chain/, 'the good port of the bad service is served');
    await t.agent.sync(['resync']);
    assert.equal(t.informers.api.events.length, 2, 'not reported again');
    assert.equal(t.metrics.value('service_proxy_problems_total', { reason: 'InvalidServicePort' }), 1);
    assert.deepEqual((t.agent.status() as { problems: string[] }).problems.length, 2);
  });

  it('two services on the same ExternalIP and port: the first keeps it, the second is told and takes over when it is free', async () => {
    const t = setup(['ipv4']);
    let retried = 0;
    t.agent.onRetry = () => void retried++;
    const ext = (name: string, ip: string) => makeService('ns', name, { clusterIPs: [ip], externalIPs: ['198.18.200.1'] });
    t.informers.services.add(ext('b', '198.18.128.21'));
    t.informers.services.add(ext('a', '198.18.128.20'));
    await t.agent.sync(['start']);
    const body = t.deps.nftables.body(TABLE)!;
    assert.equal(body.match(/198\.18\.200\.1 \. tcp \. 80 :/g)?.length, 1, 'one element, no failed transaction');
    const conflict = t.informers.api.events.find((e) => e.reason === 'AddressConflict');
    assert.equal(conflict?.ref.name, 'b');
    assert.match(conflict!.message, /198\.18\.200\.1 \. tcp \. 80 \(no-endpoint-services-ipv4\) is already served for Service ns\/a/);
    t.informers.services.delete('ns/a');
    t.agent.markDirty('ns/a');
    await t.agent.sync(['service']);
    assert.equal(retried, 1);
    assert.equal(await t.agent.sync(['address released']), 'partial');
    assert.match((t.deps.nftables.writes.at(-1) as { script: string }).script, /add element inet krouter-proxy no-endpoint-services-ipv4 \{ 198\.18\.200\.1 \. tcp \. 80 : goto reject-chain \}/);
  });

  it('a partial sync of the service that lost an address leaves the owner\'s element alone (the old fragment is what was applied)', async () => {
    const t = setup(['ipv4']);
    const ext = (name: string, ip: string, port = 80) => makeService('ns', name, { clusterIPs: [ip], externalIPs: ['198.18.200.1'], ports: [{ name: 'http', port }] });
    t.informers.services.add(ext('a', '198.18.128.20'));
    t.informers.services.add(ext('b', '198.18.128.21'));
    await t.agent.sync(['start']);
    // b changes (another port): its old fragment, rendered again, must not hold a's element.
    t.informers.services.update(ext('b', '198.18.128.21', 81));
    t.agent.markDirty('ns/b');
    assert.equal(await t.agent.sync(['service']), 'partial');
    const script = (t.deps.nftables.writes.at(-1) as { script: string }).script;
    assert.doesNotMatch(script, /198\.18\.200\.1 \. tcp \. 80/, script);
    assert.match(script, /delete element inet krouter-proxy no-endpoint-services-ipv4 \{ 198\.18\.128\.21 \. tcp \. 80 \}/);
    assert.match(script, /add element inet krouter-proxy no-endpoint-services-ipv4 \{ 198\.18\.128\.21 \. tcp \. 81 : goto reject-chain, 198\.18\.200\.1 \. tcp \. 81 : goto reject-chain \}/);
  });

  it('status lists service ports per family with endpoint counts', async () => {
    const t = setup();
    t.informers.services.add(web());
    t.informers.endpointSlices.add(slice4(['198.18.16.5', '198.18.16.6']));
    await t.agent.sync(['start']);
    const s = t.agent.status() as ServiceProxyStatus;
    assert.equal(s.table, 'inet krouter-proxy');
    assert.equal(s.lastSync?.mode, 'full');
    const row = (protocol: string, port: number, clusterIP: string, endpoints: number, notes: string[] = []) => ({
      service: 'ns/web', protocol, port, clusterIP, externalIPs: [], loadBalancerIPs: [], nodePort: null, endpoints, localEndpoints: null, notes,
    });
    assert.deepEqual(s.families.ipv4, { services: 1, endpoints: 2, ports: [row('tcp', 80, '198.18.128.10', 2), row('udp', 53, '198.18.128.10', 2)] });
    assert.deepEqual(s.families.ipv6, {
      services: 1,
      endpoints: 0,
      ports: [row('tcp', 80, 'fd00:128::10', 0, ['REJECT (no endpoints)']), row('udp', 53, 'fd00:128::10', 0, ['REJECT (no endpoints)'])],
    });
  });

  it('healthCheckNodePort answers 200 with the local count, then 503, on each family, and closes when the service goes', async () => {
    const t = setup(['ipv4']);
    const port = await freePort();
    t.informers.services.add(makeService('ns', 'lb', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: port, clusterIPs: ['198.18.128.20'] }));
    t.informers.endpointSlices.add(makeSlice('ns', 'lb', 'lb-1', 'IPv4', [{ ip: '198.18.16.5' }, { ip: '198.18.17.5', node: 'n2' }]));
    try {
      await t.agent.sync(['start']);
      let r = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { service: { namespace: 'ns', name: 'lb' }, localEndpoints: 1, serviceProxyHealthy: true });
      t.informers.endpointSlices.update(makeSlice('ns', 'lb', 'lb-1', 'IPv4', [{ ip: '198.18.17.5', node: 'n2' }]));
      t.agent.markDirty('ns/lb');
      await t.agent.sync(['endpointslice']);
      r = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(r.status, 503);
      t.informers.services.delete('ns/lb');
      t.agent.markDirty('ns/lb');
      await t.agent.sync(['service']);
      await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
    } finally {
      await t.agent.close();
    }
  });

  it('runs under the reconcile loop from informer events, and cleanup removes the table', async () => {
    const t = setup(['ipv4']);
    t.informers.services.add(web());
    const running = await startServiceProxy(t.ctx, t.deps, { debounceMs: 1, minIntervalMs: 0, resyncIntervalMs: 0 });
    try {
      assert.equal(running.syncCount(), 1);
      assert.equal(t.deps.nftables.writes[0]!.kind, 'table');
      t.informers.endpointSlices.add(slice4(['198.18.16.5']));
      await running.syncNow('test');
      assert.equal(t.deps.nftables.writes.at(-1)!.kind, 'script');
      assert.match(t.deps.nftables.body(TABLE)!, /reject-chain/);
      // Node status heartbeats (no address/zone/CIDR change) do not schedule syncs.
      const before = running.syncCount();
      const node = t.informers.nodes.get('n1')!;
      t.informers.nodes.update({ ...node, status: { ...node.status, conditions: [{ type: 'Ready', status: 'True' }] } });
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(running.syncCount(), before);
      await running.cleanup!();
      assert.equal(await t.deps.nftables.tableExists(TABLE), false);
      assert.equal(t.informers.services.listenerCount, 0);
    } finally {
      await running.stop();
    }
  });
});
