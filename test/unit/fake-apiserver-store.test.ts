import assert from 'node:assert/strict';
import { RESOURCES, Store } from '../helpers/fake-apiserver/index.ts';
import { ApiError } from '../helpers/fake-apiserver/status.ts';
import type { StoreEvent } from '../helpers/fake-apiserver/store.ts';

const def = (plural: string) => RESOURCES.find((r) => r.plural === plural)!;
const pods = def('pods');
const nodes = def('nodes');
const namespaces = def('namespaces');

function collect(store: Store, from?: string): { events: StoreEvent[]; stop: () => void } {
  const events: StoreEvent[] = [];
  const stop = store.watch(pods, undefined, from, { event: (e) => events.push(e), close: () => {} });
  return { events, stop };
}

describe('lab apiserver: store', () => {
  it('starts with default and kube-system namespaces', () => {
    const store = new Store();
    const names = store.list(namespaces).map((n) => n.metadata.name);
    assert.ok(names.includes('default') && names.includes('kube-system'));
  });

  it('gives every write a new, increasing resourceVersion, and sets uid/creationTimestamp/generation', () => {
    const store = new Store();
    const a = store.create(pods, 'default', { metadata: { name: 'a' }, spec: { nodeName: 'n1' } });
    const b = store.create(pods, 'default', { metadata: { name: 'b' } });
    assert.ok(Number(b.metadata.resourceVersion) > Number(a.metadata.resourceVersion));
    assert.equal(store.currentRv(), b.metadata.resourceVersion);
    assert.match(a.metadata.uid, /^[0-9a-f-]{36}$/);
    assert.match(a.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(a.metadata.generation, 1);
    assert.equal(a.kind, 'Pod');
    assert.equal(a.apiVersion, 'v1');
    const a2 = store.update(pods, 'default', 'a', { ...a, spec: { nodeName: 'n2' } });
    assert.equal(a2.metadata.generation, 2);
    assert.equal(a2.metadata.uid, a.metadata.uid);
    assert.ok(Number(a2.metadata.resourceVersion) > Number(b.metadata.resourceVersion));
  });

  it('treats an update that changes nothing as a no-op (same resourceVersion, no event)', () => {
    const store = new Store();
    const a = store.create(pods, 'default', { metadata: { name: 'a', labels: { x: '1' } } });
    const w = collect(store, store.currentRv());
    const same = store.update(pods, 'default', 'a', a);
    assert.equal(same.metadata.resourceVersion, a.metadata.resourceVersion);
    assert.equal(w.events.length, 0);
    w.stop();
  });

  it('refuses duplicates, stale updates and objects in missing namespaces', () => {
    const store = new Store();
    const a = store.create(pods, 'default', { metadata: { name: 'a' } });
    assert.throws(() => store.create(pods, 'default', { metadata: { name: 'a' } }), (e: unknown) => e instanceof ApiError && e.code === 409 && e.reason === 'AlreadyExists');
    store.update(pods, 'default', 'a', { ...a, metadata: { ...a.metadata, labels: { v: '2' } } });
    assert.throws(
      () => store.update(pods, 'default', 'a', { ...a, metadata: { ...a.metadata, labels: { v: '3' } } }),
      (e: unknown) => e instanceof ApiError && e.code === 409 && e.reason === 'Conflict',
    );
    assert.throws(
      () => store.create(pods, 'nope', { metadata: { name: 'a' } }),
      (e: unknown) => e instanceof ApiError && e.code === 404 && e.message === 'namespaces "nope" not found',
    );
    assert.throws(() => store.create(pods, 'default', { metadata: { name: 'Bad_Name' } }), (e: unknown) => e instanceof ApiError && e.code === 422 && /metadata\.name/.test(e.message));
    assert.throws(
      () => store.create(pods, 'default', { metadata: { name: 'c', labels: { a: 1 } } }),
      (e: unknown) => e instanceof ApiError && e.code === 422 && /metadata\.labels\.a/.test(e.message),
    );
  });

  it('generates names from generateName', () => {
    const store = new Store();
    const p = store.create(pods, 'default', { metadata: { generateName: 'web-' } });
    assert.match(p.metadata.name, /^web-[a-z0-9]{5}$/);
  });

  it('keeps status out of main-resource updates and everything else out of status updates', () => {
    const store = new Store();
    const n = store.create(nodes, undefined, { metadata: { name: 'n1' }, spec: { podCIDR: '198.18.1.0/24' }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.1' }] } });
    const n2 = store.update(nodes, undefined, 'n1', { ...n, spec: { podCIDR: '198.18.2.0/24' }, status: { addresses: [] } });
    assert.equal(n2.spec.podCIDR, '198.18.2.0/24');
    assert.deepEqual(n2.status, n.status);
    const n3 = store.update(nodes, undefined, 'n1', { ...n2, spec: { podCIDR: '198.18.9.0/24' }, status: { addresses: [] } }, { subresource: 'status' });
    assert.equal(n3.spec.podCIDR, '198.18.2.0/24');
    assert.deepEqual(n3.status, { addresses: [] });
  });

  it('replays history after a resourceVersion and expires versions older than the window', () => {
    const store = new Store(3);
    const start = store.currentRv();
    store.create(pods, 'default', { metadata: { name: 'a' } });
    const afterA = store.currentRv();
    store.create(pods, 'default', { metadata: { name: 'b' } });
    store.delete(pods, 'default', 'a');
    const w = collect(store, afterA);
    assert.deepEqual(
      w.events.map((e) => [e.type, e.object.metadata.name]),
      [
        ['ADDED', 'b'],
        ['DELETED', 'a'],
      ],
    );
    w.stop();
    // Three more writes push the first events out of the 3-event window.
    for (const n of ['c', 'd', 'e']) store.create(pods, 'default', { metadata: { name: n } });
    assert.throws(() => collect(store, start), (e: unknown) => e instanceof ApiError && e.code === 410 && e.reason === 'Expired');
    // compact() drops everything: only "now" is watchable.
    const now = store.currentRv();
    store.compact();
    assert.throws(() => collect(store, String(Number(now) - 1)), (e: unknown) => e instanceof ApiError && e.code === 410);
    assert.doesNotThrow(() => collect(store, now).stop());
  });

  it('watch from "0" sends ADDED for current objects first, then live events', () => {
    const store = new Store();
    store.create(pods, 'default', { metadata: { name: 'a' } });
    const w = collect(store, '0');
    store.create(pods, 'default', { metadata: { name: 'b' } });
    assert.deepEqual(
      w.events.map((e) => [e.type, e.object.metadata.name]),
      [
        ['ADDED', 'a'],
        ['ADDED', 'b'],
      ],
    );
    w.stop();
  });

  it('lists the state at an exact older resourceVersion', () => {
    const store = new Store();
    store.create(pods, 'default', { metadata: { name: 'a', labels: { v: '1' } } });
    const rv = Number(store.currentRv());
    const a = store.get(pods, 'default', 'a');
    store.update(pods, 'default', 'a', { ...a, metadata: { ...a.metadata, labels: { v: '2' } } });
    store.create(pods, 'default', { metadata: { name: 'b' } });
    const then = store.listAt(pods, undefined, rv);
    assert.deepEqual(then.map((p) => [p.metadata.name, p.metadata.labels.v]), [['a', '1']]);
  });

  it('deleting a namespace deletes its objects first', () => {
    const store = new Store();
    store.create(namespaces, undefined, { metadata: { name: 'ns1' } });
    store.create(pods, 'ns1', { metadata: { name: 'a' } });
    store.create(pods, 'default', { metadata: { name: 'b' } });
    const w = collect(store, store.currentRv());
    store.delete(namespaces, undefined, 'ns1');
    assert.deepEqual(w.events.map((e) => [e.type, e.object.metadata.name]), [['DELETED', 'a']]);
    assert.deepEqual(store.list(pods).map((p) => p.metadata.name), ['b']);
    assert.throws(() => store.get(namespaces, undefined, 'ns1'), (e: unknown) => e instanceof ApiError && e.code === 404);
    w.stop();
  });
});
