import assert from 'node:assert/strict';
import { cacheCopy, compactCopy } from '../../core/services/informers/compact.ts';

describe('informers: cached objects without empty slots', () => {
  it('copies only the fields that have values, at every depth, keeping arrays, nulls and dates', () => {
    class Model {
      a: unknown = 1;
      b: unknown = undefined;
      c: unknown = { d: undefined, e: [{ f: undefined, g: 'x' }], h: null };
      t = new Date(0);
    }
    const copy = compactCopy(new Model());
    assert.deepEqual(Object.keys(copy), ['a', 'c', 't']);
    assert.deepEqual(copy.c, { e: [{ g: 'x' }], h: null });
    assert.ok(copy.t instanceof Date);
    assert.equal(Object.getPrototypeOf(copy), Object.prototype, 'a plain object');
  });

  it('caches objects without their managedFields, everything else kept', () => {
    const object = { metadata: { name: 'web', labels: { app: 'web' }, managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:spec': {} } }] }, spec: { ports: [{ port: 80 }] } };
    const cached = cacheCopy(object);
    assert.deepEqual(cached, { metadata: { name: 'web', labels: { app: 'web' } }, spec: { ports: [{ port: 80 }] } });
    assert.equal(object.metadata.managedFields.length, 1, 'the object handed in is left as it was');
  });
});
