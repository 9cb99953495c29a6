import assert from 'node:assert/strict';
import { fieldValue, matchFields, matchLabels, parseFieldSelector, parseLabelSelector } from '../helpers/fake-apiserver/selectors.ts';
import { ApiError } from '../helpers/fake-apiserver/status.ts';

const sel = (text: string, labels: Record<string, string>): boolean => matchLabels(parseLabelSelector(text), labels);

describe('lab apiserver: label selectors', () => {
  it('matches equality and inequality', () => {
    assert.equal(sel('app=web', { app: 'web' }), true);
    assert.equal(sel('app==web', { app: 'web' }), true);
    assert.equal(sel('app=web', { app: 'db' }), false);
    assert.equal(sel('app!=web', { app: 'db' }), true);
    assert.equal(sel('app!=web', { app: 'web' }), false);
    // Like Kubernetes: != matches objects without the key.
    assert.equal(sel('app!=web', {}), true);
  });

  it('matches set-based requirements, with commas inside parentheses', () => {
    assert.equal(sel('env in (prod, staging)', { env: 'staging' }), true);
    assert.equal(sel('env in (prod,staging)', { env: 'dev' }), false);
    assert.equal(sel('env in (prod)', {}), false);
    assert.equal(sel('env notin (prod,staging)', { env: 'dev' }), true);
    assert.equal(sel('env notin (prod,staging)', { env: 'prod' }), false);
    assert.equal(sel('env notin (prod)', {}), true);
    assert.equal(sel('env in (a,b),tier=fe', { env: 'b', tier: 'fe' }), true);
    assert.equal(sel('env in (a,b),tier=fe', { env: 'b', tier: 'be' }), false);
  });

  it('matches existence and absence', () => {
    assert.equal(sel('app', { app: '' }), true);
    assert.equal(sel('app', { other: 'x' }), false);
    assert.equal(sel('!app', { other: 'x' }), true);
    assert.equal(sel('!app', { app: 'x' }), false);
    assert.equal(sel('kubernetes.io/metadata.name=ns1,!skip', { 'kubernetes.io/metadata.name': 'ns1' }), true);
  });

  it('an empty selector matches everything', () => {
    assert.equal(sel('', {}), true);
    assert.deepEqual(parseLabelSelector(undefined), []);
  });

  it('rejects malformed selectors with a 400 naming the selector', () => {
    for (const bad of ['app in (a', 'app=in=x', ',', 'a b', 'app in ()', 'bad key!=x', 'k=v v']) {
      assert.throws(
        () => parseLabelSelector(bad),
        (e: unknown) => e instanceof ApiError && e.code === 400 && e.message.includes(bad),
        bad,
      );
    }
  });
});

describe('lab apiserver: field selectors', () => {
  const pod = { metadata: { name: 'p1', namespace: 'ns1' }, spec: { nodeName: 'n1' }, status: { phase: 'Running' } };
  const allowed = ['metadata.name', 'metadata.namespace', 'spec.nodeName', 'status.phase'];
  const sel = (text: string, obj: unknown = pod): boolean => matchFields(parseFieldSelector(text, allowed, 'pods'), obj);

  it('matches =, == and != on nested fields', () => {
    assert.equal(sel('spec.nodeName=n1'), true);
    assert.equal(sel('spec.nodeName==n2'), false);
    assert.equal(sel('spec.nodeName!=n2'), true);
    assert.equal(sel('metadata.name=p1,metadata.namespace=ns1,status.phase=Running'), true);
    assert.equal(sel('metadata.name=p1,status.phase!=Running'), false);
  });

  it('reads a missing field as the empty string', () => {
    assert.equal(fieldValue({ spec: {} }, 'spec.nodeName'), '');
    assert.equal(sel('spec.nodeName=', { metadata: { name: 'x' }, spec: {} }), true);
    assert.equal(sel('spec.nodeName!=', { metadata: { name: 'x' }, spec: {} }), false);
  });

  it('refuses unsupported field labels with the label and resource named', () => {
    assert.throws(
      () => parseFieldSelector('spec.hostname=x', allowed, 'pods'),
      (e: unknown) => e instanceof ApiError && e.code === 400 && /spec\.hostname/.test(e.message) && /pods/.test(e.message),
    );
    assert.throws(() => parseFieldSelector('nonsense', allowed, 'pods'), (e: unknown) => e instanceof ApiError && e.code === 400);
  });
});
