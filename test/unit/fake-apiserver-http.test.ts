import assert from 'node:assert/strict';
import { startApiServer, type ApiServer } from '../helpers/fake-apiserver/index.ts';

interface WatchEvent {
  type: string;
  object: any;
}

/** Reads a watch stream event by event. */
class WatchReader {
  private buf = '';
  private readonly queue: WatchEvent[] = [];
  private waiting?: (e: WatchEvent | undefined) => void;
  private ended = false;
  readonly controller = new AbortController();

  constructor(readonly response: Response) {
    void this.pump();
  }

  private async pump(): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of this.response.body as unknown as AsyncIterable<Uint8Array>) {
        this.buf += decoder.decode(chunk, { stream: true });
        let i: number;
        while ((i = this.buf.indexOf('\n')) >= 0) {
          const line = this.buf.slice(0, i);
          this.buf = this.buf.slice(i + 1);
          if (line.trim()) this.push(JSON.parse(line));
        }
      }
    } catch {
      // aborted
    }
    this.ended = true;
    this.waiting?.(undefined);
  }

  private push(e: WatchEvent): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w(e);
    } else this.queue.push(e);
  }

  /** The next event, or undefined when the stream ended. */
  next(): Promise<WatchEvent | undefined> {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** The next event that is not a BOOKMARK. */
  async nextChange(): Promise<WatchEvent | undefined> {
    for (;;) {
      const e = await this.next();
      if (e?.type !== 'BOOKMARK') return e;
    }
  }
}

describe('lab apiserver: HTTP', () => {
  let server: ApiServer;
  const readers: WatchReader[] = [];

  const req = async (method: string, path: string, body?: unknown, contentType = 'application/json', headers: Record<string, string> = {}) => {
    const res = await fetch(server.url + path, {
      method,
      headers: { 'Content-Type': contentType, ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };

  const watch = async (path: string): Promise<WatchReader> => {
    const controller = new AbortController();
    const res = await fetch(server.url + path, { signal: controller.signal });
    assert.equal(res.status, 200);
    const r = new WatchReader(res);
    (r as any).abort = () => controller.abort();
    readers.push(r);
    return r;
  };

  beforeEach(async () => {
    server = await startApiServer({ bookmarkIntervalMs: 50, historyLimit: 100 });
  });
  afterEach(async () => {
    for (const r of readers.splice(0)) (r as any).abort();
    await server.close();
  });

  it('serves discovery and version, and a clean 404 for openapi', async () => {
    const core = await req('GET', '/api/v1');
    assert.equal(core.body.kind, 'APIResourceList');
    const podRes = core.body.resources.find((r: any) => r.name === 'pods');
    assert.deepEqual(podRes.shortNames, ['po']);
    assert.equal(podRes.namespaced, true);
    assert.ok(podRes.verbs.includes('watch'));
    assert.ok(core.body.resources.some((r: any) => r.name === 'pods/status'));
    const groups = await req('GET', '/apis');
    assert.deepEqual(groups.body.groups.map((g: any) => g.name).sort(), ['coordination.k8s.io', 'discovery.k8s.io', 'networking.k8s.io']);
    const net = await req('GET', '/apis/networking.k8s.io/v1');
    assert.deepEqual(net.body.resources[0].shortNames, ['netpol']);
    assert.equal((await req('GET', '/version')).body.major, '1');
    const openapi = await req('GET', '/openapi/v2');
    assert.equal(openapi.status, 404);
    assert.equal(openapi.body.kind, 'Status');
  });

  it('creates, gets, lists with selectors, and answers errors as Status objects', async () => {
    const created = await req('POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', labels: { app: 'web' } }, spec: { nodeName: 'n1' } });
    assert.equal(created.status, 201);
    await req('POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'b', labels: { app: 'db' } }, spec: { nodeName: 'n2' } });
    const dup = await req('POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'a' } });
    assert.equal(dup.status, 409);
    assert.deepEqual(
      { kind: dup.body.kind, apiVersion: dup.body.apiVersion, status: dup.body.status, reason: dup.body.reason, code: dup.body.code },
      { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'AlreadyExists', code: 409 },
    );
    const noNs = await req('POST', '/api/v1/namespaces/missing/pods', { metadata: { name: 'a' } });
    assert.equal(noNs.status, 404);
    assert.equal(noNs.body.reason, 'NotFound');

    const got = await req('GET', '/api/v1/namespaces/default/pods/a');
    assert.equal(got.body.metadata.uid, created.body.metadata.uid);
    const all = await req('GET', '/api/v1/pods');
    assert.equal(all.body.kind, 'PodList');
    assert.equal(all.body.metadata.resourceVersion, String(Number(created.body.metadata.resourceVersion) + 1));
    assert.deepEqual(all.body.items.map((p: any) => p.metadata.name), ['a', 'b']);
    const byLabel = await req('GET', '/api/v1/namespaces/default/pods?labelSelector=' + encodeURIComponent('app in (db,cache)'));
    assert.deepEqual(byLabel.body.items.map((p: any) => p.metadata.name), ['b']);
    const byField = await req('GET', '/api/v1/pods?fieldSelector=' + encodeURIComponent('spec.nodeName=n1'));
    assert.deepEqual(byField.body.items.map((p: any) => p.metadata.name), ['a']);
    const badField = await req('GET', '/api/v1/pods?fieldSelector=spec.bogus%3Dx');
    assert.equal(badField.status, 400);
    assert.equal(badField.body.kind, 'Status');
    const missing = await req('GET', '/api/v1/namespaces/default/pods/zzz');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.message, 'pods "zzz" not found');
  });

  it('updates with resourceVersion conflicts, patches by merge and json patch, refuses strategic merge', async () => {
    const a = (await req('POST', '/api/v1/namespaces/default/services', { metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } })).body;
    const put = await req('PUT', '/api/v1/namespaces/default/services/s', { ...a, spec: { ports: [{ port: 81 }] } });
    assert.equal(put.status, 200);
    const stale = await req('PUT', '/api/v1/namespaces/default/services/s', { ...a, spec: { ports: [{ port: 82 }] } });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.reason, 'Conflict');

    const merged = await req('PATCH', '/api/v1/namespaces/default/services/s', { metadata: { labels: { x: '1' } }, spec: { ports: [{ port: 90 }] } }, 'application/merge-patch+json');
    assert.equal(merged.status, 200);
    assert.deepEqual(merged.body.metadata.labels, { x: '1' });
    assert.deepEqual(merged.body.spec.ports, [{ port: 90 }]);
    const jp = await req('PATCH', '/api/v1/namespaces/default/services/s', [{ op: 'add', path: '/spec/ports/-', value: { port: 91 } }, { op: 'remove', path: '/metadata/labels/x' }], 'application/json-patch+json');
    assert.equal(jp.status, 200);
    assert.deepEqual(jp.body.spec.ports, [{ port: 90 }, { port: 91 }]);
    assert.deepEqual(jp.body.metadata.labels, {});
    const failedTest = await req('PATCH', '/api/v1/namespaces/default/services/s', [{ op: 'test', path: '/spec/ports/0/port', value: 1 }], 'application/json-patch+json');
    assert.equal(failedTest.status, 422);

    for (const type of ['application/strategic-merge-patch+json', 'application/apply-patch+yaml']) {
      const r = await req('PATCH', '/api/v1/namespaces/default/services/s', { spec: { ports: [] } }, type);
      assert.equal(r.status, 415, type);
      assert.equal(r.body.reason, 'UnsupportedMediaType');
    }
    const after = await req('GET', '/api/v1/namespaces/default/services/s');
    assert.deepEqual(after.body.spec.ports, [{ port: 90 }, { port: 91 }]);

    // A resourceVersion in a merge patch is a precondition.
    const rvPatch = await req('PATCH', '/api/v1/namespaces/default/services/s', { metadata: { resourceVersion: a.metadata.resourceVersion, labels: { y: '1' } } }, 'application/merge-patch+json');
    assert.equal(rvPatch.status, 409);
  });

  it('status subresource changes only status; main updates ignore status', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'p' }, spec: { nodeName: 'n1' } });
    const st = await req('PATCH', '/api/v1/namespaces/default/pods/p/status', { spec: { nodeName: 'evil' }, status: { phase: 'Running', podIP: '198.18.0.5' } }, 'application/merge-patch+json');
    assert.equal(st.status, 200);
    assert.equal(st.body.status.phase, 'Running');
    assert.equal(st.body.spec.nodeName, 'n1');
    const main = await req('PATCH', '/api/v1/namespaces/default/pods/p', { status: { phase: 'Failed' }, metadata: { labels: { a: 'b' } } }, 'application/merge-patch+json');
    assert.equal(main.body.status.phase, 'Running');
    assert.deepEqual(main.body.metadata.labels, { a: 'b' });
    const es = await req('PATCH', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/x/status', {}, 'application/merge-patch+json');
    assert.equal(es.status, 404);
  });

  it('deletes returning the object; deleting a namespace deletes what is in it', async () => {
    await req('POST', '/api/v1/namespaces', { metadata: { name: 'ns1' } });
    await req('POST', '/apis/networking.k8s.io/v1/namespaces/ns1/networkpolicies', { metadata: { name: 'np' }, spec: { podSelector: {} } });
    const del = await req('DELETE', '/api/v1/namespaces/ns1');
    assert.equal(del.status, 200);
    assert.equal(del.body.metadata.name, 'ns1');
    const list = await req('GET', '/apis/networking.k8s.io/v1/networkpolicies');
    assert.deepEqual(list.body.items, []);
    const again = await req('DELETE', '/api/v1/namespaces/ns1');
    assert.equal(again.status, 404);
  });

  it('events allow create and list only', async () => {
    const ev = await req('POST', '/api/v1/namespaces/default/events', { metadata: { generateName: 'x.' }, involvedObject: { kind: 'Node', name: 'n1' }, reason: 'Test', type: 'Normal', message: 'hi' });
    assert.equal(ev.status, 201);
    const list = await req('GET', '/api/v1/events?fieldSelector=involvedObject.name%3Dn1');
    assert.equal(list.body.items.length, 1);
    const del = await req('DELETE', `/api/v1/namespaces/default/events/${ev.body.metadata.name}`);
    assert.equal(del.status, 405);
  });

  it('watches: initial ADDED from rv 0, live events, selector transitions, bookmarks, timeout', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'a', labels: { app: 'web' } } });
    const w = await watch('/api/v1/pods?watch=1&resourceVersion=0&labelSelector=app%3Dweb&allowWatchBookmarks=true');
    const first = await w.nextChange();
    assert.deepEqual([first?.type, first?.object.metadata.name], ['ADDED', 'a']);
    await req('PATCH', '/api/v1/namespaces/default/pods/a', { metadata: { labels: { v: '2' } } }, 'application/merge-patch+json');
    assert.equal((await w.nextChange())?.type, 'MODIFIED');
    // Stops matching: DELETED; matches again: ADDED.
    await req('PATCH', '/api/v1/namespaces/default/pods/a', { metadata: { labels: { app: 'db' } } }, 'application/merge-patch+json');
    assert.equal((await w.nextChange())?.type, 'DELETED');
    await req('PATCH', '/api/v1/namespaces/default/pods/a', { metadata: { labels: { app: 'web' } } }, 'application/merge-patch+json');
    assert.equal((await w.nextChange())?.type, 'ADDED');
    await req('DELETE', '/api/v1/namespaces/default/pods/a');
    const gone = await w.nextChange();
    assert.equal(gone?.type, 'DELETED');
    let e: WatchEvent | undefined;
    do e = await w.next();
    while (e && e.type !== 'BOOKMARK');
    assert.equal(e?.object.kind, 'Pod');
    assert.equal(e?.object.metadata.resourceVersion, gone?.object.metadata.resourceVersion);

    const timed = await watch('/api/v1/nodes?watch=true&timeoutSeconds=1');
    assert.equal(await timed.next(), undefined);
  });

  it('resumes a watch from a resourceVersion and sends a 410 Expired ERROR for one too old', async () => {
    const a = (await req('POST', '/api/v1/nodes', { metadata: { name: 'n1' } })).body;
    await req('POST', '/api/v1/nodes', { metadata: { name: 'n2' } });
    const w = await watch(`/api/v1/nodes?watch=1&resourceVersion=${a.metadata.resourceVersion}`);
    const ev = await w.nextChange();
    assert.deepEqual([ev?.type, ev?.object.metadata.name], ['ADDED', 'n2']);

    server.store.compact();
    const old = await watch(`/api/v1/nodes?watch=1&resourceVersion=${a.metadata.resourceVersion}`);
    const err = await old.next();
    assert.equal(err?.type, 'ERROR');
    assert.deepEqual([err?.object.kind, err?.object.code, err?.object.reason], ['Status', 410, 'Expired']);
    assert.equal(await old.next(), undefined);

    // closeWatches() ends open streams.
    server.closeWatches();
    assert.equal(await w.nextChange(), undefined);
  });

  it('serves a Table when asked', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', { metadata: { name: 'a' }, spec: { nodeName: 'n1' } });
    const t = await req('GET', '/api/v1/namespaces/default/pods', undefined, 'application/json', { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    assert.equal(t.body.kind, 'Table');
    assert.equal(t.body.columnDefinitions[0].name, 'Name');
    assert.equal(t.body.rows[0].cells[0], 'a');
    assert.equal(t.body.rows[0].object.kind, 'PartialObjectMetadata');
  });
});
