import assert from 'node:assert/strict';
import { desiredSlices, sliceObject, sliceUpToDate, type PodLike, type ServiceLike } from '../lab/controllers/endpointslices.ts';
import { RoundRobin, schedulableNodes } from '../lab/controllers/scheduler.ts';

function pod(name: string, opts: { labels?: Record<string, string>; ips?: string[]; ready?: boolean; deleting?: boolean; node?: string; ns?: string; phase?: string } = {}): PodLike {
  return {
    metadata: { name, namespace: opts.ns ?? 'demo', uid: `uid-${name}`, labels: opts.labels ?? { app: 'web' }, ...(opts.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}) },
    spec: { nodeName: opts.node ?? 'node-1', containers: [{ ports: [{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 8081, protocol: 'UDP' }] }] },
    status: {
      phase: opts.phase ?? 'Running',
      podIPs: (opts.ips ?? ['198.19.0.5', 'fd00:19::5']).map((ip) => ({ ip })),
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }],
    },
  };
}

const svc: ServiceLike = {
  metadata: { name: 'web', namespace: 'demo', uid: 'svc-uid' },
  spec: {
    selector: { app: 'web' },
    ipFamilies: ['IPv4', 'IPv6'],
    ports: [
      { name: 'http', port: 80, targetPort: 'http' },
      { name: 'dns', port: 53, protocol: 'UDP', targetPort: 'dns' },
      { name: 'raw', port: 9000 },
    ],
  },
};

describe('lab controllers: EndpointSlices', () => {
  it('makes one slice per address type with named ports resolved', () => {
    const slices = desiredSlices(svc, [pod('a'), pod('b', { ips: ['198.19.1.5'], node: 'node-2' })]);
    assert.deepEqual(slices.map((s) => [s.name, s.addressType, s.endpoints.map((e) => e.addresses[0])]), [
      ['web-ipv4', 'IPv4', ['198.19.0.5', '198.19.1.5']],
      ['web-ipv6', 'IPv6', ['fd00:19::5']],
    ]);
    assert.deepEqual(slices[0]!.ports, [
      { name: 'http', port: 8080, protocol: 'TCP' },
      { name: 'dns', port: 8081, protocol: 'UDP' },
      { name: 'raw', port: 9000, protocol: 'TCP' },
    ]);
    assert.deepEqual(slices[0]!.endpoints[1], {
      addresses: ['198.19.1.5'],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: 'node-2',
      targetRef: { kind: 'Pod', namespace: 'demo', name: 'b', uid: 'uid-b' },
    });
  });

  it('follows the service families only', () => {
    const v6only = { ...svc, spec: { ...svc.spec, ipFamilies: ['IPv6'] } };
    assert.deepEqual(desiredSlices(v6only, [pod('a')]).map((s) => s.addressType), ['IPv6']);
  });

  it('sets ready/serving/terminating from the pod', () => {
    const slices = desiredSlices(svc, [pod('a', { ready: false }), pod('b', { deleting: true }), pod('c', { deleting: true, ready: false })]);
    assert.deepEqual(
      slices[0]!.endpoints.map((e) => e.conditions),
      [
        { ready: false, serving: false, terminating: false },
        { ready: false, serving: true, terminating: true },
        { ready: false, serving: false, terminating: true },
      ],
    );
  });

  it('skips pods of other namespaces, other labels, finished pods and pods without an IP', () => {
    const slices = desiredSlices(svc, [pod('x', { ns: 'other' }), pod('y', { labels: { app: 'db' } }), pod('z', { phase: 'Succeeded' }), pod('w', { ips: [] })]);
    assert.deepEqual(slices.map((s) => [s.name, s.endpoints.length]), [['web-ipv4', 0], ['web-ipv6', 0]]);
  });

  it('splits by resolved port set when pods name their ports differently', () => {
    const other = pod('b');
    other.spec!.containers = [{ ports: [{ name: 'http', containerPort: 9090 }] }];
    const slices = desiredSlices({ ...svc, spec: { ...svc.spec, ipFamilies: ['IPv4'] } }, [pod('a'), other]);
    assert.deepEqual(slices.map((s) => [s.name, s.ports.map((p) => p.port)]), [['web-ipv4', [8080, 8081, 9000]], ['web-ipv4-1', [9090, 9000]]]);
  });

  it('selector-less and ExternalName services get no managed slices', () => {
    assert.deepEqual(desiredSlices({ ...svc, spec: { ...svc.spec, selector: {} } }, [pod('a')]), []);
    assert.deepEqual(desiredSlices({ ...svc, spec: { ...svc.spec, type: 'ExternalName' } }, [pod('a')]), []);
  });

  it('labels slices with the service name and compares content regardless of key order', () => {
    const [d] = desiredSlices(svc, [pod('a')]);
    const obj = sliceObject(svc, d!) as Record<string, any>;
    assert.equal(obj.metadata.labels['kubernetes.io/service-name'], 'web');
    const reordered = JSON.parse(JSON.stringify({ ports: obj.ports, endpoints: obj.endpoints.map((e: any) => ({ targetRef: e.targetRef, nodeName: e.nodeName, conditions: e.conditions, addresses: e.addresses })), addressType: obj.addressType, metadata: obj.metadata }));
    assert.equal(sliceUpToDate(reordered, obj), true);
    reordered.endpoints[0].conditions.ready = false;
    assert.equal(sliceUpToDate(reordered, obj), false);
  });
});

describe('lab controllers: scheduling', () => {
  const node = (name: string, ready: boolean, unschedulable = false) => ({ metadata: { name }, spec: { unschedulable }, status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } });
  it('rotates over ready, schedulable nodes in name order', () => {
    const names = schedulableNodes([node('node-10', true), node('node-2', true), node('node-1', true), node('node-3', false), node('node-4', true, true)]);
    assert.deepEqual(names, ['node-1', 'node-2', 'node-10']);
    const rr = new RoundRobin();
    assert.deepEqual([rr.pick(names), rr.pick(names), rr.pick(names), rr.pick(names)], ['node-1', 'node-2', 'node-10', 'node-1']);
    assert.equal(rr.pick([]), undefined);
  });
});
