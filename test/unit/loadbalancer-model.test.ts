import assert from 'node:assert/strict';
import { hostRange, perFamily, type Family, type PerFamily, type V1Service } from '@krouter/sdk';
import { buildModel, isOurs, type ModelInput } from '../../plugins/loadbalancer/model.ts';
import { renderStatus } from '../../plugins/loadbalancer/render.ts';

const V4 = '198.18.100.0/30'; // hosts .1 and .2
const V6 = 'fd00:100::/126'; // hosts ::1 .. ::3

function ranges(texts: string[]): PerFamily<ReturnType<typeof hostRange>[]> {
  const out = perFamily<ReturnType<typeof hostRange>[]>(() => []);
  for (const t of texts) {
    const r = hostRange(t);
    out[r.family].push(r);
  }
  return out;
}

let seq = 0;
function lb(name: string, opts: { families?: string[]; policy?: string; ingress?: string[]; cls?: string; type?: string; loadBalancerIP?: string; externalIPs?: string[]; clusterIPs?: string[]; created?: number } = {}): V1Service {
  const created = opts.created ?? ++seq;
  return {
    metadata: { namespace: 'ns', name, uid: `uid-${name}`, resourceVersion: '1', creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, created)) },
    spec: {
      type: opts.type ?? 'LoadBalancer',
      ipFamilies: opts.families ?? ['IPv4', 'IPv6'],
      ...(opts.policy ? { ipFamilyPolicy: opts.policy } : {}),
      ...(opts.cls ? { loadBalancerClass: opts.cls } : {}),
      ...(opts.loadBalancerIP ? { loadBalancerIP: opts.loadBalancerIP } : {}),
      ...(opts.externalIPs ? { externalIPs: opts.externalIPs } : {}),
      clusterIPs: opts.clusterIPs ?? ['198.18.240.10'],
    },
    status: { loadBalancer: opts.ingress ? { ingress: opts.ingress.map((ip) => ({ ip })) } : {} },
  } as V1Service;
}

const input = (services: V1Service[], over: Partial<ModelInput> = {}): ModelInput => ({
  families: ['ipv4', 'ipv6'] as Family[],
  ranges: ranges([V4, V6]),
  defaultClass: true,
  services,
  ...over,
});

const ingressOf = (m: ReturnType<typeof buildModel>) => Object.fromEntries(m.writes.map((w) => [w.key, w.ingress]));

describe('loadbalancer model (the allocator)', () => {
  it('gives each LoadBalancer service one address per family it asks for, lowest free first, skipping network and broadcast', () => {
    const m = buildModel(input([lb('a'), lb('b', { families: ['IPv6'] }), lb('c', { families: ['IPv4'] })]));
    assert.deepEqual(ingressOf(m), { 'ns/a': ['198.18.100.1', 'fd00:100::1'], 'ns/b': ['fd00:100::2'], 'ns/c': ['198.18.100.2'] });
    assert.deepEqual(m.problems, []);
    assert.deepEqual(m.allocations.ipv4.map((a) => `${a.service} ${a.ip}`), ['ns/a 198.18.100.1', 'ns/c 198.18.100.2']);
    assert.equal(m.free.ipv4, 0n);
    assert.equal(m.free.ipv6, 1n);
  });

  it('the order of the ingress follows spec.ipFamilies', () => {
    const m = buildModel(input([lb('a', { families: ['IPv6', 'IPv4'] })]));
    assert.deepEqual(m.writes[0]!.ingress, ['fd00:100::1', '198.18.100.1']);
  });

  it('keeps valid existing addresses (restart-safe: the statuses are the state) and writes nothing when all is in place', () => {
    const m = buildModel(input([lb('a', { ingress: ['198.18.100.2', 'fd00:100::3'] }), lb('b')]));
    assert.deepEqual(ingressOf(m), { 'ns/b': ['198.18.100.1', 'fd00:100::1'] });
    const again = buildModel(input([lb('a', { ingress: ['198.18.100.2', 'fd00:100::3'] }), lb('b', { ingress: ['198.18.100.1', 'fd00:100::1'] })]));
    assert.deepEqual(again.writes, []);
  });

  it('exhaustion: a Warning naming the service that found no address; the others are still served', () => {
    const m = buildModel(input([lb('a', { families: ['IPv4'] }), lb('b', { families: ['IPv4'] }), lb('c', { families: ['IPv4'] }), lb('d', { families: ['IPv6'] })]));
    assert.deepEqual(ingressOf(m), { 'ns/a': ['198.18.100.1'], 'ns/b': ['198.18.100.2'], 'ns/d': ['fd00:100::1'] });
    assert.deepEqual(m.problems, [{ service: 'ns/c', uid: 'uid-c', reason: 'AllocationFailed', message: 'no free ipv4 address left in 198.18.100.0/30' }]);
  });

  it('RequireDualStack gets both families or nothing new; PreferDualStack takes what there is', () => {
    const full = [lb('x', { families: ['IPv4'] }), lb('y', { families: ['IPv4'] })];
    const m = buildModel(input([...full, lb('req', { policy: 'RequireDualStack' }), lb('pref', { policy: 'PreferDualStack' })]));
    assert.equal(ingressOf(m)['ns/req'], undefined);
    assert.deepEqual(ingressOf(m)['ns/pref'], ['fd00:100::1']);
    assert.deepEqual(m.problems.map((p) => `${p.service} ${p.reason}`), ['ns/req AllocationFailed', 'ns/pref AllocationFailed']);
  });

  it('a family without ranges: served families still get theirs; a service of that family alone gets a Warning', () => {
    const m = buildModel(input([lb('dual'), lb('v6', { families: ['IPv6'] })], { ranges: ranges([V4]) }));
    assert.deepEqual(ingressOf(m), { 'ns/dual': ['198.18.100.1'] });
    assert.deepEqual(m.problems.map((p) => `${p.service}: ${p.message}`), ['ns/v6: no ipv6 ranges are configured; no address allocated'.replace('ipv6 ranges', 'ipRanges of ipv6')]);
  });

  it('never hands one address out twice: externalIPs, ClusterIPs and other classes are used; a duplicate is moved off the younger service', () => {
    const other = lb('other', { cls: 'example.com/lb', ingress: ['198.18.100.1'], families: ['IPv4'] });
    const ext = { ...lb('ext', { type: 'ClusterIP', externalIPs: ['fd00:100::1'] }) };
    const older = lb('older', { families: ['IPv4'], ingress: ['198.18.100.2'], created: 1 });
    const younger = lb('younger', { ingress: ['198.18.100.2'], created: 2 });
    const m = buildModel(input([younger, other, ext, older]));
    assert.deepEqual(ingressOf(m), { 'ns/younger': ['fd00:100::2'] }, 'the younger loses the duplicate; no ipv4 left for it');
    assert.ok(m.problems.some((p) => p.service === 'ns/younger' && p.reason === 'IPConflict' && p.message.includes('ns/older')));
    assert.ok(m.problems.some((p) => p.service === 'ns/younger' && p.reason === 'AllocationFailed'));
    const all = [...m.allocations.ipv4, ...m.allocations.ipv6].map((a) => a.ip);
    assert.equal(new Set(all).size, all.length);
  });

  it('many services at once: every address distinct, exactly as many as the range holds', () => {
    const svcs = Array.from({ length: 300 }, (_, i) => lb(`s${i}`, { families: ['IPv4', 'IPv6'] }));
    const m = buildModel(input(svcs, { ranges: ranges(['198.18.100.0/24', 'fd00:100::/120']) }));
    const v4 = m.writes.flatMap((w) => w.ingress.filter((ip) => !ip.includes(':')));
    const v6 = m.writes.flatMap((w) => w.ingress.filter((ip) => ip.includes(':')));
    assert.equal(v4.length, 254);
    assert.equal(new Set(v4).size, 254);
    assert.equal(v6.length, 255, 'fd00:100::/120 without its all-zero address');
    assert.equal(new Set(v6).size, 255);
    assert.equal(m.problems.filter((p) => p.reason === 'AllocationFailed').length, 300 - 254 + (300 - 255), 'one Warning per service and family left without');
  });

  it('spec.loadBalancerIP: honoured when in range and free; malformed, out of range or held by another: one problem, nothing allocated for it, others served', () => {
    const m = buildModel(
      input([
        lb('holder', { families: ['IPv4'], ingress: ['198.18.100.1'] }),
        lb('asks', { families: ['IPv4'], loadBalancerIP: '198.18.100.2' }),
        lb('bad', { loadBalancerIP: '198.18.100.x' }),
        lb('outside', { loadBalancerIP: '198.18.99.1' }),
        lb('taken', { loadBalancerIP: '198.18.100.1' }),
        lb('fine', { families: ['IPv6'] }),
      ]),
    );
    assert.deepEqual(ingressOf(m), { 'ns/asks': ['198.18.100.2'], 'ns/fine': ['fd00:100::1'] });
    assert.deepEqual(m.problems.map((p) => `${p.service} ${p.reason}`), ['ns/bad InvalidLoadBalancerIP', 'ns/outside InvalidLoadBalancerIP', 'ns/taken LoadBalancerIPInUse']);
  });

  it('classes: kube-router and kube-router.io/loadbalancer always; none and "default" only with defaultClass; other classes never', () => {
    assert.equal(isOurs(lb('a', { cls: 'kube-router' }), false), true);
    assert.equal(isOurs(lb('a', { cls: 'kube-router.io/loadbalancer' }), false), true);
    assert.equal(isOurs(lb('a'), true), true);
    assert.equal(isOurs(lb('a'), false), false);
    assert.equal(isOurs(lb('a', { cls: 'default' }), true), true);
    assert.equal(isOurs(lb('a', { cls: 'example.com/lb' }), true), false);
    assert.equal(isOurs(lb('a', { type: 'NodePort' }), true), false);
    const m = buildModel(input([lb('theirs', { cls: 'example.com/lb' }), lb('none')], { defaultClass: false }));
    assert.deepEqual(m.writes, []);
  });

  it('released on a type change: a non-LoadBalancer service with addresses of the ranges loses its LoadBalancer status; a deleted one frees its address', () => {
    const changed = lb('was-lb', { type: 'ClusterIP', ingress: ['198.18.100.1', '203.0.113.9'] });
    const foreign = lb('foreign', { type: 'ClusterIP', ingress: ['203.0.113.10'] });
    const m = buildModel(input([changed, foreign, lb('new', { families: ['IPv4'] })]));
    const w = m.writes.find((x) => x.key === 'ns/was-lb')!;
    assert.deepEqual([w.ingress, w.removed], [[], ['198.18.100.1', '203.0.113.9']]);
    assert.equal(m.writes.find((x) => x.key === 'ns/foreign'), undefined, 'nothing of ours: not touched');
    assert.deepEqual(renderStatus(w).status?.loadBalancer, {});
    // The released address is not reused in the same pass (its holder's write may still fail).
    assert.deepEqual(ingressOf(m)['ns/new'], ['198.18.100.2']);
    const after = buildModel(input([lb('new2', { families: ['IPv4'] })]));
    assert.deepEqual(ingressOf(after)['ns/new2'], ['198.18.100.1']);
  });

  it('an address outside the ranges (ranges changed) or of a family the service does not ask for is replaced', () => {
    const m = buildModel(input([lb('a', { families: ['IPv4'], ingress: ['198.18.99.7', 'fd00:100::1'] })]));
    assert.deepEqual(m.writes.map((w) => [w.ingress, w.added, w.removed]), [[['198.18.100.1'], ['198.18.100.1'], ['198.18.99.7', 'fd00:100::1']]]);
  });

  it('renders the status write with the resourceVersion decided on and ipMode VIP', () => {
    const m = buildModel(input([lb('a', { families: ['IPv4'] })]));
    const body = renderStatus(m.writes[0]!);
    assert.equal(body.metadata?.resourceVersion, '1');
    assert.deepEqual(body.status?.loadBalancer, { ingress: [{ ip: '198.18.100.1', ipMode: 'VIP' }] });
  });
});
