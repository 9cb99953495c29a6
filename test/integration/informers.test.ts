import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Change } from '@krouter/sdk';
import { MemoryLogger, MemoryMetrics } from '@krouter/sdk/testing';
import { InformersService } from '../../core/services/informers/index.ts';
import { RESOURCES, startApiServer, type ApiServer } from '../helpers/fake-apiserver/index.ts';

const def = (plural: string) => RESOURCES.find((r) => r.plural === plural)!;

async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setTimeout(r, 10));
}

type Named = { metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> } };
const summary = (c: Change<Named>): string => `${c.type} ${c.object.metadata?.namespace ? c.object.metadata.namespace + '/' : ''}${c.object.metadata?.name}`;

describe('informers service against the scripted API server', () => {
  let server: ApiServer;
  let informers: InformersService | undefined;
  let metrics: MemoryMetrics;
  let logger: MemoryLogger;

  const start = (extra: Partial<ConstructorParameters<typeof InformersService>[0]> = {}): InformersService => {
    informers = new InformersService({ logger, metrics, master: server.url, nodeName: 'node-a', backoff: { initialMs: 20, maxMs: 200 }, ...extra });
    return informers;
  };

  beforeEach(async () => {
    server = await startApiServer({ bookmarkIntervalMs: 100 });
    metrics = new MemoryMetrics();
    logger = new MemoryLogger();
  });
  afterEach(async () => {
    await informers?.close();
    informers = undefined;
    await server.close();
  });

  it('starts a kind only when its getter is first used', async () => {
    const inf = start();
    assert.deepEqual(inf.startedKinds(), []);
    assert.equal(inf.nodes.kind, 'nodes');
    await inf.waitForSync(10_000);
    assert.deepEqual(inf.startedKinds(), ['nodes']);
    await until(() => server.store.watcherCount() === 1);
    assert.equal(inf.nodes.hasSynced(), true);
  });

  it('caches of every kind follow creates, updates and deletes, with the old object on update', async () => {
    server.store.create(def('namespaces'), undefined, { metadata: { name: 'shop' } });
    server.store.create(def('pods'), 'shop', { metadata: { name: 'before' }, spec: { nodeName: 'node-a' } });
    const inf = start();
    const cases = [
      { informer: inf.nodes, def: def('nodes'), ns: undefined, body: { spec: { podCIDR: '198.18.1.0/24' } } },
      { informer: inf.pods, def: def('pods'), ns: 'shop', body: { spec: { nodeName: 'node-a' } } },
      { informer: inf.services, def: def('services'), ns: 'shop', body: { spec: { ports: [{ port: 80 }] } } },
      { informer: inf.endpointSlices, def: def('endpointslices'), ns: 'shop', body: { addressType: 'IPv6', endpoints: [{ addresses: ['fd00::5'] }] } },
      { informer: inf.namespaces, def: def('namespaces'), ns: undefined, body: {} },
      { informer: inf.networkPolicies, def: def('networkpolicies'), ns: 'shop', body: { spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '198.18.0.0/16' } }] }] } } },
    ];
    await inf.waitForSync(10_000);
    assert.ok(inf.pods.get('shop/before'), 'objects present before start are listed');
    assert.deepEqual(inf.pods.listNamespace('shop').map((p) => p.metadata?.name), ['before']);
    assert.ok(inf.namespaces.get('kube-system'));

    for (const c of cases) {
      const changes: Change<Named>[] = [];
      const off = (c.informer as { onChange(l: (ch: Change<Named>) => void): () => void }).onChange((ch) => changes.push(ch));
      const key = c.ns ? `${c.ns}/obj-1` : 'obj-1';
      server.store.create(c.def, c.ns, { metadata: { name: 'obj-1', labels: { v: '1' } }, ...c.body });
      await until(() => changes.length === 1);
      assert.equal(summary(changes[0]!), `add ${key}`, c.def.plural);
      assert.equal((c.informer.get(key) as Named).metadata?.labels?.v, '1');

      const cur = server.store.get(c.def, c.ns, 'obj-1');
      server.store.update(c.def, c.ns, 'obj-1', { ...cur, metadata: { ...cur.metadata, labels: { v: '2' } } });
      await until(() => changes.length === 2);
      assert.equal(changes[1]!.type, 'update', c.def.plural);
      assert.equal(changes[1]!.old?.metadata?.labels?.v, '1');
      assert.equal(changes[1]!.object.metadata?.labels?.v, '2');
      assert.equal((c.informer.get(key) as Named).metadata?.labels?.v, '2');

      server.store.delete(c.def, c.ns, 'obj-1');
      await until(() => changes.length === 3);
      assert.equal(summary(changes[2]!), `delete ${key}`, c.def.plural);
      assert.equal(c.informer.get(key), undefined);
      off();
    }
    assert.equal(metrics.value('informer_cache_objects', { kind: 'pods' }), 1);
  });

  it('hands out typed objects, from the list and from the watch alike', async () => {
    server.store.create(def('networkpolicies'), 'default', { metadata: { name: 'listed' }, spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '198.18.0.0/16' } }] }] } });
    const inf = start();
    void inf.networkPolicies;
    await inf.waitForSync(10_000);
    server.store.create(def('networkpolicies'), 'default', { metadata: { name: 'watched' }, spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 'fd00::/64' } }] }] } });
    await until(() => inf.networkPolicies.get('default/watched') !== undefined);
    for (const [name, cidr] of [['listed', '198.18.0.0/16'], ['watched', 'fd00::/64']] as const) {
      const np = inf.networkPolicies.get(`default/${name}`)!;
      assert.equal(np.spec?.ingress?.[0]?._from?.[0]?.ipBlock?.cidr, cidr, name);
      assert.ok(np.metadata?.creationTimestamp instanceof Date, name);
    }
  });

  it('resumes after the server closes its watches, without a relist', async () => {
    const inf = start();
    const changes: Change<Named>[] = [];
    inf.pods.onChange((c) => changes.push(c));
    await inf.waitForSync(10_000);
    await until(() => server.store.watcherCount() === 1);
    server.closeWatches();
    server.store.create(def('pods'), 'default', { metadata: { name: 'while-away' } });
    await until(() => changes.length === 1);
    assert.equal(summary(changes[0]!), 'add default/while-away');
    assert.equal(metrics.value('informer_lists_total', { kind: 'pods' }), 1);
    assert.ok((metrics.value('informer_watch_restarts_total', { kind: 'pods', reason: 'closed' }) ?? 0) >= 1);
  });

  it('re-watches at once after quiet watches the server ended normally (no back-off for a kind that does not change)', async () => {
    // A back-off of a minute would hold the next watch far past the until below.
    const inf = start({ backoff: { initialMs: 60_000, maxMs: 60_000, quietWatchMs: 50 } });
    const changes: Change<Named>[] = [];
    inf.pods.onChange((c) => changes.push(c));
    await inf.waitForSync(10_000);
    for (let round = 0; round < 3; round++) {
      await until(() => server.store.watcherCount() === 1);
      await new Promise((r) => setTimeout(r, 100));
      server.closeWatches();
    }
    await until(() => server.store.watcherCount() === 1);
    server.store.create(def('pods'), 'default', { metadata: { name: 'after-quiet-watches' } });
    await until(() => changes.length === 1);
    assert.equal(summary(changes[0]!), 'add default/after-quiet-watches');
    assert.equal(metrics.value('informer_lists_total', { kind: 'pods' }), 1);
  });

  it('survives 410 Gone: relists and emits exactly the differences, deletes included', async () => {
    for (const n of ['keep', 'change', 'remove']) server.store.create(def('pods'), 'default', { metadata: { name: n, labels: { v: '1' } } });
    const inf = start();
    const changes: Change<Named>[] = [];
    inf.pods.onChange((c) => changes.push(c));
    await inf.waitForSync(10_000);
    assert.deepEqual(changes.map(summary).sort(), ['add default/change', 'add default/keep', 'add default/remove']);
    changes.length = 0;
    await until(() => server.store.watcherCount() === 1);

    // All in one tick: the client cannot reconnect before the history is gone.
    server.closeWatches();
    const cur = server.store.get(def('pods'), 'default', 'change');
    server.store.update(def('pods'), 'default', 'change', { ...cur, metadata: { ...cur.metadata, labels: { v: '2' } } });
    server.store.delete(def('pods'), 'default', 'remove');
    server.store.create(def('pods'), 'default', { metadata: { name: 'new' } });
    server.store.compact();

    await until(() => changes.length >= 3);
    // Exactly these: the unchanged pod ("keep", same resourceVersion) must not show up as an update.
    assert.deepEqual(changes.map(summary).sort(), ['add default/new', 'delete default/remove', 'update default/change']);
    const upd = changes.find((c) => c.type === 'update')!;
    assert.equal(upd.old?.metadata?.labels?.v, '1');
    assert.deepEqual(inf.pods.list().map((p) => p.metadata?.name).sort(), ['change', 'keep', 'new']);
    assert.equal(metrics.value('informer_watch_restarts_total', { kind: 'pods', reason: 'expired' }), 1);
    assert.equal(metrics.value('informer_lists_total', { kind: 'pods' }), 2);
    // Watching again after the relist: later changes still arrive, and nothing else was emitted.
    server.store.delete(def('pods'), 'default', 'keep');
    await until(() => changes.length === 4);
    assert.equal(summary(changes[3]!), 'delete default/keep');
  });

  it('waitForSync rejects naming the kinds that did not sync; resolves at once with none started', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const inf = start({ master: `http://127.0.0.1:${port}` });
    await inf.waitForSync(50);
    void inf.endpointSlices;
    void inf.services;
    await assert.rejects(inf.waitForSync(300), /not synced after 300 ms: endpointSlices, services/);
    assert.ok((metrics.value('informer_watch_restarts_total', { kind: 'services', reason: 'error' }) ?? 0) >= 1);
    assert.ok(logger.find(/list\/watch failed/).length >= 1);
  });

  it('reads the server from a kubeconfig file, and close() ends its watches', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krouter-informers-'));
    try {
      const file = path.join(dir, 'kubeconfig');
      fs.writeFileSync(
        file,
        `apiVersion: v1\nkind: Config\nclusters: [{name: lab, cluster: {server: "${server.url}"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: lab, user: u}}]\ncurrent-context: c\n`,
      );
      const inf = start({ master: undefined, kubeconfig: file });
      void inf.nodes;
      void inf.services;
      await inf.waitForSync(10_000);
      await until(() => server.store.watcherCount() === 2);
      await inf.close();
      await until(() => server.store.watcherCount() === 0);
      assert.throws(() => inf.pods, /closed/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad kubeconfig or master is a clear error', () => {
    assert.throws(() => start({ master: undefined, kubeconfig: '/nonexistent/kubeconfig' }), /kubeconfig \/nonexistent\/kubeconfig/);
    assert.throws(() => start({ master: 'not a url' }), /master: "not a url"/);
    informers = undefined;
  });

  it('records events (best effort) and merge-patches node annotations', async () => {
    const inf = start();
    server.store.create(def('nodes'), undefined, { metadata: { name: 'node-a', annotations: { keep: 'x', drop: 'y' } } });
    await inf.api.recordEvent({ kind: 'Node', name: 'node-a' }, 'Warning', 'BadPodCIDR', 'pod CIDR 198.18.0.0/33 is invalid');
    const events = server.store.list(def('events'), 'default');
    assert.equal(events.length, 1);
    assert.deepEqual(
      [events[0]!.involvedObject.kind, events[0]!.involvedObject.name, events[0]!.type, events[0]!.reason, events[0]!.source.host],
      ['Node', 'node-a', 'Warning', 'BadPodCIDR', 'node-a'],
    );
    // Missing namespace: the write fails, recordEvent does not throw.
    await inf.api.recordEvent({ kind: 'Pod', name: 'p', namespace: 'nope' }, 'Normal', 'X', 'y');
    assert.ok(logger.find(/could not record event/).length === 1);

    await inf.api.patchNodeAnnotations('node-a', { added: 'z', drop: null });
    assert.deepEqual(server.store.get(def('nodes'), undefined, 'node-a').metadata.annotations, { keep: 'x', added: 'z' });
    await assert.rejects(inf.api.patchNodeAnnotations('ghost', { a: 'b' }), /node ghost/);
  });
});
