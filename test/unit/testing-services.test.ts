import assert from 'node:assert/strict';
import { createReconciler, type BgpEvent, type Change, type Family, type V1Node } from '@krouter/sdk';
import {
  createTestContext,
  FakeExec,
  FakeGobgp,
  FakeHealth,
  FakeInformers,
  FakeNftables,
  makeNode,
  MemoryLogger,
  MemoryMetrics,
} from '@krouter/sdk/testing';

describe('FakeNftables', () => {
  it('stores owned tables and refuses others', async () => {
    const nft = new FakeNftables();
    const t = { family: 'inet' as const, name: 'krouter-test' };
    await nft.applyTable(t, 'chain c { }');
    assert.equal(nft.body(t), 'chain c { }');
    assert.equal(await nft.tableExists(t), true);
    await assert.rejects(nft.applyTable({ family: 'inet', name: 'filter' }, ''), /not owned by krouter/);
    await assert.rejects(nft.applyScript('add element inet nat s { 1.2.3.4 }'), /not owned/);
    await assert.rejects(nft.applyScript('flush ruleset'), /does not own/);
    await nft.applyScript('add element inet krouter-test s { 198.18.0.1 }');
    nft.failNext('boom');
    await assert.rejects(nft.applyTable(t, 'chain d { }'), /boom/);
    assert.equal(nft.body(t), 'chain c { }', 'a failed apply leaves the old table');
    await nft.deleteTable(t);
    assert.equal(await nft.tableExists(t), false);
    assert.equal(await nft.listTable(t), undefined);
  });
});

describe('FakeGobgp', () => {
  it('derives the family from the prefix and rejects a mismatched next hop', async () => {
    const bgp = new FakeGobgp();
    const global = { asn: 64512, routerId: '198.18.0.1', families: ['ipv4', 'ipv6'] as Family[] };
    const events: BgpEvent[] = [];
    bgp.watch((e) => events.push(e));
    const result = await bgp.apply({
      global,
      peers: [],
      paths: [
        { prefix: 'fd00:1::/64', nextHop: 'fd00::1' },
        { prefix: 'fd00:2::/64', nextHop: '198.18.0.1' },
      ],
    });
    assert.equal(result.rejected.length, 1);
    assert.match(result.rejected[0]!.message, /next hop 198\.18\.0\.1 is ipv4, prefix is ipv6/);
    assert.equal(result.rejected[0]!.kind, 'invalid');
    assert.deepEqual((await bgp.listPaths('ipv6', 'local')).map((r) => r.prefix), ['fd00:1::/64']);
    assert.deepEqual(await bgp.listPaths('ipv4', 'local'), []);
    await bgp.apply({ global, peers: [], paths: [] });
    assert.deepEqual(events.map((e) => e.type), ['best', 'withdraw']);
  });

  it('applies only the difference of a desired state', async () => {
    const bgp = new FakeGobgp();
    const desired = {
      global: { asn: 64512, routerId: '198.18.0.1', families: ['ipv4'] as Family[] },
      peers: [{ address: '198.18.0.2', asn: 64513, families: ['ipv4'] as Family[] }],
      paths: [{ prefix: '198.18.10.0/24', nextHop: '198.18.0.1' }],
    };
    await bgp.apply(desired);
    const after = { ...bgp.calls };
    await bgp.apply(structuredClone(desired));
    assert.deepEqual(bgp.calls, after, 'the same state twice changes nothing');
    await bgp.apply({ ...desired, peers: [{ ...desired.peers[0]!, description: 'x' }] });
    assert.deepEqual(bgp.calls, { ...after, updatePeer: 1 });
  });

  it('simulates learned routes and peer state changes', async () => {
    const bgp = new FakeGobgp();
    await bgp.apply({
      global: { asn: 64512, routerId: '198.18.0.1', families: ['ipv4'] },
      peers: [{ address: '198.18.0.2', asn: 64513, families: ['ipv4'] }],
      paths: [],
    });
    const events: BgpEvent[] = [];
    const off = bgp.watch((e) => events.push(e));
    bgp.setPeerState('198.18.0.2', 'established');
    bgp.injectRoute({ prefix: '198.18.5.0/24', nextHop: '198.18.0.2', source: '198.18.0.2' });
    assert.throws(() => bgp.injectRoute({ prefix: '198.18.6.0/24', nextHop: 'fd00::2', source: '198.18.0.2' }), /not ipv4/);
    assert.deepEqual((await bgp.listPaths('ipv4', 'adj-in', '198.18.0.2')).map((r) => [r.prefix, r.sourceAsn]), [['198.18.5.0/24', 64513]]);
    const [peer] = await bgp.listPeers();
    assert.equal(peer!.state, 'established');
    assert.equal(peer!.families.ipv4!.received, 1);
    bgp.injectRoute({ prefix: '198.18.5.0/24', nextHop: '198.18.0.2', source: '198.18.0.2', withdrawal: true });
    assert.deepEqual(events.map((e) => e.type), ['peer', 'best', 'withdraw']);
    off();
    assert.equal(bgp.listenerCount, 0);
  });
});

describe('FakeInformers', () => {
  it('emits add/update/delete and applies annotation patches', async () => {
    const inf = new FakeInformers();
    const seen: Array<Change<V1Node>> = [];
    inf.nodes.onChange((c) => seen.push(c));
    inf.nodes.add(makeNode('n1'));
    await inf.api.patchNodeAnnotations('n1', { a: 'b' });
    assert.equal(inf.nodes.get('n1')!.metadata!.annotations!.a, 'b');
    inf.nodes.delete('n1');
    assert.deepEqual(seen.map((c) => c.type), ['add', 'update', 'delete']);
    assert.equal(seen[1]!.old!.metadata!.annotations, undefined);
    assert.throws(() => inf.nodes.update(makeNode('n1')), /does not exist/);
    inf.pods.add({ metadata: { name: 'p', namespace: 'ns1' } });
    assert.equal(inf.pods.get('ns1/p')!.metadata!.name, 'p');
    assert.equal(inf.pods.listNamespace('ns1').length, 1);
    await inf.api.recordEvent({ kind: 'Node', name: 'n1' }, 'Warning', 'Bad', 'msg');
    assert.deepEqual(inf.api.events.map((e) => e.reason), ['Bad']);
    await inf.waitForSync();
  });

  it('lists by label through an index that follows adds, relabels and deletes', () => {
    const inf = new FakeInformers();
    const slice = (name: string, ns: string, svc?: string) => ({
      addressType: 'IPv4',
      endpoints: [],
      metadata: { name, namespace: ns, ...(svc ? { labels: { 'kubernetes.io/service-name': svc } } : {}) },
    });
    const L = 'kubernetes.io/service-name';
    const names = (ns: string, v: string) => inf.endpointSlices.listByLabel(ns, L, v).map((o) => o.metadata!.name).sort();
    inf.endpointSlices.add(slice('web-a', 'ns1', 'web'));
    inf.endpointSlices.add(slice('web-b', 'ns2', 'web'));
    inf.endpointSlices.add(slice('bare', 'ns1'));
    assert.deepEqual(names('ns1', 'web'), ['web-a'], 'first use builds the index from what is there');
    inf.endpointSlices.add(slice('web-c', 'ns1', 'web'));
    assert.deepEqual(names('ns1', 'web'), ['web-a', 'web-c'], 'later adds are indexed');
    inf.endpointSlices.update(slice('web-a', 'ns1', 'api'));
    assert.deepEqual([names('ns1', 'web'), names('ns1', 'api')], [['web-c'], ['web-a']], 'a relabel moves the object');
    inf.endpointSlices.delete('ns1/web-c');
    assert.deepEqual(names('ns1', 'web'), []);
    assert.equal(inf.endpointSlices.listByLabel('ns1', L, 'api')[0]!.metadata!.resourceVersion, inf.endpointSlices.get('ns1/web-a')!.metadata!.resourceVersion, 'the stored object, not a stale copy');
  });
});

describe('FakeExec, MemoryLogger, MemoryMetrics, FakeHealth', () => {
  it('answers scripted commands and fails unscripted ones', async () => {
    const exec = new FakeExec().on('nft -j list', { stdout: '{}' }).on(/^ip /, { code: 2, stderr: 'bad' });
    assert.equal((await exec.run('nft', ['-j', 'list', 'ruleset'])).stdout, '{}');
    await assert.rejects(exec.run('ip', ['link']), /exit 2: bad/);
    assert.equal((await exec.run('ip', ['link'], { allowFailure: true })).code, 2);
    await assert.rejects(exec.run('conntrack', ['-L']), /no scripted response for "conntrack -L"/);
    assert.equal(exec.calls.length, 4);
  });

  it('captures log lines with child bindings', () => {
    const log = new MemoryLogger();
    log.child({ plugin: 'x' }).warn('careful', { node: 'n1' });
    assert.deepEqual(log.lines, [{ level: 'warn', message: 'careful', fields: { plugin: 'x', node: 'n1' } }]);
    assert.equal(log.find('n1', 'warn').length, 1);
    assert.equal(log.find('n1', 'error').length, 0);
  });

  it('records metric values and refuses undeclared labels', () => {
    const m = new MemoryMetrics();
    const c = m.counter({ name: 'things_total', help: 'h', labelNames: ['kind'] });
    c.inc({ kind: 'a' });
    c.inc({ kind: 'a' }, 2);
    assert.equal(m.value('things_total', { kind: 'a' }), 3);
    assert.throws(() => c.inc({ other: 'x' }), /label other not declared/);
    const g = m.gauge({ name: 'level', help: 'h' });
    g.set(5);
    g.dec();
    assert.equal(m.value('level'), 4);
    m.histogram({ name: 'd', help: 'h' }).observe(0.5);
    assert.deepEqual(m.observations('d'), [0.5]);
  });

  it('reports silence and unhealthy components', () => {
    const h = new FakeHealth();
    h.register('a', 1000);
    assert.equal(h.status().healthy, true);
    h.now = 2000;
    assert.equal(h.status().healthy, false);
    h.beat('a');
    h.report('a', { healthy: false, detail: 'x' });
    assert.deepEqual(h.status().components.a, { healthy: false, detail: 'x', lastBeat: 2000 });
  });

  it('gives a context the SDK reconciler runs on', async () => {
    const { ctx, abort, metrics, health } = createTestContext({ k: 1 }, { name: 'p', nodeName: 'me' });
    assert.equal(ctx.nodeName, 'me');
    let runs = 0;
    const r = createReconciler({ name: 'p', sync: async () => void runs++, logger: ctx.logger, metrics: ctx.metrics, health: ctx.health, signal: ctx.signal, resyncIntervalMs: 0 });
    await r.start();
    assert.equal(runs, 1);
    assert.equal(metrics.value('syncs_total', { reconciler: 'p', result: 'ok' }), 1);
    abort.abort();
    await r.stop();
    assert.equal(health.components.size, 0);
  });
});
