import assert from 'node:assert/strict';
import { ObjectCache } from '../../core/services/informers/cache.ts';

type Obj = { metadata: { name: string; namespace?: string; resourceVersion: string; labels?: Record<string, string> } };
const LABEL = 'kubernetes.io/service-name';
const slice = (ns: string, name: string, rv: number, service?: string): Obj => ({
  metadata: { name, namespace: ns, resourceVersion: String(rv), ...(service ? { labels: { [LABEL]: service } } : {}) },
});
const names = (objs: Obj[]) => objs.map((o) => o.metadata.name).sort();

describe('informer cache: label index', () => {
  it('lists the objects of a namespace carrying label=value, whether they came before or after the first query', () => {
    const c = new ObjectCache<Obj>();
    c.upsert(slice('a', 'web-1', 1, 'web'));
    c.upsert(slice('a', 'db-1', 2, 'db'));
    c.upsert(slice('b', 'web-1', 3, 'web'));
    c.upsert(slice('a', 'bare', 4));
    assert.deepEqual(names(c.listByLabel('a', LABEL, 'web')), ['web-1']);
    c.upsert(slice('a', 'web-2', 5, 'web'));
    assert.deepEqual(names(c.listByLabel('a', LABEL, 'web')), ['web-1', 'web-2']);
    assert.deepEqual(names(c.listByLabel('b', LABEL, 'web')), ['web-1']);
    assert.deepEqual(c.listByLabel('c', LABEL, 'web'), []);
    assert.deepEqual(c.listByLabel('a', 'other', 'web'), []);
  });

  it('follows relabels, deletes and relists', () => {
    const c = new ObjectCache<Obj>();
    c.upsert(slice('a', 's1', 1, 'web'));
    c.upsert(slice('a', 's2', 2, 'web'));
    assert.equal(c.listByLabel('a', LABEL, 'web').length, 2);
    c.upsert(slice('a', 's1', 3, 'db')); // moved to another service
    assert.deepEqual(names(c.listByLabel('a', LABEL, 'web')), ['s2']);
    assert.deepEqual(names(c.listByLabel('a', LABEL, 'db')), ['s1']);
    c.upsert(slice('a', 's2', 4)); // label removed
    assert.deepEqual(c.listByLabel('a', LABEL, 'web'), []);
    c.delete(slice('a', 's1', 5, 'db'));
    assert.deepEqual(c.listByLabel('a', LABEL, 'db'), []);
    c.replace([slice('a', 's3', 6, 'web'), slice('a', 's4', 7, 'web')]);
    assert.deepEqual(names(c.listByLabel('a', LABEL, 'web')), ['s3', 's4']);
    // The object returned is the current version.
    c.upsert(slice('a', 's3', 8, 'web'));
    assert.equal(c.listByLabel('a', LABEL, 'web').find((o) => o.metadata.name === 's3')!.metadata.resourceVersion, '8');
  });
});

describe('informer cache: namespace index', () => {
  it('lists a namespace whether its objects came before or after the first listing, and follows deletes', () => {
    const c = new ObjectCache<Obj>();
    c.upsert(slice('a', 'one', 1));
    c.upsert(slice('b', 'two', 2));
    assert.deepEqual(names(c.listNamespace('a')), ['one']);
    c.upsert(slice('a', 'three', 3));
    assert.deepEqual(names(c.listNamespace('a')), ['one', 'three']);
    c.delete(slice('a', 'one', 4));
    assert.deepEqual(names(c.listNamespace('a')), ['three']);
    c.delete(slice('a', 'three', 5));
    assert.deepEqual(c.listNamespace('a'), []);
    assert.deepEqual(names(c.listNamespace('b')), ['two']);
  });
});
