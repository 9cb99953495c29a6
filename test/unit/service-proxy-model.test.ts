import assert from 'node:assert/strict';
import { readNodeNetwork, type Family } from '@krouter/sdk';
import { makeNode } from '@krouter/sdk/testing';
import { readServiceAnnotations } from '../../plugins/service-proxy/annotations.ts';
import { configSchema } from '../../plugins/service-proxy/config.ts';
import { buildContext, buildGlobals, buildService, buildServices, type PortState, type ServiceState } from '../../plugins/service-proxy/model.ts';
import { makeService, makeSlice } from '../helpers/services.ts';

const DUAL: Family[] = ['ipv4', 'ipv6'];
const ctxOf = (over: Record<string, unknown> = {}, families: Family[] = DUAL, zone?: string) =>
  buildContext(configSchema.parse(over), families, { name: 'n1', ...(zone ? { zone } : {}) });

const port = (s: ServiceState | undefined, family: Family, id?: string): PortState => {
  const p = s?.ports.find((x) => x.family === family && (!id || x.id === id));
  assert.ok(p, `no ${family} port ${id ?? ''} in ${JSON.stringify(s?.ports.map((x) => `${x.family} ${x.id}`))}`);
  return p;
};
const addrs = (eps: Array<{ address: string; port: number }>) => eps.map((e) => `${e.address}:${e.port}`).sort();

describe('service-proxy config', () => {
  it('fills defaults and names bad keys', () => {
    const c = configSchema.parse({});
    assert.deepEqual(c.nodePortAddresses, ['primary']);
    assert.equal(c.nodePortRange, '30000-32767');
    assert.equal(c.masqueradeBit, 14);
    const bad = configSchema.safeParse({ nodePortAddresses: ['198.18.0.1/16'], nodePortRange: '5-1', externalIPRanges: ['x'], nope: 1 });
    assert.equal(bad.success, false);
    const paths = bad.error!.issues.map((i) => i.path.join('.') || i.message);
    for (const p of ['nodePortAddresses.0', 'nodePortRange', 'externalIPRanges.0']) assert.ok(paths.includes(p), paths.join());
    assert.ok(paths.some((p) => p.includes('nope')), paths.join());
  });
});

describe('service-proxy model: addresses and families', () => {
  const ep4 = makeSlice('ns', 'web', 'web-4', 'IPv4', [{ ip: '198.18.16.5' }, { ip: '198.18.17.5', node: 'n2' }]);
  const ep6 = makeSlice('ns', 'web', 'web-6', 'IPv6', [{ ip: 'fd00:16::5' }]);

  it('the Local policies\' endpoints share the Cluster list only when they are the same endpoints', () => {
    const s = buildService(makeService('ns', 'web', { clusterIPs: ['198.18.128.10', 'fd00:128::10'] }), [ep4, ep6], ctxOf());
    const v4 = port(s, 'ipv4');
    const v6 = port(s, 'ipv6');
    assert.deepEqual(addrs(v4.localEndpoints), ['198.18.16.5:8080'], 'only this node\'s endpoint');
    assert.notEqual(v4.localEndpoints, v4.clusterEndpoints);
    assert.deepEqual(addrs(v6.localEndpoints), ['fd00:16::5:8080']);
    assert.equal(v6.localEndpoints, v6.clusterEndpoints, 'every endpoint on this node: one list');
    assert.equal(v4.id, 'ns/web/tcp/http');
  });

  it('RequireDualStack: one port state per family with that family\'s ClusterIP and endpoints, in either ipFamilies order', () => {
    for (const clusterIPs of [['198.18.128.10', 'fd00:128::10'], ['fd00:128::10', '198.18.128.10']]) {
      const s = buildService(makeService('ns', 'web', { clusterIPs }), [ep4, ep6], ctxOf());
      assert.equal(s?.ports.length, 2);
      assert.equal(port(s, 'ipv4').clusterIP, '198.18.128.10');
      assert.equal(port(s, 'ipv6').clusterIP, 'fd00:128::10');
      assert.deepEqual(addrs(port(s, 'ipv4').clusterEndpoints), ['198.18.16.5:8080', '198.18.17.5:8080']);
      assert.deepEqual(addrs(port(s, 'ipv6').clusterEndpoints), ['fd00:16::5:8080']);
      assert.equal(port(s, 'ipv4').id, 'ns/web/tcp/http');
    }
  });

  it('SingleStack IPv6 only in IPv6; a family that is not enabled is left out', () => {
    const s = buildService(makeService('ns', 'web', { clusterIPs: ['fd00:128::10'] }), [ep4, ep6], ctxOf());
    assert.deepEqual(s?.ports.map((p) => p.family), ['ipv6']);
    const only4 = buildService(makeService('ns', 'web', { clusterIPs: ['198.18.128.10', 'fd00:128::10'] }), [ep4, ep6], ctxOf({}, ['ipv4']));
    assert.deepEqual(only4?.ports.map((p) => p.family), ['ipv4']);
  });

  it('leaves ExternalName, headless, and other proxies\' services alone', () => {
    const ctx = ctxOf();
    assert.equal(buildService(makeService('ns', 'a', { type: 'ExternalName' }), [], ctx), undefined);
    assert.equal(buildService(makeService('ns', 'a', { clusterIP: 'None', clusterIPs: ['None'] }), [], ctx), undefined);
    assert.equal(buildService(makeService('ns', 'a', { labels: { 'service.kubernetes.io/headless': '' } }), [], ctx), undefined);
    const other = makeService('ns', 'a', { labels: { 'service.kubernetes.io/service-proxy-name': 'other' } });
    assert.equal(buildService(other, [], ctx), undefined);
    assert.ok(buildService(other, [], ctxOf({ serviceProxyName: 'other' })));
    assert.equal(buildService(makeService('ns', 'a'), [], ctxOf({ serviceProxyName: 'other' })), undefined);
  });

  it('an EndpointSlice labelled headless, or for another proxy, adds no endpoint to a service it serves', () => {
    const svc = makeService('ns', 'web', { clusterIPs: ['198.18.128.10'] });
    const labelled = (labels: Record<string, string>) => {
      const slice = makeSlice('ns', 'web', 'web-x', 'IPv4', [{ ip: '198.18.16.9' }]);
      slice.metadata!.labels = { ...slice.metadata!.labels, ...labels };
      return slice;
    };
    const endpoints = (slices: ReturnType<typeof labelled>[], ctx = ctxOf()) => buildService(svc, slices, ctx)!.ports.flatMap((p) => p.clusterEndpoints.map((e) => e.address));
    assert.deepEqual(endpoints([labelled({})]), ['198.18.16.9']);
    assert.deepEqual(endpoints([labelled({ 'service.kubernetes.io/headless': '' })]), []);
    assert.deepEqual(endpoints([labelled({ 'service.kubernetes.io/service-proxy-name': 'other' })]), []);
  });

  it('ExternalIPs: range validation per family; LoadBalancer ingress IPs (not hostname, not ipMode Proxy); skiplbips', () => {
    const svc = makeService('ns', 'lb', {
      type: 'LoadBalancer',
      clusterIPs: ['198.18.128.10', 'fd00:128::10'],
      externalIPs: ['198.18.200.1', '198.19.9.9', 'fd00:200::1', 'bogus'],
      lbIngress: [{ ip: '198.18.201.1' }, { hostname: 'lb.example' }, { ip: 'fd00:201::1' }, { ip: '198.18.201.2', ipMode: 'Proxy' }],
    });
    const s = buildService(svc, [], ctxOf({ externalIPRanges: ['198.18.200.0/24', 'fd00:200::/64'] }));
    assert.deepEqual(port(s, 'ipv4').externalIPs, ['198.18.200.1']);
    assert.deepEqual(port(s, 'ipv6').externalIPs, ['fd00:200::1']);
    assert.deepEqual(port(s, 'ipv4').loadBalancerIPs, ['198.18.201.1']);
    assert.deepEqual(port(s, 'ipv6').loadBalancerIPs, ['fd00:201::1']);
    const reasons = s!.problems.map((p) => `${p.reason} ${p.field}`);
    assert.deepEqual(reasons, ['ExternalIPOutOfRange spec.externalIPs[1]', 'InvalidExternalIP spec.externalIPs[3]']);
    assert.match(s!.problems[0]!.message, /^Service ns\/lb spec\.externalIPs\[1\] "198\.19\.9\.9": outside the allowed/);
    const skip = buildService({ ...svc, metadata: { ...svc.metadata, annotations: { 'kube-router.io/service.skiplbips': 'true' } } }, [], ctxOf());
    assert.deepEqual(port(skip, 'ipv4').loadBalancerIPs, []);
  });

  it('strict external IP validation (--strict-external-ip-validation): ExternalIPs and LoadBalancer IPs only inside their ranges; no range: none', () => {
    const svc = makeService('ns', 'lb', {
      type: 'LoadBalancer',
      clusterIPs: ['198.18.128.10', 'fd00:128::10'],
      externalIPs: ['198.18.200.1', 'fd00:200::1'],
      lbIngress: [{ ip: '198.18.201.1' }, { ip: 'fd00:201::1' }, { ip: '198.18.202.1' }],
    });
    const none = buildService(svc, [], ctxOf({ strictExternalIPValidation: true }));
    assert.deepEqual([port(none, 'ipv4').externalIPs, port(none, 'ipv6').externalIPs, port(none, 'ipv4').loadBalancerIPs, port(none, 'ipv6').loadBalancerIPs], [[], [], [], []]);
    assert.deepEqual(none!.problems.map((p) => `${p.reason} ${p.field}`), [
      'ExternalIPOutOfRange spec.externalIPs[0]',
      'ExternalIPOutOfRange spec.externalIPs[1]',
      'LoadBalancerIPOutOfRange status.loadBalancer.ingress[0].ip',
      'LoadBalancerIPOutOfRange status.loadBalancer.ingress[1].ip',
      'LoadBalancerIPOutOfRange status.loadBalancer.ingress[2].ip',
    ]);
    assert.match(none!.problems[0]!.message, /no external IP range is configured \(--service-external-ip-range\)/);
    assert.match(none!.problems[2]!.message, /no load balancer IP range is configured \(--loadbalancer-ip-range\)/);
    const ranged = buildService(svc, [], ctxOf({ strictExternalIPValidation: true, externalIPRanges: ['198.18.200.0/24', 'fd00:200::/64'], loadBalancerIPRanges: ['198.18.201.0/24', 'fd00:201::/64'] }));
    assert.deepEqual(port(ranged, 'ipv4').externalIPs, ['198.18.200.1']);
    assert.deepEqual(port(ranged, 'ipv6').externalIPs, ['fd00:200::1']);
    assert.deepEqual(port(ranged, 'ipv4').loadBalancerIPs, ['198.18.201.1']);
    assert.deepEqual(port(ranged, 'ipv6').loadBalancerIPs, ['fd00:201::1']);
    assert.deepEqual(ranged!.problems.map((p) => `${p.reason} ${p.field}`), ['LoadBalancerIPOutOfRange status.loadBalancer.ingress[2].ip']);
    // Off (krouter's default): LoadBalancer IPs are not checked.
    assert.deepEqual(port(buildService(svc, [], ctxOf()), 'ipv4').loadBalancerIPs, ['198.18.201.1', '198.18.202.1']);
  });

  it('loadBalancerSourceRanges per family; a bad range is a problem and the rest still restrict', () => {
    const svc = makeService('ns', 'lb', {
      type: 'LoadBalancer',
      clusterIPs: ['198.18.128.10', 'fd00:128::10'],
      lbIngress: [{ ip: '198.18.201.1' }, { ip: 'fd00:201::1' }],
      sourceRanges: ['198.18.0.0/16', '203.0.113.9/24', 'nope'],
    });
    const s = buildService(svc, [], ctxOf());
    assert.deepEqual(port(s, 'ipv4').sourceRanges, ['198.18.0.0/16', '203.0.113.0/24']);
    assert.deepEqual(port(s, 'ipv6').sourceRanges, [], 'no IPv6 range given: IPv6 clients are all refused');
    assert.deepEqual(s!.problems.map((p) => p.field), ['spec.loadBalancerSourceRanges[2]']);
    assert.equal(port(buildService(makeService('ns', 'a'), [], ctxOf()), 'ipv4').sourceRanges, undefined);
  });

  it('bad ClusterIPs and ports are problems naming object and field; the rest of the service is served', () => {
    const svc = makeService('ns', 'bad', {
      clusterIPs: ['198.18.128.10', 'fd00:128::zz'],
      ipFamilies: ['IPv4', 'IPv6'],
      type: 'NodePort',
      ports: [
        { name: 'ok', port: 80, nodePort: 30080 },
        { name: 'big', port: 70000 },
        { name: 'proto', port: 81, protocol: 'ICMP' },
        { name: 'np', port: 82, nodePort: 40000 },
        { name: 'ok', port: 80 },
      ],
    });
    const s = buildService(svc, [], ctxOf());
    assert.deepEqual(s!.ports.map((p) => `${p.family} ${p.id} ${p.nodePort ?? '-'}`), ['ipv4 ns/bad/tcp/ok 30080', 'ipv4 ns/bad/tcp/np -']);
    assert.deepEqual(s!.problems.map((p) => `${p.reason} ${p.field}`), [
      'InvalidClusterIP spec.clusterIPs[1]',
      'InvalidServicePort spec.ports[1].port',
      'InvalidServicePort spec.ports[2].protocol',
      'InvalidServicePort spec.ports[3].nodePort',
      'InvalidServicePort spec.ports[4]',
    ]);
    const mismatch = buildService(makeService('ns', 'mm', { clusterIPs: ['198.18.128.10'], ipFamilies: ['IPv6'] }), [], ctxOf());
    assert.match(mismatch!.problems[0]!.message, /spec\.clusterIPs\[0\] "198\.18\.128\.10": is ipv4 but spec\.ipFamilies\[0\] is IPv6/);
  });

  it('EndpointSlice bad input: wrong-family address, bad port, unknown protocol name the slice and field', () => {
    const slice = makeSlice('ns', 'web', 'web-x', 'IPv4', [{ ip: 'fd00:16::9' }, { ip: '198.18.16.9' }], [
      { name: 'http', port: 8080 },
      { name: 'x', port: 0 },
      { name: 'y', port: 1, protocol: 'GRE' },
    ]);
    const s = buildService(makeService('ns', 'web'), [slice], ctxOf());
    assert.deepEqual(addrs(port(s, 'ipv4').clusterEndpoints), ['198.18.16.9:8080']);
    assert.deepEqual(s!.problems.map((p) => `${p.kind} ${p.name} ${p.field}`), [
      'EndpointSlice web-x ports[1].port',
      'EndpointSlice web-x ports[2].protocol',
      'EndpointSlice web-x endpoints[0].addresses[0]',
    ]);
    assert.match(s!.problems[2]!.message, /"fd00:16::9": is ipv6, expected ipv4 \(addressType IPv4\)/);
  });
});

describe('service-proxy model: endpoints and policies', () => {
  const svc = (opts: Parameters<typeof makeService>[2] = {}) => makeService('ns', 'web', opts);

  it('targetPort by name: each endpoint keeps the port its slice resolved; ports match by name and protocol', () => {
    const a = makeSlice('ns', 'web', 'a', 'IPv4', [{ ip: '198.18.16.5' }], [{ name: 'http', port: 8080 }]);
    const b = makeSlice('ns', 'web', 'b', 'IPv4', [{ ip: '198.18.16.6' }], [{ name: 'http', port: 9090 }, { name: 'http', port: 53, protocol: 'UDP' }]);
    const s = buildService(svc({ ports: [{ name: 'http', port: 80, targetPort: 'web' }, { name: 'http', port: 80, protocol: 'UDP' }] }), [a, b], ctxOf());
    assert.deepEqual(addrs(port(s, 'ipv4', 'ns/web/tcp/http').clusterEndpoints), ['198.18.16.5:8080', '198.18.16.6:9090']);
    assert.deepEqual(addrs(port(s, 'ipv4', 'ns/web/udp/http').clusterEndpoints), ['198.18.16.6:53']);
  });

  it('ready endpoints; serving+terminating only when none is ready, decided separately for Cluster and Local', () => {
    const slice = makeSlice('ns', 'web', 'a', 'IPv4', [
      { ip: '198.18.16.5', node: 'n1', ready: false, serving: true, terminating: true },
      { ip: '198.18.17.5', node: 'n2', ready: true },
      { ip: '198.18.17.6', node: 'n2', ready: false, serving: false, terminating: true },
      { ip: '198.18.17.7', node: 'n2', ready: false },
    ]);
    const p = port(buildService(svc({ externalTrafficPolicy: 'Local', type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }), [slice], ctxOf()), 'ipv4');
    assert.deepEqual(addrs(p.clusterEndpoints), ['198.18.17.5:8080']);
    assert.deepEqual(addrs(p.localEndpoints), ['198.18.16.5:8080'], 'no ready local endpoint: the terminating one still serving');
    const none = makeSlice('ns', 'web', 'a', 'IPv4', [{ ip: '198.18.17.6', node: 'n2', ready: false, serving: true, terminating: true }]);
    assert.deepEqual(addrs(port(buildService(svc(), [none], ctxOf()), 'ipv4').clusterEndpoints), ['198.18.17.6:8080']);
  });

  it('publishNotReadyAddresses serves not-ready endpoints', () => {
    const slice = makeSlice('ns', 'web', 'a', 'IPv4', [{ ip: '198.18.16.5', ready: false }, { ip: '198.18.16.6', ready: true }]);
    assert.equal(port(buildService(svc(), [slice], ctxOf()), 'ipv4').clusterEndpoints.length, 1);
    assert.equal(port(buildService(svc({ publishNotReadyAddresses: true }), [slice], ctxOf()), 'ipv4').clusterEndpoints.length, 2);
  });

  it('dedupes an endpoint listed by two slices', () => {
    const a = makeSlice('ns', 'web', 'a', 'IPv4', [{ ip: '198.18.16.5' }]);
    const b = makeSlice('ns', 'web', 'b', 'IPv4', [{ ip: '198.18.16.5' }]);
    assert.equal(port(buildService(svc(), [a, b], ctxOf()), 'ipv4').clusterEndpoints.length, 1);
  });

  it('topology hints: this zone\'s endpoints when every endpoint has hints and some name the zone; node hints first', () => {
    const slice = makeSlice('ns', 'web', 'a', 'IPv4', [
      { ip: '198.18.16.5', zones: ['z1'] },
      { ip: '198.18.17.5', node: 'n2', zones: ['z2'] },
    ]);
    assert.deepEqual(addrs(port(buildService(svc({ trafficDistribution: 'PreferClose' }), [slice], ctxOf({}, DUAL, 'z1')), 'ipv4').clusterEndpoints), ['198.18.16.5:8080']);
    assert.equal(port(buildService(svc(), [slice], ctxOf({}, DUAL, 'z3')), 'ipv4').clusterEndpoints.length, 2, 'no hint for this zone: all');
    assert.equal(port(buildService(svc(), [slice], ctxOf()), 'ipv4').clusterEndpoints.length, 2, 'node without zone: all');
    const partial = makeSlice('ns', 'web', 'a', 'IPv4', [{ ip: '198.18.16.5', zones: ['z1'] }, { ip: '198.18.17.5', node: 'n2' }]);
    assert.equal(port(buildService(svc(), [partial], ctxOf({}, DUAL, 'z1')), 'ipv4').clusterEndpoints.length, 2, 'an endpoint without hints: all');
    const nodes = makeSlice('ns', 'web', 'a', 'IPv4', [
      { ip: '198.18.16.5', zones: ['z1'], nodes: ['n1'] },
      { ip: '198.18.16.6', zones: ['z1'], nodes: ['n9'] },
    ]);
    assert.deepEqual(addrs(port(buildService(svc(), [nodes], ctxOf({}, DUAL, 'z1')), 'ipv4').clusterEndpoints), ['198.18.16.5:8080']);
  });

  it('traffic policies, affinity, hairpin and annotations', () => {
    const s = buildService(
      svc({ externalTrafficPolicy: 'Local', internalTrafficPolicy: 'Local', sessionAffinity: { timeoutSeconds: 60 } }),
      [],
      ctxOf({ hairpinMode: false }),
    );
    const p = port(s, 'ipv4');
    assert.equal(p.externalLocal, true);
    assert.equal(p.internalLocal, true);
    assert.equal(p.affinitySeconds, 60);
    assert.equal(p.hairpin, false);
    assert.equal(port(buildService(svc({ sessionAffinity: {} }), [], ctxOf()), 'ipv4').affinitySeconds, 10800);
    const badAffinity = buildService(svc({ sessionAffinity: { timeoutSeconds: 0 } }), [], ctxOf());
    assert.equal(badAffinity!.problems[0]!.reason, 'InvalidSessionAffinity');
    const annotated = buildService(
      svc({ annotations: { 'kube-router.io/service.local': 'true', 'kube-router.io/service.hairpin': '', 'kube-router.io/service.scheduler': 'sh' } }),
      [],
      ctxOf({ hairpinMode: false }),
    );
    const a = port(annotated, 'ipv4');
    assert.deepEqual([a.externalLocal, a.internalLocal, a.hairpin, a.scheduler], [true, true, true, 'source-hash']);
  });

  it('unsupported and malformed annotations are Warning problems with the fallback named; the service is still served', () => {
    const s = buildService(
      svc({ annotations: { 'kube-router.io/service.scheduler': 'lc', 'kube-router.io/service.dsr': 'tunnel', 'kube-router.io/service.local': 'yes' } }),
      [makeSlice('ns', 'web', 'a', 'IPv4', [{ ip: '198.18.16.5' }])],
      ctxOf(),
    );
    assert.deepEqual(s!.problems.map((p) => `${p.reason} ${p.field}`).sort(), [
      'InvalidAnnotation metadata.annotations[kube-router.io/service.local]',
      'UnsupportedAnnotation metadata.annotations[kube-router.io/service.dsr]',
      'UnsupportedAnnotation metadata.annotations[kube-router.io/service.scheduler]',
    ]);
    assert.match(s!.problems.find((p) => p.field.includes('scheduler'))!.message, /"lc" is not supported \(rr, sh\); using rr/);
    assert.match(s!.problems.find((p) => p.field.includes('dsr'))!.message, /served normally/);
    assert.equal(port(s, 'ipv4').scheduler, 'random');
    assert.equal(port(s, 'ipv4').clusterEndpoints.length, 1);
    assert.equal(readServiceAnnotations({ 'kube-router.io/service.scheduler': 'rr' }).warnings.length, 0);
  });

  it('an unknown kube-router.io/service.* key is one UnknownAnnotation problem naming it; the router\'s keys and other prefixes are not', () => {
    const w = readServiceAnnotations({
      'kube-router.io/service.hairpn': 'true',
      'kube-router.io/service.schedflags': 'flag-1',
      'kube-router.io/service.advertise.clusterip': 'true',
      'kube-router.io/service.advertise.externalip': 'false',
      'kube-router.io/service.advertise.loadbalancerip': 'true',
      'kube-router.io/node.asn': '65000',
      'example.com/service.hairpn': 'x',
    }).warnings;
    assert.deepEqual(
      w.map((x) => `${x.reason} ${x.annotation}`).sort(),
      ['UnknownAnnotation kube-router.io/service.hairpn', 'UnsupportedAnnotation kube-router.io/service.schedflags'],
    );
    assert.match(w.find((x) => x.reason === 'UnknownAnnotation')!.message, /known: .*kube-router\.io\/service\.hairpin,/);
    const s = buildService(svc({ annotations: { 'kube-router.io/service.hairpn': 'true' } }), [makeSlice('ns', 'web', 'a', 'IPv4', [{ ip: '198.18.16.5' }])], ctxOf());
    assert.deepEqual(s!.problems.map((p) => `${p.reason} ${p.field}`), ['UnknownAnnotation metadata.annotations[kube-router.io/service.hairpn]']);
    assert.equal(port(s, 'ipv4').clusterEndpoints.length, 1);
  });

  it('healthCheckNodePort of an externalTrafficPolicy: Local LoadBalancer counts this node\'s ready endpoints', () => {
    const slice = makeSlice('ns', 'web', 'a', 'IPv4', [{ ip: '198.18.16.5' }, { ip: '198.18.16.6' }, { ip: '198.18.17.5', node: 'n2' }]);
    const lb = (p: Record<string, unknown>) => svc({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 31000, ...p });
    assert.deepEqual(buildService(lb({}), [slice], ctxOf())!.healthCheck, { port: 31000, localEndpoints: 2 });
    assert.deepEqual(buildService(lb({}), [], ctxOf())!.healthCheck, { port: 31000, localEndpoints: 0 });
    assert.equal(buildService(lb({ externalTrafficPolicy: 'Cluster' }), [slice], ctxOf())!.healthCheck, undefined);
    assert.equal(buildService(lb({ healthCheckNodePort: 99999 }), [slice], ctxOf())!.problems[0]!.reason, 'InvalidHealthCheckNodePort');
  });

  it('buildServices groups slices by their service label', () => {
    const all = buildServices(
      [makeService('ns', 'a'), makeService('ns', 'b', { clusterIPs: ['198.18.128.11'] }), makeService('other', 'a', { clusterIPs: ['198.18.128.12'] })],
      [makeSlice('ns', 'a', 'a-1', 'IPv4', [{ ip: '198.18.16.5' }]), makeSlice('other', 'a', 'a-1', 'IPv4', [{ ip: '198.18.16.6' }, { ip: '198.18.16.7' }])],
      ctxOf(),
    );
    assert.deepEqual([...all.keys()], ['ns/a', 'ns/b', 'other/a']);
    assert.deepEqual([...all.values()].map((s) => s.ports[0]!.clusterEndpoints.length), [1, 0, 2]);
  });
});

describe('service-proxy model: node-wide globals', () => {
  const n1 = readNodeNetwork(makeNode('n1', { internalIPs: ['198.18.0.1', 'fd00::1'], podCIDRs: ['198.18.16.0/24', 'fd00:16::/64'] }), DUAL);
  const n2 = readNodeNetwork(makeNode('n2', { internalIPs: ['198.18.0.2', 'fd00::2'], podCIDRs: ['198.18.17.0/24', 'fd00:17::/64'] }), DUAL);

  it('NodePort addresses: primary per family by default, CIDRs, or everything (bind on all IPs)', () => {
    const g = buildGlobals(configSchema.parse({}), DUAL, n1, [n1, n2]);
    assert.deepEqual(g.nodePortAddresses, { ipv4: ['198.18.0.1/32'], ipv6: ['fd00::1/128'] });
    assert.deepEqual(g.clusterCIDRs, { ipv4: ['198.18.16.0/24', '198.18.17.0/24'], ipv6: ['fd00:16::/64', 'fd00:17::/64'] });
    assert.deepEqual(g.localPodCIDRs, { ipv4: ['198.18.16.0/24'], ipv6: ['fd00:16::/64'] });
    assert.equal(g.masqueradeMark, 0x4000);
    const all = buildGlobals(configSchema.parse({ nodePortAddresses: ['0.0.0.0/0', '::/0'], clusterCIDRs: ['198.18.0.0/15'] }), DUAL, n1, [n1]);
    assert.deepEqual(all.nodePortAddresses, { ipv4: ['0.0.0.0/0'], ipv6: ['::/0'] });
    assert.deepEqual(all.clusterCIDRs.ipv4, ['198.18.0.0/15']);
    const v6 = buildGlobals(configSchema.parse({}), ['ipv6'], readNodeNetwork(makeNode('n1', { internalIPs: ['fd00::1'] }), ['ipv6']), []);
    assert.deepEqual(v6.nodePortAddresses, { ipv4: [], ipv6: ['fd00::1/128'] });
  });
});
