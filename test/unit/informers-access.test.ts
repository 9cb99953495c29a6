import assert from 'node:assert/strict';
import { accessDenied, resourceOfPath } from '../../core/services/informers/access.ts';

describe('informers: RBAC refusals', () => {
  it('names the resource and its API group from the collection path', () => {
    assert.deepEqual(resourceOfPath('/api/v1/nodes'), { resource: 'nodes', group: '' });
    assert.deepEqual(resourceOfPath('/apis/discovery.k8s.io/v1/endpointslices'), { resource: 'endpointslices', group: 'discovery.k8s.io' });
  });

  it('a 403 of a list (ApiException.code) or a watch (statusCode) is an error naming verb, resource and group', () => {
    const list = accessDenied({ code: 403 }, 'list', '/apis/discovery.k8s.io/v1/endpointslices');
    assert.equal(list?.status, 403);
    assert.match(list!.message, /may not list endpointslices \(API group "discovery\.k8s\.io"\)/);
    assert.match(list!.message, /grant the verb "list" on "endpointslices"/);
    const watch = accessDenied(Object.assign(new Error('Forbidden'), { statusCode: 403 }), 'watch', '/api/v1/nodes');
    assert.match(watch!.message, /may not watch nodes \(the core API group/);
  });

  it('a 401 blames the credentials; other failures are not refusals', () => {
    assert.match(accessDenied({ code: 401 }, 'list', '/api/v1/pods')!.message, /credentials \(401\) to list pods/);
    assert.equal(accessDenied({ code: 500 }, 'list', '/api/v1/pods'), undefined);
    assert.equal(accessDenied(new Error('ECONNREFUSED'), 'watch', '/api/v1/pods'), undefined);
    assert.equal(accessDenied({ statusCode: 410 }, 'watch', '/api/v1/pods'), undefined);
  });
});
