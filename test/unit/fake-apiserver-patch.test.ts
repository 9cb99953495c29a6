import assert from 'node:assert/strict';
import { jsonPatch, mergePatch } from '../helpers/fake-apiserver/patch.ts';
import { ApiError } from '../helpers/fake-apiserver/status.ts';

describe('lab apiserver: JSON merge patch (RFC 7386)', () => {
  it('passes the RFC 7386 appendix A examples', () => {
    const cases: Array<[unknown, unknown, unknown]> = [
      [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
      [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
      [{ a: 'b' }, { a: null }, {}],
      [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
      [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
      [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
      [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
      [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
      [['a', 'b'], ['c', 'd'], ['c', 'd']],
      [{ a: 'b' }, ['c'], ['c']],
      [{ a: 'foo' }, null, null],
      [{ a: 'foo' }, 'bar', 'bar'],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [[1, 2], { a: 'b', c: null }, { a: 'b' }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ];
    for (const [target, patch, want] of cases) {
      assert.deepEqual(mergePatch(target, patch), want, JSON.stringify({ target, patch }));
    }
  });

  it('does not modify its inputs', () => {
    const target = { metadata: { labels: { a: '1' } } };
    const patch = { metadata: { labels: { b: '2' } } };
    mergePatch(target, patch);
    assert.deepEqual(target, { metadata: { labels: { a: '1' } } });
    assert.deepEqual(patch, { metadata: { labels: { b: '2' } } });
  });
});

describe('lab apiserver: JSON patch (RFC 6902)', () => {
  const doc = () => ({ foo: 'bar', arr: [1, 2, 3], obj: { 'a/b': 1, 'm~n': 2 } });

  it('adds, removes and replaces, including array positions and "-"', () => {
    assert.deepEqual(jsonPatch(doc(), [{ op: 'add', path: '/baz', value: 'qux' }]), { ...doc(), baz: 'qux' });
    assert.deepEqual(jsonPatch(doc(), [{ op: 'add', path: '/arr/1', value: 9 }]), { ...doc(), arr: [1, 9, 2, 3] });
    assert.deepEqual(jsonPatch(doc(), [{ op: 'add', path: '/arr/-', value: 4 }]), { ...doc(), arr: [1, 2, 3, 4] });
    assert.deepEqual(jsonPatch(doc(), [{ op: 'remove', path: '/arr/0' }]), { ...doc(), arr: [2, 3] });
    assert.deepEqual(jsonPatch(doc(), [{ op: 'replace', path: '/foo', value: { x: 1 } }]), { ...doc(), foo: { x: 1 } });
    assert.deepEqual(jsonPatch(doc(), [{ op: 'replace', path: '/arr/2', value: 7 }]), { ...doc(), arr: [1, 2, 7] });
  });

  it('unescapes ~1 and ~0 in pointers', () => {
    assert.deepEqual(jsonPatch(doc(), [{ op: 'replace', path: '/obj/a~1b', value: 5 }, { op: 'remove', path: '/obj/m~0n' }]), { ...doc(), obj: { 'a/b': 5 } });
  });

  it('moves, copies and tests', () => {
    assert.deepEqual(jsonPatch(doc(), [{ op: 'move', from: '/foo', path: '/moved' }]), { arr: [1, 2, 3], obj: doc().obj, moved: 'bar' });
    assert.deepEqual(jsonPatch(doc(), [{ op: 'move', from: '/arr/0', path: '/arr/2' }]), { ...doc(), arr: [2, 3, 1] });
    assert.deepEqual(jsonPatch(doc(), [{ op: 'copy', from: '/arr', path: '/arr2' }]), { ...doc(), arr2: [1, 2, 3] });
    assert.deepEqual(jsonPatch(doc(), [{ op: 'test', path: '/obj', value: { 'm~n': 2, 'a/b': 1 } }]), doc());
  });

  it('applies all operations or none, and leaves the input alone', () => {
    const input = doc();
    assert.throws(
      () => jsonPatch(input, [{ op: 'add', path: '/x', value: 1 }, { op: 'test', path: '/foo', value: 'nope' }]),
      (e: unknown) => e instanceof ApiError && e.code === 422 && /test operation 1 failed/.test(e.message),
    );
    assert.deepEqual(input, doc());
  });

  it('rejects bad operations with clear errors', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ op: 'add', path: '/foo' }, /needs "value"/],
      [[{ op: 'remove', path: '/missing' }], /does not exist/],
      [[{ op: 'replace', path: '/missing', value: 1 }], /does not exist/],
      [[{ op: 'add', path: '/no/such/parent', value: 1 }], /does not exist/],
      [[{ op: 'add', path: '/arr/7', value: 1 }], /out of bounds/],
      [[{ op: 'add', path: '/arr/01', value: 1 }], /invalid array index/],
      [[{ op: 'frobnicate', path: '/foo' }], /unknown op "frobnicate"/],
      [[{ op: 'add', path: 'foo', value: 1 }], /invalid JSON pointer/],
      [[{ op: 'move', from: '/obj', path: '/obj/inner' }], /own child/],
    ];
    for (const [ops, re] of cases) {
      assert.throws(() => jsonPatch(doc(), Array.isArray(ops) ? ops : [ops]), (e: unknown) => e instanceof ApiError && re.test(e.message), JSON.stringify(ops));
    }
    assert.throws(() => jsonPatch(doc(), { op: 'add' }), (e: unknown) => e instanceof ApiError && e.code === 400);
  });
});
