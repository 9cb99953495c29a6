import assert from 'node:assert/strict';
import type { Family, V1Service } from '@krouter/sdk';
import { createTestContext, FakeAddressFamilies, FakeHealth, FakeInformers, MemoryLogger, MemoryMetrics } from '@krouter/sdk/testing';
import { ConfigError, ConfigSource, configSchema } from '../../core/config/index.ts';
import { createAgentServices } from '../../core/container.ts';
import { builtins } from '../../core/host/builtins.ts';
import { preparePlugins } from '../../core/host/prepare.ts';
import { LoadBalancerAgent, leaseNamespace } from '../../plugins/loadbalancer/agent.ts';
import { loadBalancerConfigSchema, parseDuration } from '../../plugins/loadbalancer/config.ts';

const RANGES: Record<Family, string> = { ipv4: '198.18.100.0/30', ipv6: 'fd00:100::/126' };
const KUBE: Record<Family, string> = { ipv4: 'IPv4', ipv6: 'IPv6' };

function service(name: string, families: Family[], extra: Partial<V1Service['spec']> = {}): V1Service {
  return {
    metadata: { namespace: 'web', name, uid: `uid-${name}`, creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, Number(name.replace(/\D/g, '') || 0))) },
    spec: { type: 'LoadBalancer', ipFamilies: families.map((f) => KUBE[f]), clusterIPs: [], ...extra },
    status: {},
  } as V1Service;
}

function setup(families: Family[], opts: { leader?: boolean; ranges?: string[] } = {}) {
  const config = loadBalancerConfigSchema.parse({ ipRanges: opts.ranges ?? families.map((f) => RANGES[f]) });
  const t = createTestContext(config, { name: 'loadbalancer', nodeName: 'node-1' });
  const informers = new FakeInformers();
  const agent = new LoadBalancerAgent(t.ctx, { families: new FakeAddressFamilies({ enabled: families }), informers });
  let leading = opts.leader ?? true;
  agent.elector = { isLeader: () => leading, holder: () => (leading ? 'node-1' : 'node-2') };
  const ingress = (name: string) => (informers.services.get(`web/${name}`)?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip);
  return { ...t, informers, agent, ingress, setLeader: (v: boolean) => (leading = v) };
}

describe('loadbalancer plugin (with the SDK test doubles)', () => {
  for (const families of [['ipv4'], ['ipv6'], ['ipv4', 'ipv6']] as Family[][]) {
    it(`${families.join('+')}: the leader writes one address per family into the status; status() and metrics show them`, async () => {
      const t = setup(families);
      t.informers.services.add(service('a1', families));
      await t.agent.sync();
      const want = families.map((f) => (f === 'ipv4' ? '198.18.100.1' : 'fd00:100::1'));
      assert.deepEqual(t.ingress('a1'), want);
      assert.deepEqual(t.informers.api.events.map((e) => `${e.type} ${e.reason} ${e.ref.namespace}/${e.ref.name}: ${e.message}`), [`Normal IPAllocated web/a1: allocated ${want.join(', ')}`]);
      const status = t.agent.status('kube-system/kube-router-lballoc') as Record<string, any>;
      assert.equal(status.leader, true);
      for (const f of families) {
        assert.deepEqual(status.allocations[f], [`web/a1 ${f === 'ipv4' ? '198.18.100.1' : 'fd00:100::1'}`]);
        assert.equal(t.metrics.value('loadbalancer_addresses_allocated', { family: f }), 1);
        assert.equal(t.metrics.value('loadbalancer_addresses_free', { family: f }), f === 'ipv4' ? 1 : 2);
      }
      assert.equal(t.metrics.value('loadbalancer_leader'), 1);
      // Level-triggered: a second sync changes nothing.
      await t.agent.sync();
      assert.equal(t.informers.api.statusUpdates.length, 1);
    });
  }

  it('a standby writes nothing and reports nothing, but shows the allocations and its leadership', async () => {
    const t = setup(['ipv4', 'ipv6'], { leader: false });
    t.informers.services.add({ ...service('a1', ['ipv4']), status: { loadBalancer: { ingress: [{ ip: '198.18.100.2' }] } } });
    t.informers.services.add(service('a2', ['ipv4']));
    await t.agent.sync();
    assert.deepEqual(t.informers.api.statusUpdates, []);
    assert.deepEqual(t.informers.api.events, []);
    assert.equal(t.metrics.value('loadbalancer_leader'), 0);
    const status = t.agent.status('kube-system/kube-router-lballoc') as Record<string, any>;
    assert.deepEqual([status.leader, status.holder, status.allocations.ipv4], [false, 'node-2', ['web/a2 198.18.100.1', 'web/a1 198.18.100.2']]);
    t.setLeader(true);
    await t.agent.sync();
    assert.deepEqual(t.ingress('a2'), ['198.18.100.1']);
  });

  it('exhaustion: one Warning event naming the service (not repeated by later syncs); the others are served; a delete frees an address for it', async () => {
    const t = setup(['ipv4']);
    for (const n of ['s1', 's2', 's3']) t.informers.services.add(service(n, ['ipv4']));
    await t.agent.sync();
    await t.agent.sync();
    assert.deepEqual([t.ingress('s1'), t.ingress('s2'), t.ingress('s3')], [['198.18.100.1'], ['198.18.100.2'], []]);
    const warnings = t.informers.api.events.filter((e) => e.type === 'Warning');
    assert.deepEqual(warnings.map((e) => `${e.reason} ${e.ref.namespace}/${e.ref.name}: ${e.message}`), ['AllocationFailed web/s3: no free ipv4 address left in 198.18.100.0/30']);
    assert.equal(t.metrics.value('loadbalancer_addresses_free', { family: 'ipv4' }), 0);
    t.informers.services.delete('web/s1');
    await t.agent.sync();
    assert.deepEqual(t.ingress('s3'), ['198.18.100.1']);
  });

  it('a bad spec.loadBalancerIP: one Warning event for that service, every other service still served', async () => {
    const t = setup(['ipv4', 'ipv6']);
    t.informers.services.add(service('bad1', ['ipv4'], { loadBalancerIP: 'not-an-ip' }));
    t.informers.services.add(service('ok2', ['ipv4', 'ipv6']));
    await t.agent.sync();
    await t.agent.sync();
    assert.deepEqual(t.ingress('bad1'), []);
    assert.deepEqual(t.ingress('ok2'), ['198.18.100.1', 'fd00:100::1']);
    const warnings = t.informers.api.events.filter((e) => e.type === 'Warning');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.reason, 'InvalidLoadBalancerIP');
    assert.equal(warnings[0]!.ref.name, 'bad1');
  });

  it('a status written but not yet in the cache is not handed out again (the informer lags the writes)', async () => {
    const t = setup(['ipv4']);
    t.informers.services.add(service('s1', ['ipv4']));
    // The API stores the write; the watch has not delivered it yet.
    const stored: V1Service[] = [];
    t.informers.api.updateServiceStatus = async (svc) => {
      const out = { ...structuredClone(svc), metadata: { ...svc.metadata, resourceVersion: String(Number(svc.metadata?.resourceVersion) + 100) } };
      stored.push(out);
      return out;
    };
    await t.agent.sync();
    t.informers.services.add(service('s2', ['ipv4']));
    await t.agent.sync();
    assert.deepEqual(stored.map((s) => `${s.metadata?.name} ${s.status?.loadBalancer?.ingress?.[0]?.ip}`), ['s1 198.18.100.1', 's2 198.18.100.2']);
  });

  it('two writes of one service before the cache shows either: the cache stays behind both', async () => {
    const t = setup(['ipv4']);
    t.informers.services.add({ ...service('s1', ['ipv4']), spec: { ...service('s1', ['ipv4']).spec, loadBalancerIP: '198.18.100.2' } });
    let rv = 100;
    const stored: V1Service[] = [];
    t.informers.api.updateServiceStatus = async (svc) => {
      const out = { ...structuredClone(svc), metadata: { ...svc.metadata, resourceVersion: String(++rv) } };
      stored.push(out);
      return out;
    };
    await t.agent.sync();
    // Seen by the agent through its own write only: the cache still has the version before it.
    const written = stored[0]!;
    (t.agent as unknown as { written: Map<string, unknown> }).written.set('web/s1', {
      superseded: new Set([t.informers.services.get('web/s1')!.metadata!.resourceVersion]),
      stored: { ...written, status: { loadBalancer: { ingress: [{ ip: '198.18.100.1', ipMode: 'VIP' }] } } },
    });
    // The decision moves s1 to its requested address (a second write), then a new service comes.
    await t.agent.sync();
    t.informers.services.add(service('s2', ['ipv4']));
    await t.agent.sync();
    assert.deepEqual(stored.map((s) => `${s.metadata?.name} ${s.status?.loadBalancer?.ingress?.[0]?.ip}`), ['s1 198.18.100.2', 's1 198.18.100.2', 's2 198.18.100.1']);
  });

  it('released when the type changes away from LoadBalancer', async () => {
    const t = setup(['ipv4']);
    const s = t.informers.services.add(service('s1', ['ipv4']));
    await t.agent.sync();
    const current = t.informers.services.get('web/s1')!;
    t.informers.services.update({ ...current, spec: { ...current.spec, type: 'ClusterIP' } });
    await t.agent.sync();
    assert.deepEqual(t.ingress('s1'), []);
    assert.ok(s);
  });

  it('config: defaults; durations as kube-router takes them; a malformed or overlapping range is an error naming the key', async () => {
    const c = loadBalancerConfigSchema.parse({ ipRanges: ['198.18.100.0/24'] });
    assert.deepEqual([c.defaultClass, c.syncPeriod], [true, 60_000]);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1 m'), undefined);
    const cfg = { ...configSchema.parse({ plugins: { loadbalancer: { enabled: true, ipRanges: ['198.18.100.0/24', '198.18.300.0/24'], syncPeriod: 'soon' } } }), nodeName: 'n1' };
    const services = createAgentServices({ config: cfg, logger: new MemoryLogger(), metrics: new MemoryMetrics(), health: new FakeHealth() });
    let problems: readonly string[] = [];
    try {
      await preparePlugins({ config: cfg, source: new ConfigSource('/etc/krouter/config.yaml'), builtins, provides: (t) => services.has(t) });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems = err.problems;
    }
    assert.ok(problems.some((p) => p.startsWith('/etc/krouter/config.yaml: plugins.loadbalancer.ipRanges.1: must be a CIDR')), problems.join('\n'));
    assert.ok(problems.some((p) => p.includes('plugins.loadbalancer.syncPeriod: must be a duration')), problems.join('\n'));
    // Overlaps are judged once every range parses.
    const overlap = loadBalancerConfigSchema.safeParse({ ipRanges: ['198.18.100.0/24', 'fd00:100::/64', 'fd00:100::/112'] });
    assert.deepEqual(overlap.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`), ['ipRanges.2: fd00:100::/112 overlaps fd00:100::/64; list each address once']);
    assert.throws(() => loadBalancerConfigSchema.parse({}), /ipRanges/);
  });

  it('the Lease lives in $POD_NAMESPACE, else the service account namespace, else kube-system', () => {
    assert.equal(leaseNamespace({ POD_NAMESPACE: 'net' }, () => 'sa'), 'net');
    assert.equal(leaseNamespace({}, () => 'sa\n'), 'sa');
    assert.equal(leaseNamespace({}, () => {
      throw new Error('ENOENT');
    }), 'kube-system');
  });
});
