import assert from 'node:assert/strict';
import { cacheCopy } from '../../core/services/informers/compact.ts';
import { KINDS } from '../../core/services/informers/kinds.ts';
import { endpointSliceFields, serviceFields, shared, sharedConditions } from '../../core/services/informers/projections.ts';
import { makeService } from '../helpers/services.ts';

/** An EndpointSlice as the EndpointSlice controller writes it, with the fields no plugin reads. */
const slice = () => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: {
    name: 'web-abcde',
    namespace: 'ns',
    uid: 'u-1',
    resourceVersion: '42',
    generation: 3,
    creationTimestamp: new Date(0),
    labels: { 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': '2026-01-01T00:00:00Z' },
    ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 's-1' }],
    managedFields: [{ manager: 'kube-controller-manager' }],
  },
  addressType: 'IPv4',
  endpoints: [
    {
      addresses: ['10.0.0.1'],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: 'n1',
      zone: 'z1',
      hints: { forZones: [{ name: 'z1' }], forNodes: [{ name: 'n1' }] },
      targetRef: { kind: 'Pod', name: 'web-1', namespace: 'ns', uid: 'p-1' },
      hostname: 'web-1',
    },
    { addresses: ['10.0.0.2'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'n2' },
    { addresses: ['10.0.0.3'] },
  ],
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
});

describe('informers: what the EndpointSlice cache keeps', () => {
  it('keeps every field a plugin reads (service proxy: labels, uid, address type, conditions, node, zone, hints, ports; router: endpoints of a node)', () => {
    const cached = endpointSliceFields(slice() as never);
    assert.deepEqual(cached, {
      addressType: 'IPv4',
      metadata: { name: 'web-abcde', namespace: 'ns', uid: 'u-1', resourceVersion: '42', labels: slice().metadata.labels },
      endpoints: [
        { addresses: ['10.0.0.1'], nodeName: 'n1', zone: 'z1', hints: { forZones: [{ name: 'z1' }], forNodes: [{ name: 'n1' }] }, conditions: { ready: true, serving: true, terminating: false } },
        { addresses: ['10.0.0.2'], nodeName: 'n2', conditions: { ready: false, serving: true, terminating: true } },
        { addresses: ['10.0.0.3'] },
      ],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
  });

  it('the informer of EndpointSlices caches through it; nodes keep the whole object', () => {
    const cached = cacheCopy(slice(), KINDS.endpointSlices.project) as ReturnType<typeof slice>;
    assert.equal(cached.metadata.creationTimestamp, undefined);
    assert.equal(cached.endpoints[0]!.targetRef, undefined);
    assert.deepEqual(cached.endpoints[0]!.addresses, ['10.0.0.1']);
    assert.equal((KINDS.nodes as { project?: unknown }).project, undefined);
  });

  it('endpoints with the same conditions share one frozen object; odd conditions are kept as they are', () => {
    const conditions = (i: number) => endpointSliceFields(slice() as never).endpoints![i]!.conditions;
    const a = conditions(0);
    const b = conditions(0);
    assert.equal(a, b);
    assert.ok(Object.isFrozen(a));
    assert.notEqual(a, conditions(1));
    const odd = { ready: true, future: 'x' } as never;
    assert.equal(sharedConditions(odd), odd);
    assert.deepEqual(sharedConditions({ serving: true }), { serving: true }, 'an absent condition stays absent (its default differs per reader)');
  });
});

describe('informers: what the Service cache keeps', () => {
  const svc = (name: string, ip: string) => ({
    ...makeService('ns', name, { clusterIPs: [ip, `fd00::${name.length}`], type: 'LoadBalancer', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }] }),
    metadata: { namespace: 'ns', name, uid: `u-${name}`, resourceVersion: '7', creationTimestamp: new Date(1000), labels: { app: name }, annotations: { 'kube-router.io/service.local': 'true' } },
  });

  it('keeps every field (the load balancer reads creationTimestamp and writes the status back)', () => {
    const original = cacheCopy(svc('web', '10.96.0.1'));
    const cached = cacheCopy(svc('web', '10.96.0.1'), KINDS.services.project);
    assert.deepEqual(cached, original);
    assert.equal((cached.metadata as { creationTimestamp: Date }).creationTimestamp.getTime(), 1000);
  });

  it('services with the same ports and families share one frozen copy of them; their own fields stay their own', () => {
    const a = cacheCopy(svc('a', '10.96.0.1'), KINDS.services.project);
    const b = cacheCopy(svc('b', '10.96.0.2'), KINDS.services.project);
    assert.equal(a.spec!.ports, b.spec!.ports);
    assert.equal(a.spec!.ipFamilies, b.spec!.ipFamilies);
    assert.ok(Object.isFrozen(a.spec!.ports![0]));
    assert.notEqual(a.spec, b.spec);
    assert.deepEqual(a.spec!.clusterIPs, ['10.96.0.1', 'fd00::1']);
    assert.deepEqual(b.spec!.clusterIPs, ['10.96.0.2', 'fd00::1']);
    const other = serviceFields({ spec: { ports: [{ port: 81 }] } } as never);
    assert.notEqual(other.spec!.ports, a.spec!.ports);
    assert.deepEqual(other.spec!.ports, [{ port: 81 }]);
  });

  it('shares only equal values: key order and every field count', () => {
    assert.equal(shared([{ port: 1, protocol: 'TCP' }]), shared([{ port: 1, protocol: 'TCP' }]));
    assert.notEqual(shared([{ port: 1, protocol: 'TCP' }]), shared([{ port: 1, protocol: 'UDP' }]));
    assert.equal(shared(undefined), undefined);
  });
});
