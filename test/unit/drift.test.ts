import assert from 'node:assert/strict';
import { driftRepairs, nftTableDrift, type Family } from '@krouter/sdk';
import { createTestContext, FakeAddressFamilies, FakeExec, FakeGobgp, FakeInformers, FakeNetlink, FakeNftables, MemoryLogger, MemoryMetrics, makeNode } from '@krouter/sdk/testing';
import { startFirewall } from '../../plugins/firewall/agent.ts';
import { firewallConfigSchema } from '../../plugins/firewall/config.ts';
import { TABLE as FIREWALL_TABLE } from '../../plugins/firewall/names.ts';
import { routerConfigSchema } from '../../plugins/router/config.ts';
import { KernelRouteSync } from '../../plugins/router/kernel-routes.ts';
import { ServiceProxyAgent } from '../../plugins/service-proxy/agent.ts';
import { configSchema as proxyConfigSchema } from '../../plugins/service-proxy/config.ts';
import { TABLE as PROXY_TABLE } from '../../plugins/service-proxy/names.ts';
import { makeNamespace, makePod } from '../helpers/firewall-fixtures.ts';
import { makeService, makeSlice } from '../helpers/services.ts';

/** An `nft -j list table` document with a chain, a rule with a counter and a set. */
function listing(opts: { elements?: string[]; handle?: number; packets?: number; rule?: string } = {}) {
  const h = opts.handle ?? 1;
  return {
    nftables: [
      { metainfo: { version: '1.1.1', json_schema_version: 1 } },
      { table: { family: 'inet', name: 'krouter-x', handle: h } },
      { chain: { family: 'inet', table: 'krouter-x', name: 'in', handle: h + 1, type: 'filter', hook: 'input', prio: 0, policy: 'accept' } },
      { set: { family: 'inet', table: 'krouter-x', name: 'pods', type: 'ipv4_addr', handle: h + 2, ...(opts.elements?.length ? { elem: opts.elements } : {}) } },
      {
        rule: {
          family: 'inet',
          table: 'krouter-x',
          chain: 'in',
          handle: h + 3,
          expr: [{ match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: opts.rule ?? '@pods' } }, { counter: { packets: opts.packets ?? 0, bytes: (opts.packets ?? 0) * 60 } }, { accept: null }],
        },
      },
    ],
  };
}

describe('drift: kernel state differing from what was applied', () => {
  it('nftTableDrift names the kinds of objects that differ, ignoring handles, counters and element order', () => {
    const applied = listing({ elements: ['198.19.1.2', '198.19.1.3'] });
    assert.deepEqual(nftTableDrift(applied, listing({ elements: ['198.19.1.3', '198.19.1.2'], handle: 40, packets: 99 })), []);
    assert.deepEqual(nftTableDrift(applied, undefined), ['table'], 'a table deleted by hand');
    assert.deepEqual(nftTableDrift(undefined, undefined), []);
    assert.deepEqual(nftTableDrift(applied, listing({ elements: [] })), ['element'], 'a set emptied by hand');
    assert.deepEqual(nftTableDrift(applied, listing({ elements: ['198.19.1.2', '198.19.1.3'], rule: '@other' })), ['rule']);
    // Elements the packet path adds to a dynamic set (session affinity) are not drift.
    const withAffinity = (elem: unknown[], flags = ['dynamic', 'timeout']) => {
      const doc = listing({ elements: ['198.19.1.2', '198.19.1.3'] });
      doc.nftables.push({ set: { family: 'inet', table: 'krouter-x', name: 'aff', type: 'ipv4_addr', handle: 9, flags, ...(elem.length ? { elem } : {}) } } as never);
      return doc;
    };
    assert.deepEqual(nftTableDrift(withAffinity([]), withAffinity([{ elem: { val: '198.18.0.254', timeout: 10800, expires: 10790 } }])), []);
    // nft 1.0.6 lists a `flags dynamic,timeout` set as `"flags": ["timeout"]` in JSON.
    assert.deepEqual(nftTableDrift(withAffinity([], ['timeout']), withAffinity([{ elem: { val: '198.18.0.254', timeout: 10800, expires: 10790 } }], ['timeout'])), []);
  });

  it('driftRepairs counts one repair per kind of object and sync, labelled with the plugin', () => {
    const metrics = new MemoryMetrics();
    const drift = driftRepairs(metrics, 'firewall');
    drift.repaired(['element', 'element', 'rule']);
    drift.repaired([]);
    assert.equal(metrics.value('drift_repairs_total', { plugin: 'firewall', object: 'element' }), 1);
    assert.equal(metrics.value('drift_repairs_total', { plugin: 'firewall', object: 'rule' }), 1);
    assert.equal(metrics.value('drift_repairs_total', { plugin: 'firewall', object: 'table' }), undefined);
  });

  it('router: a route deleted by hand is repaired by the resync and counted once; a clean resync counts nothing', async () => {
    const bgp = new FakeGobgp();
    await bgp.apply({ global: { asn: 64512, routerId: '198.18.0.11', families: ['ipv4'] }, peers: [], paths: [] });
    const netlink = new FakeNetlink({ links: [{ name: 'eth0', up: true }], addresses: [{ dev: 'eth0', family: 'ipv4', cidr: '198.18.0.11/24' }] });
    const metrics = new MemoryMetrics();
    const kernel = new KernelRouteSync(routerConfigSchema.parse({ enabled: true }), { bgp, netlink }, new MemoryLogger(), () => undefined, driftRepairs(metrics, 'router'));
    const unwatch = bgp.watch((e) => kernel.onBgpEvent(e));
    const own = { ipv4: ['198.19.1.0/24'], ipv6: [] };
    const repairs = () => metrics.value('drift_repairs_total', { plugin: 'router', object: 'route' }) ?? 0;
    try {
      bgp.injectRoute({ prefix: '198.19.2.0/24', nextHop: '198.18.0.12', source: '198.18.0.12' });
      await kernel.sync(['ipv4'], own, ['start']);
      await kernel.sync(['ipv4'], own, ['resync']);
      assert.equal(repairs(), 0, 'nothing changed by hand');
      await netlink.apply([{ op: 'route.delete', route: { dst: '198.19.2.0/24', via: '198.18.0.12' } }]);
      await kernel.sync(['ipv4'], own, ['resync']);
      assert.deepEqual((await netlink.listRoutes({ family: 'ipv4' })).map((r) => r.dst), ['198.19.2.0/24']);
      assert.equal(repairs(), 1);
      await kernel.sync(['ipv4'], own, ['resync']);
      assert.equal(repairs(), 1, 'repaired: the next resync finds nothing');
    } finally {
      unwatch();
    }
  });

  it('firewall: its table deleted by hand is rewritten by the resync and counted; a clean resync counts nothing', async () => {
    const informers = new FakeInformers();
    informers.nodes.add(makeNode('node-1', { internalIPs: ['198.18.0.1'], podCIDRs: ['198.18.1.0/24'] }));
    informers.namespaces.add(makeNamespace('x'));
    informers.pods.add(makePod({ ns: 'x', name: 'a', ips: ['198.18.1.2'], labels: { app: 'web' } }));
    const nftables = new FakeNftables();
    const families: Family[] = ['ipv4'];
    const t = createTestContext(firewallConfigSchema.parse({ resyncSeconds: 0, countersIntervalSeconds: 0 }), { name: 'firewall', nodeName: 'node-1' });
    const fw = await startFirewall(t.ctx, { families: new FakeAddressFamilies({ enabled: families, nodeName: 'node-1', nodes: informers.nodes }), nftables, informers }, { debounceMs: 0, minIntervalMs: 0 });
    const repairs = () => t.metrics.value('drift_repairs_total', { plugin: 'firewall', object: 'table' }) ?? 0;
    try {
      const written = nftables.body(FIREWALL_TABLE);
      fw.agent.markResync();
      await fw.syncNow();
      assert.equal(repairs(), 0);
      await nftables.deleteTable(FIREWALL_TABLE);
      fw.agent.markResync();
      await fw.syncNow();
      assert.equal(nftables.body(FIREWALL_TABLE), written, 'rewritten whole');
      assert.equal(repairs(), 1);
    } finally {
      await fw.stop();
    }
  });

  it('service proxy: its table deleted by hand is rewritten by the resync and counted; a clean resync counts nothing', async () => {
    const t = createTestContext(proxyConfigSchema.parse({}), { name: 'service-proxy', nodeName: 'n1' });
    const informers = new FakeInformers();
    informers.nodes.add(makeNode('n1', { internalIPs: ['198.18.0.1'], podCIDRs: ['198.18.16.0/24'] }));
    const nftables = new FakeNftables();
    const agent = new ServiceProxyAgent(t.ctx, {
      families: new FakeAddressFamilies({ enabled: ['ipv4'], nodeName: 'n1', nodes: informers.nodes }),
      nftables,
      informers,
      exec: new FakeExec().on('conntrack', { code: 1, stderr: '0 flow entries have been deleted.' }),
    });
    const repairs = () => t.metrics.value('drift_repairs_total', { plugin: 'service-proxy', object: 'table' }) ?? 0;
    informers.services.add(makeService('ns', 'b', { clusterIPs: ['198.18.128.11'], ports: [{ name: 'http', port: 80 }] }));
    await agent.sync(['start']);
    // A service added by a partial sync after the full one: the next resync still knows nothing changed.
    informers.services.add(makeService('ns', 'a', { clusterIPs: ['198.18.128.10'], ports: [{ name: 'http', port: 80 }] }));
    informers.endpointSlices.add(makeSlice('ns', 'a', 'a-1', 'IPv4', [{ ip: '198.18.16.5' }], [{ name: 'http', port: 8080 }]));
    agent.markDirty('ns/a');
    assert.equal(await agent.sync([]), 'partial');
    await agent.sync(['resync']);
    assert.equal(repairs(), 0);
    const written = nftables.body(PROXY_TABLE);
    await nftables.deleteTable(PROXY_TABLE);
    await agent.sync(['resync']);
    assert.equal(nftables.body(PROXY_TABLE), written);
    assert.equal(repairs(), 1);
  });
});
