import assert from 'node:assert/strict';
import { isPlugin, type Family, type NftTableRef } from '@krouter/sdk';
import { FakeAddressFamilies, FakeInformers, FakeNftables, createTestContext, makeNode } from '@krouter/sdk/testing';
import firewallPlugin from '../../plugins/firewall/index.ts';
import { FirewallAgent, startFirewall } from '../../plugins/firewall/agent.ts';
import { firewallConfigSchema } from '../../plugins/firewall/config.ts';
import { TABLE } from '../../plugins/firewall/names.ts';
import type { FirewallStatus } from '../../plugins/firewall/status.ts';
import { makeNamespace, makePod, makePolicy } from '../helpers/firewall-fixtures.ts';
import { NftTable } from '../helpers/nft-interpreter.ts';

/** FakeNftables whose listTable also reports named counters, as `nft -j list table` does. */
class CountingNftables extends FakeNftables {
  counters = new Map<string, number>();
  override async listTable(table: NftTableRef): Promise<unknown> {
    const base = (await super.listTable(table)) as { nftables: unknown[] } | undefined;
    if (!base) return undefined;
    return { nftables: [...base.nftables, ...[...this.counters].map(([name, packets]) => ({ counter: { family: 'inet', table: table.name, name, packets, bytes: packets * 60 } }))] };
  }
}

function setup(families: Family[] = ['ipv4', 'ipv6'], config: Record<string, unknown> = {}) {
  const informers = new FakeInformers();
  informers.nodes.add(makeNode('node-1', { internalIPs: ['198.18.0.1', 'fd00::1'], podCIDRs: ['198.18.1.0/24', 'fd00:1::/64'] }));
  informers.namespaces.add(makeNamespace('x'));
  informers.namespaces.add(makeNamespace('y'));
  informers.pods.add(makePod({ ns: 'x', name: 'a', ips: ['198.18.1.2', 'fd00:1::2'], labels: { app: 'web' } }));
  informers.pods.add(makePod({ ns: 'y', name: 'b', ips: ['198.18.1.3', 'fd00:1::3'], labels: { app: 'client' } }));
  const nftables = new CountingNftables();
  const families_ = new FakeAddressFamilies({ enabled: families, nodeName: 'node-1', nodes: informers.nodes });
  const test = createTestContext(firewallConfigSchema.parse({ resyncSeconds: 0, countersIntervalSeconds: 0, ...config }), { name: 'firewall', nodeName: 'node-1' });
  const deps = { families: families_, nftables, informers };
  return { ...test, informers, nftables, deps };
}

describe('firewall agent (with the SDK test doubles)', () => {
  it('is a plugin named firewall that needs families, nftables and informers', () => {
    assert.ok(isPlugin(firewallPlugin));
    assert.equal(firewallPlugin.name, 'firewall');
    assert.deepEqual(Object.keys(firewallPlugin.requires).sort(), ['families', 'informers', 'nftables']);
    assert.deepEqual(firewallConfigSchema.parse({}), { defaultDeny: true, log: { enabled: false, ratePerSecond: 10 }, countersIntervalSeconds: 60, resyncSeconds: 300 });
    assert.throws(() => firewallConfigSchema.parse({ bogus: 1 }));
  });

  it('writes the whole table first, then a pod event as element changes only', async () => {
    const t = setup();
    const fw = await startFirewall(t.ctx, t.deps, { debounceMs: 0, minIntervalMs: 0 });
    try {
      assert.equal(t.nftables.writes.length, 1);
      assert.equal(t.nftables.writes[0]!.kind, 'table');
      assert.match(t.nftables.body(TABLE)!, /judged-ipv4 \{\n\s+type ipv4_addr\n\s+elements = \{ 198\.18\.1\.2, 198\.18\.1\.3 \}/);
      t.informers.pods.add(makePod({ ns: 'x', name: 'c', ips: ['198.18.1.4', 'fd00:1::4'], labels: { app: 'web' } }));
      await fw.syncNow();
      const last = t.nftables.writes.at(-1)!;
      assert.equal(last.kind, 'script');
      assert.match((last as { script: string }).script, /^add element inet krouter-firewall judged-ipv4 \{ 198\.18\.1\.4 \}$/m);
      assert.equal(fw.agent.last?.kind, 'pods');
      // An update that changes nothing the firewall reads writes nothing.
      const writes = t.nftables.writes.length;
      const same = structuredClone(t.informers.pods.get('x/c')!);
      same.metadata!.annotations = { unrelated: 'yes' };
      t.informers.pods.update(same);
      await fw.syncNow();
      assert.equal(t.nftables.writes.length, writes);
    } finally {
      await fw.stop();
    }
  });

  it('a policy change rewrites the table; a namespace relabel is a patch; a failed patch leads to a whole table', async () => {
    const t = setup();
    const fw = await startFirewall(t.ctx, t.deps, { debounceMs: 0, minIntervalMs: 0 });
    try {
      t.informers.networkPolicies.add(
        makePolicy('x', 'web', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } } }] }] }),
      );
      await fw.syncNow();
      assert.equal(fw.agent.last?.kind, 'replace');
      t.informers.namespaces.update(makeNamespace('y', { team: 'blue' }));
      await fw.syncNow();
      assert.equal(fw.agent.last?.kind, 'rebuild');
      assert.match((t.nftables.writes.at(-1) as { script: string }).script, /^add element inet krouter-firewall sel-[0-9a-f]+-ipv4 \{ 198\.18\.1\.3 \}$/m);

      t.nftables.failNext('nft said no');
      t.informers.pods.add(makePod({ ns: 'y', name: 'd', ips: ['198.18.1.9', 'fd00:1::9'] }));
      await assert.rejects(fw.syncNow(), /nft said no/);
      await fw.syncNow();
      assert.equal(fw.agent.last?.kind, 'replace');
      assert.match(t.nftables.body(TABLE)!, /198\.18\.1\.9/);
    } finally {
      await fw.stop();
    }
  });

  it('reports a bad policy part once as a Warning event on the policy, and as a metric', async () => {
    const t = setup();
    t.informers.networkPolicies.add(makePolicy('x', 'bad', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '198.18.0.0/24', except: ['198.19.0.0/24'] } }] }] }));
    const fw = await startFirewall(t.ctx, t.deps, { debounceMs: 0, minIntervalMs: 0 });
    try {
      await fw.syncNow();
      const events = t.informers.api.events;
      assert.equal(events.length, 1);
      assert.deepEqual(events[0]!.ref, { kind: 'NetworkPolicy', namespace: 'x', name: 'bad' });
      assert.equal(events[0]!.type, 'Warning');
      assert.equal(events[0]!.reason, 'InvalidNetworkPolicy');
      assert.match(events[0]!.message, /^spec\.ingress\[0\]\.from\[0\]\.ipBlock\.except\[0\]: "198\.19\.0\.0\/24" is not inside/);
      assert.equal(t.metrics.value('firewall_policy_problems'), 1);
    } finally {
      await fw.stop();
    }
  });

  it('turns nft counters into denied-packet metrics by policy, direction and family, across a table replacement', async () => {
    const t = setup();
    t.informers.networkPolicies.add(makePolicy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] }));
    const agent = new FirewallAgent(t.ctx, t.deps);
    await agent.sync();
    const id = agent.current!.compiled.policies[0]!.id;
    t.nftables.counters.set(`deny-ing-${id}-ipv6`, 5);
    t.nftables.counters.set('pending-ipv4', 2);
    await agent.readCounters();
    t.nftables.counters.set(`deny-ing-${id}-ipv6`, 7);
    await agent.readCounters();
    t.nftables.counters.set(`deny-ing-${id}-ipv6`, 1); // the table was replaced: counted from zero
    await agent.readCounters();
    assert.equal(t.metrics.value('firewall_denied_packets_total', { policy: 'x/deny', direction: 'ingress', family: 'ipv6' }), 8);
    assert.equal(t.metrics.value('firewall_pending_dropped_packets_total', { family: 'ipv4' }), 2);
  });

  it('status lists policies and the pods they select, per family', async () => {
    const t = setup(['ipv6']);
    t.informers.networkPolicies.add(makePolicy('x', 'web', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress', 'Egress'] }));
    const fw = await startFirewall(t.ctx, t.deps, { debounceMs: 0, minIntervalMs: 0 });
    try {
      const status = (await fw.status!()) as FirewallStatus;
      assert.equal(status.table, 'inet krouter-firewall');
      assert.equal(status.policies, 1);
      assert.deepEqual(Object.keys(status.families), ['ipv6']);
      assert.deepEqual(status.families.ipv6!.policies.map((p) => [p.policy, p.types, p.pods]), [['x/web', ['ingress', 'egress'], ['x/a fd00:1::2']]]);
      assert.equal(status.families.ipv6!.podsSelected, 1);
    } finally {
      await fw.stop();
    }
  });

  it('cleanup removes the table and nothing else', async () => {
    const t = setup();
    await t.nftables.applyTable({ family: 'inet', name: 'krouter-cni' }, '  chain c {}\n');
    const fw = await startFirewall(t.ctx, t.deps, { debounceMs: 0, minIntervalMs: 0 });
    await fw.cleanup!();
    assert.equal(await t.nftables.tableExists(TABLE), false);
    assert.equal(await t.nftables.tableExists({ family: 'inet', name: 'krouter-cni' }), true);
    await firewallPlugin.cleanup!(t.ctx, t.deps); // nothing left: still fine
  });

  it('stops listening on stop and leaves the table for the next start to adopt', async () => {
    const t = setup();
    const fw = await startFirewall(t.ctx, t.deps, { debounceMs: 0, minIntervalMs: 0 });
    await fw.stop();
    assert.equal(t.informers.pods.listenerCount, 0);
    assert.equal(await t.nftables.tableExists(TABLE), true);
  });
});

/** The kernel as the fake saw it: the last whole table, then every element script after it. */
function kernelOf(nft: FakeNftables): NftTable {
  const lastTable = nft.writes.map((w) => w.kind).lastIndexOf('table');
  const t = new NftTable((nft.writes[lastTable] as { body: string }).body);
  for (const w of nft.writes.slice(lastTable + 1)) if (w.kind === 'script') t.applyScript(w.script);
  return t;
}

describe('firewall agent: updates, as upstream e2e makes them', () => {
  const A = '198.18.1.2';
  const B = '198.18.1.3';
  const tcp80 = (saddr: string, daddr: string) => ({ saddr, daddr, proto: 'tcp' as const, dport: 80 });

  it('updated pod labels, updated namespace labels, an updated and a deleted policy take effect', async () => {
    const t = setup(['ipv4']);
    const fw = await startFirewall(t.ctx, t.deps, { debounceMs: 0, minIntervalMs: 0 });
    try {
      // x/a takes traffic only from pods labelled app=allowed, or from namespaces team=blue.
      t.informers.networkPolicies.add(
        makePolicy('x', 'p', {
          podSelector: { matchLabels: { app: 'web' } },
          ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'allowed' } } }, { namespaceSelector: { matchLabels: { team: 'blue' } } }] }],
        }),
      );
      await fw.syncNow();
      assert.equal(kernelOf(t.nftables).forward(tcp80(B, A)), 'drop');

      const relabelled = structuredClone(t.informers.pods.get('y/b')!);
      relabelled.metadata!.labels = { app: 'allowed' };
      t.informers.pods.update(relabelled);
      await fw.syncNow();
      assert.equal(fw.agent.last?.kind, 'pods');
      assert.equal(kernelOf(t.nftables).forward(tcp80(B, A)), 'accept', 'allowed from the updated pod');

      relabelled.metadata!.labels = { app: 'client' };
      t.informers.pods.update(relabelled);
      await fw.syncNow();
      assert.equal(kernelOf(t.nftables).forward(tcp80(B, A)), 'drop', 'denied again');

      t.informers.namespaces.update(makeNamespace('y', { team: 'blue' }));
      await fw.syncNow();
      assert.equal(fw.agent.last?.kind, 'rebuild');
      assert.equal(kernelOf(t.nftables).forward(tcp80(B, A)), 'accept', 'allowed from the updated namespace');

      t.informers.networkPolicies.update(makePolicy('x', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 81 }] }] }));
      await fw.syncNow();
      assert.equal(kernelOf(t.nftables).forward(tcp80(B, A)), 'drop', 'the updated policy');
      assert.equal(kernelOf(t.nftables).forward({ ...tcp80(B, A), dport: 81 }), 'accept');

      t.informers.networkPolicies.delete('x/p');
      await fw.syncNow();
      assert.equal(kernelOf(t.nftables).forward(tcp80(B, A)), 'accept', 'no longer enforced once deleted');
    } finally {
      await fw.stop();
    }
  });

  it('a pod that gets an address later is pending until then, and judged as soon as the update arrives', async () => {
    const t = setup(['ipv4']);
    t.informers.networkPolicies.add(makePolicy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] }));
    const fw = await startFirewall(t.ctx, t.deps, { debounceMs: 0, minIntervalMs: 0 });
    try {
      const pod = makePod({ ns: 'y', name: 'late', ips: [] });
      t.informers.pods.add(pod);
      await fw.syncNow();
      assert.equal(kernelOf(t.nftables).forward(tcp80('198.18.1.50', B)), 'drop', 'its address is pending');
      pod.status = { phase: 'Running', podIP: '198.18.1.50', podIPs: [{ ip: '198.18.1.50' }] };
      t.informers.pods.update(pod);
      await fw.syncNow();
      assert.equal(kernelOf(t.nftables).forward(tcp80('198.18.1.50', B)), 'accept');
      assert.equal(kernelOf(t.nftables).forward(tcp80(B, A)), 'drop', 'x is still isolated');
    } finally {
      await fw.stop();
    }
  });
});
