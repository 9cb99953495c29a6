/**
 * Two loadbalancer plugins (two agents) against one API server (the
 * scripted one: real HTTP, resourceVersions, status subresource, Leases),
 * each with its own Kubernetes client, as two nodes would run them:
 * - many Services created at once: every one gets its addresses, no address
 *   is given twice, and only the Lease holder writes statuses;
 * - the holder stops: the standby takes the Lease and serves new Services;
 * - even two allocators that both believe they lead (the Lease taken out of
 *   the way) end with no address given twice.
 */
import assert from 'node:assert/strict';
import type { Family, V1Service } from '@krouter/sdk';
import { createTestContext, FakeAddressFamilies } from '@krouter/sdk/testing';
import { InformersService } from '../../core/services/informers/index.ts';
import { startLoadBalancer } from '../../plugins/loadbalancer/agent.ts';
import { loadBalancerConfigSchema } from '../../plugins/loadbalancer/config.ts';
import { RESOURCES, startApiServer, type ApiServer } from '../helpers/fake-apiserver/index.ts';

const SVC = RESOURCES.find((r) => r.plural === 'services')!;
const LEASE = RESOURCES.find((r) => r.plural === 'leases')!;
const FAMILIES: Family[] = ['ipv4', 'ipv6'];
const FAST_LEASE = { namespace: 'kube-system', leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 };

async function until<T>(what: string, fn: () => T | undefined, limitMs = 60_000): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Agent = Awaited<ReturnType<typeof startLoadBalancer>> & { name: string; informers: InformersService; writes: number };

describe('loadbalancer: two allocators against one API server', function () {
  this.timeout(180_000);
  let server: ApiServer;
  const agents: Agent[] = [];

  async function agent(name: string, ranges = ['198.18.100.0/26', 'fd00:100::/122']): Promise<Agent> {
    const config = loadBalancerConfigSchema.parse({ ipRanges: ranges });
    const t = createTestContext(config, { name: 'loadbalancer', nodeName: name });
    const informers = new InformersService({ logger: t.logger, metrics: t.metrics, master: server.url, nodeName: name, backoff: { initialMs: 20, maxMs: 200 } });
    const out = { name, informers, writes: 0 } as Agent;
    const write = informers.api.updateServiceStatus.bind(informers.api);
    (informers.api as { updateServiceStatus: typeof write }).updateServiceStatus = async (svc) => {
      const stored = await write(svc);
      out.writes++;
      return stored;
    };
    const instance = await startLoadBalancer(t.ctx, { families: new FakeAddressFamilies({ enabled: FAMILIES }), informers }, { debounceMs: 20, minIntervalMs: 50, lease: FAST_LEASE });
    Object.assign(out, instance);
    agents.push(out);
    return out;
  }

  const services = (): V1Service[] => server.store.list(SVC, undefined) as unknown as V1Service[];
  const ingressOf = (s: V1Service) => (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip!);
  const create = (name: string, families = ['IPv4', 'IPv6']) =>
    server.store.create(SVC, 'web', { metadata: { name }, spec: { type: 'LoadBalancer', ipFamilies: families, ipFamilyPolicy: families.length > 1 ? 'RequireDualStack' : 'SingleStack', ports: [{ port: 80 }] } });
  /** Every address held by two services. */
  const duplicates = () => {
    const seen = new Map<string, string>();
    const dup: string[] = [];
    for (const s of services()) {
      for (const ip of ingressOf(s)) {
        const other = seen.get(ip);
        if (other) dup.push(`${ip}: ${other} and ${s.metadata?.name}`);
        seen.set(ip, s.metadata!.name!);
      }
    }
    return dup;
  };
  const allServed = (names: string[]) => {
    const byName = new Map(services().map((s) => [s.metadata!.name!, s]));
    return names.every((n) => ingressOf(byName.get(n)!).length === 2) ? true : undefined;
  };

  beforeEach(async () => {
    server = await startApiServer({ bookmarkIntervalMs: 100 });
    server.store.create(RESOURCES.find((r) => r.plural === 'namespaces')!, undefined, { metadata: { name: 'web' } });
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) {
      await a.stop();
      await a.informers.close();
    }
    await server.close();
  });

  it('many services at once: each gets one address per family, none twice, written by the Lease holder only; the standby takes over when it stops', async () => {
    const a = await agent('node-a');
    const b = await agent('node-b');
    const leader = await until('a leader', () => [a, b].find((x) => x.elector.isLeader()));
    const standby = leader === a ? b : a;
    const names = Array.from({ length: 40 }, (_, i) => `svc-${i}`);
    for (const n of names) create(n);
    await until('every service served', () => allServed(names));
    assert.deepEqual(duplicates(), []);
    assert.equal(standby.writes, 0, 'the standby wrote no status');
    assert.ok(leader.writes >= names.length);
    assert.equal((server.store.get(LEASE, 'kube-system', 'kube-router-lballoc') as { spec: { holderIdentity: string } }).spec.holderIdentity, leader.name);

    // The holder stops (hands the Lease back); the standby leads and serves what comes next.
    await leader.stop();
    agents.splice(agents.indexOf(leader), 1);
    await leader.informers.close();
    await until('the standby leads', () => (standby.elector.isLeader() ? true : undefined));
    const more = Array.from({ length: 10 }, (_, i) => `late-${i}`);
    for (const n of more) create(n);
    await until('the late services served', () => allServed(more));
    assert.deepEqual(duplicates(), []);
    assert.equal((server.store.get(LEASE, 'kube-system', 'kube-router-lballoc') as { spec: { holderIdentity: string } }).spec.holderIdentity, standby.name);
    // A deleted service's addresses go back to the pool; the statuses hold nothing else.
    const status = standby.status!() as { allocations: Record<Family, string[]> };
    assert.equal(status.allocations.ipv4.length, names.length + more.length);
  });

  it('two allocators that both act as leader still end with no address given twice (resourceVersions, then the older service keeps a duplicate)', async () => {
    const a = await agent('node-a');
    const b = await agent('node-b');
    for (const x of [a, b]) x.agent.elector = { isLeader: () => true, holder: () => x.name };
    const names = Array.from({ length: 40 }, (_, i) => `svc-${i}`);
    for (const n of names) create(n);
    await until('every service served, nothing given twice', () => (allServed(names) && duplicates().length === 0 ? true : undefined));
    assert.ok(a.writes + b.writes >= names.length);
  });
});
