import assert from 'node:assert/strict';
import { readNodeNetwork, type Family } from '@krouter/sdk';
import { makeNode } from '@krouter/sdk/testing';
import { configSchema } from '../../plugins/service-proxy/config.ts';
import { planConntrack } from '../../plugins/service-proxy/conntrack.ts';
import { healthAnswer } from '../../plugins/service-proxy/health-server.ts';
import { buildContext, buildGlobals, buildService, type ServiceState } from '../../plugins/service-proxy/model.ts';
import { renderBody, renderPartial, renderService, type Fragment } from '../../plugins/service-proxy/render.ts';
import { makeService, makeSlice, type EndpointSpec } from '../helpers/services.ts';

const DUAL: Family[] = ['ipv4', 'ipv6'];

function setup(families: Family[] = DUAL, over: Record<string, unknown> = {}) {
  const config = configSchema.parse(over);
  const n1 = readNodeNetwork(makeNode('n1', { internalIPs: ['198.18.0.1', 'fd00::1'], podCIDRs: ['198.18.16.0/24', 'fd00:16::/64'] }), families);
  const ctx = buildContext(config, families, { name: 'n1' });
  const g = buildGlobals(config, families, n1, [n1]);
  const state = (svc: ReturnType<typeof makeService>, slices: ReturnType<typeof makeSlice>[] = []) => buildService(svc, slices, ctx)!;
  const frag = (s: ServiceState) => renderService(s, g);
  return { config, ctx, g, state, frag };
}

const web = (opts: Parameters<typeof makeService>[2] = {}) => makeService('ns', 'web', { clusterIPs: ['198.18.128.10', 'fd00:128::10'], ...opts });
const eps4 = (list: EndpointSpec[] = [{ ip: '198.18.16.5' }, { ip: '198.18.17.5', node: 'n2' }]) => makeSlice('ns', 'web', 'web-4', 'IPv4', list);
const eps6 = (list: EndpointSpec[] = [{ ip: 'fd00:16::5' }]) => makeSlice('ns', 'web', 'web-6', 'IPv6', list);

const chain = (f: Fragment, name: string) => {
  const rules = f.chains.get(name);
  assert.ok(rules, `no chain ${name}; have ${[...f.chains.keys()].join(', ')}`);
  return rules;
};
const el = (f: Fragment, map: string) => Object.fromEntries(f.elements.get(map) ?? []);

describe('service-proxy render: one service', () => {
  it('ClusterIP per family: map element -> service chain -> numgen shares, DNAT with the family\'s words; hairpin for local endpoints', () => {
    const t = setup();
    const f = t.frag(t.state(web(), [eps4(), eps6()]));
    assert.deepEqual(el(f, 'service-ips-ipv4'), { '198.18.128.10 . tcp . 80': 'goto svc-ipv4-ns/web/tcp/http' });
    assert.deepEqual(el(f, 'service-ips-ipv6'), { 'fd00:128::10 . tcp . 80': 'goto svc-ipv6-ns/web/tcp/http' });
    assert.deepEqual(chain(f, 'svc-ipv4-ns/web/tcp/http'), [
      'ip saddr 198.18.16.5 jump mark-for-masquerade',
      'numgen random mod 2 == 0 meta l4proto tcp dnat ip to 198.18.16.5:8080',
      'meta l4proto tcp dnat ip to 198.18.17.5:8080',
    ]);
    assert.deepEqual(chain(f, 'svc-ipv6-ns/web/tcp/http'), [
      'ip6 saddr fd00:16::5 jump mark-for-masquerade',
      'meta l4proto tcp dnat ip6 to [fd00:16::5]:8080',
    ]);
    assert.deepEqual([...f.chains.keys()], ['svc-ipv4-ns/web/tcp/http', 'svc-ipv6-ns/web/tcp/http'], 'few endpoints, no affinity: no endpoint chains');
    // The ClusterIP's masquerade for off-cluster clients is the base chain's, through this set.
    assert.deepEqual(el(f, 'cluster-ips-ipv6'), { 'fd00:128::10 . tcp . 80': '' });
    for (const rules of f.chains.values()) assert.ok(rules.every((r) => !r.includes('@')), 'no set named: partial syncs need no nft cache');
    assert.equal(f.chains.has('ext-ipv4-ns/web/tcp/http'), false, 'no external address: no external chain');
  });

  it('equal shares: a run of numgen rules up to 8 endpoints, endpoint chains under one numgen vmap beyond (nft loads many anonymous sets slowly)', () => {
    const t = setup(['ipv4']);
    const eps = (n: number) => eps4(Array.from({ length: n }, (_, i) => ({ ip: `198.18.16.${i + 1}` })));
    const three = chain(t.frag(t.state(web({ clusterIPs: ['198.18.128.10'] }), [eps(3)])), 'svc-ipv4-ns/web/tcp/http').slice(3);
    assert.deepEqual(three, [
      'numgen random mod 3 == 0 meta l4proto tcp dnat ip to 198.18.16.1:8080',
      'numgen random mod 2 == 0 meta l4proto tcp dnat ip to 198.18.16.2:8080',
      'meta l4proto tcp dnat ip to 198.18.16.3:8080',
    ]);
    const nineFrag = t.frag(t.state(web({ clusterIPs: ['198.18.128.10'] }), [eps(9)]));
    const nine = chain(nineFrag, 'svc-ipv4-ns/web/tcp/http');
    assert.equal(nine.length, 1);
    assert.deepEqual(chain(nineFrag, 'ep-ipv4-ns/web/tcp/http/198.18.16.9/8080'), ['ip saddr 198.18.16.9 jump mark-for-masquerade', 'meta l4proto tcp dnat ip to 198.18.16.9:8080']);
    assert.match(nine[0]!, /^numgen random mod 9 vmap \{ 0 : goto ep-ipv4-ns\/web\/tcp\/http\/198\.18\.16\.1\/8080, 1 : goto .*, 8 : goto ep-ipv4-ns\/web\/tcp\/http\/198\.18\.16\.9\/8080 \}$/);
  });

  it('UDP and SCTP render like TCP', () => {
    const t = setup(['ipv4']);
    const slice = makeSlice('ns', 'web', 'a', 'IPv4', [{ ip: '198.18.16.5' }], [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 's', port: 9, protocol: 'SCTP' }]);
    const f = t.frag(t.state(web({ clusterIPs: ['198.18.128.10'], ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 's', port: 9, protocol: 'SCTP' }] }), [slice]));
    assert.deepEqual(Object.keys(el(f, 'service-ips-ipv4')), ['198.18.128.10 . udp . 53', '198.18.128.10 . sctp . 9']);
    assert.ok(chain(f, 'svc-ipv4-ns/web/sctp/s').includes('meta l4proto sctp dnat ip to 198.18.16.5:9'));
    assert.ok(chain(f, 'svc-ipv4-ns/web/udp/dns').includes('meta l4proto udp dnat ip to 198.18.16.5:53'));
    assert.deepEqual(Object.keys(el(f, 'cluster-ips-ipv4')), ['198.18.128.10 . udp . 53', '198.18.128.10 . sctp . 9']);
  });

  it('a service without endpoints rejects on every address and its NodePort (reject chain, not a verdict)', () => {
    const t = setup();
    const f = t.frag(t.state(web({ type: 'NodePort', externalIPs: ['198.18.200.1'], ports: [{ name: 'http', port: 80, nodePort: 30080 }] })));
    assert.deepEqual(el(f, 'no-endpoint-services-ipv4'), {
      '198.18.128.10 . tcp . 80': 'goto reject-chain',
      '198.18.200.1 . tcp . 80': 'goto reject-chain',
    });
    assert.deepEqual(el(f, 'no-endpoint-nodeports-ipv6'), { 'tcp . 30080': 'goto reject-chain' });
    assert.equal(f.elements.has('service-ips-ipv4'), false);
    assert.equal(f.chains.size, 0);
  });

  it('NodePort, ExternalIPs and LoadBalancer IPs go through the external chain, masqueraded under the Cluster policy', () => {
    const t = setup();
    const svc = web({ type: 'LoadBalancer', externalIPs: ['198.18.200.1'], lbIngress: [{ ip: '198.18.201.1' }], ports: [{ name: 'http', port: 80, nodePort: 30080 }] });
    const f = t.frag(t.state(svc, [eps4()]));
    assert.deepEqual(el(f, 'service-ips-ipv4'), {
      '198.18.128.10 . tcp . 80': 'goto svc-ipv4-ns/web/tcp/http',
      '198.18.200.1 . tcp . 80': 'goto ext-ipv4-ns/web/tcp/http',
      '198.18.201.1 . tcp . 80': 'goto ext-ipv4-ns/web/tcp/http',
    });
    assert.deepEqual(el(f, 'nodeports-ipv4'), { 'tcp . 30080': 'goto ext-ipv4-ns/web/tcp/http' });
    assert.deepEqual(chain(f, 'ext-ipv4-ns/web/tcp/http'), ['jump mark-for-masquerade', 'goto svc-ipv4-ns/web/tcp/http']);
    // The IPv6 side has a ClusterIP and a NodePort but no endpoints: it rejects.
    assert.deepEqual(el(f, 'no-endpoint-nodeports-ipv6'), { 'tcp . 30080': 'goto reject-chain' });
  });

  it('externalTrafficPolicy: Local keeps the client address and uses local endpoints; the node and its pods may use any; none local: drop', () => {
    const t = setup(['ipv4']);
    const svc = web({ clusterIPs: ['198.18.128.10'], type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] });
    const f = t.frag(t.state(svc, [eps4()]));
    assert.deepEqual(chain(f, 'ext-ipv4-ns/web/tcp/http'), [
      'fib saddr type local jump mark-for-masquerade',
      'fib saddr type local goto svc-ipv4-ns/web/tcp/http',
      'ip saddr 198.18.16.0/24 goto svc-ipv4-ns/web/tcp/http',
      'goto local-ipv4-ns/web/tcp/http',
    ]);
    assert.deepEqual(chain(f, 'local-ipv4-ns/web/tcp/http'), ['ip saddr 198.18.16.5 jump mark-for-masquerade', 'meta l4proto tcp dnat ip to 198.18.16.5:8080']);
    const remoteOnly = t.frag(t.state(svc, [eps4([{ ip: '198.18.17.5', node: 'n2' }])]));
    assert.equal(chain(remoteOnly, 'ext-ipv4-ns/web/tcp/http').at(-1), 'drop');
    assert.equal(remoteOnly.chains.has('local-ipv4-ns/web/tcp/http'), false);
  });

  it('internalTrafficPolicy: Local sends the ClusterIP to local endpoints only; none local: dropped, not rejected', () => {
    const t = setup(['ipv4']);
    const svc = web({ clusterIPs: ['198.18.128.10'], internalTrafficPolicy: 'Local' });
    const f = t.frag(t.state(svc, [eps4()]));
    assert.deepEqual(el(f, 'service-ips-ipv4'), { '198.18.128.10 . tcp . 80': 'goto local-ipv4-ns/web/tcp/http' });
    const remote = t.frag(t.state(svc, [eps4([{ ip: '198.18.17.5', node: 'n2' }])]));
    assert.deepEqual(el(remote, 'no-endpoint-services-ipv4'), { '198.18.128.10 . tcp . 80': 'drop' });
  });

  it('ClientIP affinity: a dynamic set per endpoint, checked before the random pick, refreshed with the timeout', () => {
    const t = setup(['ipv4']);
    const f = t.frag(t.state(web({ clusterIPs: ['198.18.128.10'], sessionAffinity: { timeoutSeconds: 600 } }), [eps4()]));
    assert.deepEqual(chain(f, 'svc-ipv4-ns/web/tcp/http').slice(0, 2), [
      'ip saddr @aff-ipv4-ns/web/tcp/http/198.18.16.5/8080 goto ep-ipv4-ns/web/tcp/http/198.18.16.5/8080',
      'ip saddr @aff-ipv4-ns/web/tcp/http/198.18.17.5/8080 goto ep-ipv4-ns/web/tcp/http/198.18.17.5/8080',
    ]);
    assert.ok(chain(f, 'ep-ipv4-ns/web/tcp/http/198.18.16.5/8080').includes('update @aff-ipv4-ns/web/tcp/http/198.18.16.5/8080 { ip saddr timeout 600s }'));
    assert.equal(f.sets.get('aff-ipv4-ns/web/tcp/http/198.18.16.5/8080'), 'type ipv4_addr; flags dynamic,timeout;');
  });

  it('sh scheduler hashes the client address; masqueradeAll and hairpin off change the rules', () => {
    const t = setup(['ipv4'], { masqueradeAll: true, hairpinMode: false });
    const f = t.frag(t.state(web({ clusterIPs: ['198.18.128.10'], annotations: { 'kube-router.io/service.scheduler': 'sh' } }), [eps4()]));
    const svc = chain(f, 'svc-ipv4-ns/web/tcp/http');
    assert.deepEqual(svc, ['jhash ip saddr mod 2 seed 0x6b72 == 0 meta l4proto tcp dnat ip to 198.18.16.5:8080', 'meta l4proto tcp dnat ip to 198.18.17.5:8080'], 'hairpin off: no marking rule');
  });

  it('loadBalancerSourceRanges: a firewall chain per port, keyed by the LoadBalancer IPs only', () => {
    const t = setup();
    const svc = web({ type: 'LoadBalancer', lbIngress: [{ ip: '198.18.201.1' }, { ip: 'fd00:201::1' }], sourceRanges: ['198.18.0.0/16', '198.19.0.0/16'] });
    const f = t.frag(t.state(svc, [eps4(), eps6()]));
    assert.deepEqual(el(f, 'firewall-ips-ipv4'), { '198.18.201.1 . tcp . 80': 'goto fw-ipv4-ns/web/tcp/http' });
    assert.deepEqual(chain(f, 'fw-ipv4-ns/web/tcp/http'), ['ip saddr != { 198.18.0.0/16, 198.19.0.0/16 } drop']);
    assert.deepEqual(chain(f, 'fw-ipv6-ns/web/tcp/http'), ['drop'], 'no IPv6 range allowed: every IPv6 client is refused');
  });
});

describe('service-proxy render: the table', () => {
  it('full body: per-family sets and maps, base chains with the nat output priority nft 1.0.6 wants; only enabled families', () => {
    for (const families of [['ipv4'], ['ipv6'], DUAL] as Family[][]) {
      const t = setup(families);
      const body = renderBody(t.g, [t.frag(t.state(web(), [eps4(), eps6()]))]);
      for (const f of DUAL) {
        assert.equal(body.includes(`map service-ips-${f}`), families.includes(f), `${families} ${f}`);
        assert.equal(body.includes(`svc-${f}-ns/web/tcp/http`), families.includes(f));
      }
      assert.match(body, /chain nat-output \{\n    type nat hook output priority -100; policy accept;/);
      assert.match(body, /chain nat-prerouting \{\n    type nat hook prerouting priority dstnat;/);
      assert.match(body, /chain reject-chain \{\n    meta l4proto tcp reject with tcp reset\n    reject with icmpx type port-unreachable/);
      assert.match(body, /meta mark & 0x4000 == 0 return/);
    }
    const t = setup();
    const body = renderBody(t.g, []);
    assert.match(body, /set nodeport-addresses-ipv4 \{ type ipv4_addr; flags interval; auto-merge; elements = \{ 198\.18\.0\.1\/32 \} \}/);
    assert.match(body, /ip6 daddr @nodeport-addresses-ipv6 ip6 daddr != ::1\/128 fib daddr type local meta l4proto \. th dport vmap @nodeports-ipv6/);
    assert.match(body, /map service-ips-ipv6 \{ type ipv6_addr \. inet_proto \. inet_service : verdict; \}/);
  });

  it('full body collects every service\'s elements into the per-family maps', () => {
    const t = setup(['ipv4']);
    const a = t.frag(t.state(web({ clusterIPs: ['198.18.128.10'] }), [eps4()]));
    const b = t.frag(t.state(makeService('ns', 'b', { clusterIPs: ['198.18.128.11'] })));
    const body = renderBody(t.g, [a, b]);
    assert.match(body, /198\.18\.128\.10 \. tcp \. 80 : goto svc-ipv4-ns\/web\/tcp\/http/);
    assert.match(body, /map no-endpoint-services-ipv4 \{\n    type ipv4_addr \. inet_proto \. inet_service : verdict\n    elements = \{\n      198\.18\.128\.11 \. tcp \. 80 : goto reject-chain/);
  });
});

describe('service-proxy render: conntrack timeouts (--service-tcp-timeout, --service-tcpfin-timeout, --service-udp-timeout)', () => {
  const udp = () => makeService('ns', 'dns', { clusterIPs: ['198.18.128.10', 'fd00:128::10'], ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] });
  const udpEps = () => [makeSlice('ns', 'dns', 'dns-4', 'IPv4', [{ ip: '198.18.16.5' }], [{ name: 'dns', port: 5353, protocol: 'UDP' }]), makeSlice('ns', 'dns', 'dns-6', 'IPv6', [{ ip: 'fd00:16::5' }], [{ name: 'dns', port: 5353, protocol: 'UDP' }])];

  it('none configured: no ct timeout object, no rule', () => {
    const t = setup();
    const body = renderBody(t.g, [t.frag(t.state(web(), [eps4(), eps6()]))]);
    assert.doesNotMatch(body, /ct timeout/);
  });

  it('one ct timeout object per family and protocol; each service chain of that protocol sets it first', () => {
    const t = setup(DUAL, { conntrackTimeouts: { tcp: 3600, tcpFin: 30, udp: 90 } });
    const tcp = t.frag(t.state(web(), [eps4(), eps6()]));
    assert.equal(chain(tcp, 'svc-ipv4-ns/web/tcp/http')[0], 'ct timeout set "timeout-tcp-ipv4"');
    assert.equal(chain(tcp, 'svc-ipv6-ns/web/tcp/http')[0], 'ct timeout set "timeout-tcp-ipv6"');
    const dns = t.frag(t.state(udp(), udpEps()));
    assert.equal(chain(dns, 'svc-ipv4-ns/dns/udp/dns')[0], 'ct timeout set "timeout-udp-ipv4"');
    const body = renderBody(t.g, [tcp, dns]);
    assert.deepEqual(body.split('\n').filter((l) => l.includes('ct timeout ') && !l.includes(' set ')).map((l) => l.trim()), [
      'ct timeout timeout-tcp-ipv4 { protocol tcp; l3proto ip; policy = { established: 3600, fin_wait: 30 }; }',
      'ct timeout timeout-udp-ipv4 { protocol udp; l3proto ip; policy = { unreplied: 90, replied: 90 }; }',
      'ct timeout timeout-tcp-ipv6 { protocol tcp; l3proto ip6; policy = { established: 3600, fin_wait: 30 }; }',
      'ct timeout timeout-udp-ipv6 { protocol udp; l3proto ip6; policy = { unreplied: 90, replied: 90 }; }',
    ]);
  });

  it('only the protocols with a timeout, only the enabled families', () => {
    const t = setup(['ipv6'], { conntrackTimeouts: { udp: 20 } });
    const tcp = t.frag(t.state(web(), [eps6()]));
    assert.notEqual(chain(tcp, 'svc-ipv6-ns/web/tcp/http')[0]!.startsWith('ct timeout'), true);
    const body = renderBody(t.g, [tcp]);
    assert.deepEqual(body.split('\n').filter((l) => /^\s*ct timeout /.test(l)).map((l) => l.trim().split(' {')[0]), ['ct timeout timeout-udp-ipv6']);
  });
});

describe('service-proxy render: partial sync', () => {
  const t = setup(['ipv4']);
  const svc = web({ clusterIPs: ['198.18.128.10'] });
  const two = t.frag(t.state(svc, [eps4()]));
  const T = 'inet krouter-proxy';

  it('an endpoint removed: only the service chain is refilled; nothing else', () => {
    const one = t.frag(t.state(svc, [eps4([{ ip: '198.18.16.5' }])]));
    const script = renderPartial([{ old: two, new: one }]);
    assert.deepEqual(script.trim().split('\n'), [
      `flush chain ${T} svc-ipv4-ns/web/tcp/http`,
      `add chain ${T} svc-ipv4-ns/web/tcp/http {`,
      '  ip saddr 198.18.16.5 jump mark-for-masquerade',
      '  meta l4proto tcp dnat ip to 198.18.16.5:8080',
      '}',
    ]);
  });

  it('endpoint chains (9 endpoints): a new chain is created before the service chain refers to it, an old one deleted after', () => {
    const many = (n: number) => eps4(Array.from({ length: n }, (_, i) => ({ ip: `198.18.16.${i + 1}` })));
    const nine = t.frag(t.state(svc, [many(9)]));
    const ten = t.frag(t.state(svc, [many(10)]));
    const lines = renderPartial([{ old: nine, new: ten }]).trim().split('\n');
    assert.equal(lines[0], `add chain ${T} ep-ipv4-ns/web/tcp/http/198.18.16.10/8080`);
    const fill = lines.indexOf(`add chain ${T} ep-ipv4-ns/web/tcp/http/198.18.16.10/8080 {`);
    assert.ok(fill > 0 && lines[fill + 1] === '  ip saddr 198.18.16.10 jump mark-for-masquerade', lines.join('\n'));
    assert.ok(lines.some((l) => l.includes('numgen random mod 10 vmap')));
    assert.ok(!lines.some((l) => l.includes('element')), 'the map element did not change');
    const back = renderPartial([{ old: ten, new: nine }]).trim().split('\n');
    assert.deepEqual(back.slice(-2), [`flush chain ${T} ep-ipv4-ns/web/tcp/http/198.18.16.10/8080`, `delete chain ${T} ep-ipv4-ns/web/tcp/http/198.18.16.10/8080`]);
  });

  it('ClientIP affinity, an endpoint joins: the existing affinity set is declared again beside the new one, before the chain naming both', () => {
    const sticky = web({ clusterIPs: ['198.18.128.10'], sessionAffinity: { timeoutSeconds: 60 } });
    const one = t.frag(t.state(sticky, [eps4([{ ip: '198.18.16.5' }])]));
    const both = t.frag(t.state(sticky, [eps4([{ ip: '198.18.16.5' }, { ip: '198.18.16.6' }])]));
    const lines = renderPartial([{ old: one, new: both }]).trim().split('\n');
    const declared = (ip: string) => lines.findIndex((l) => l.startsWith(`add set ${T} aff-ipv4-ns/web/tcp/http/${ip}/8080 {`));
    const chain = lines.indexOf(`add chain ${T} svc-ipv4-ns/web/tcp/http {`);
    assert.ok(declared('198.18.16.6') >= 0, 'the new endpoint\'s set');
    assert.ok(declared('198.18.16.5') >= 0, 'the existing set, which the rewritten chain names');
    assert.ok(declared('198.18.16.5') < chain && declared('198.18.16.6') < chain, lines.join('\n'));
    assert.equal(renderPartial([{ old: both, new: both }]), '', 'nothing rewritten: nothing declared');
  });

  it('last endpoint gone: the element moves to the no-endpoint map and every chain goes; new service, deleted service', () => {
    const none = t.frag(t.state(svc));
    const lines = renderPartial([{ old: two, new: none }]).trim().split('\n');
    assert.deepEqual(lines.slice(0, 2), [
      `delete element ${T} service-ips-ipv4 { 198.18.128.10 . tcp . 80 }`,
      `add element ${T} no-endpoint-services-ipv4 { 198.18.128.10 . tcp . 80 : goto reject-chain }`,
    ]);
    assert.equal(lines.filter((l) => l.startsWith('delete chain')).length, 1);
    assert.ok(lines.findIndex((l) => l.startsWith('delete chain')) > lines.findIndex((l) => l.startsWith('flush chain')));
    const created = renderPartial([{ new: two }]);
    assert.match(created, /^add chain /);
    assert.match(created, /add element inet krouter-proxy service-ips-ipv4 \{ 198\.18\.128\.10 \. tcp \. 80 : goto svc-ipv4-ns\/web\/tcp\/http \}/);
    const deleted = renderPartial([{ old: two }]);
    assert.match(deleted, /^delete element inet krouter-proxy cluster-ips-ipv4 \{ 198\.18\.128\.10 \. tcp \. 80 \}\ndelete element inet krouter-proxy service-ips-ipv4 \{ 198\.18\.128\.10 \. tcp \. 80 \}/);
    assert.equal(renderPartial([{ old: two, new: two }]), '', 'no change: empty script');
  });

  it('touches only the changed services among many', () => {
    const others = Array.from({ length: 50 }, (_, i) => t.frag(t.state(makeService('ns', `s${i}`, { clusterIPs: [`198.18.129.${i}`] }), [makeSlice('ns', `s${i}`, `s${i}-a`, 'IPv4', [{ ip: `198.18.16.${i + 10}` }])])));
    const one = t.frag(t.state(svc, [eps4([{ ip: '198.18.16.5' }])]));
    const script = renderPartial([{ old: two, new: one }]);
    for (let i = 0; i < 50; i++) assert.ok(!script.includes(`/s${i}/`));
    assert.ok(others.length === 50 && script.length < 600, `script of ${script.length} bytes`);
  });

  it('affinity sets are added before the rules using them and deleted after the chains', () => {
    const aff = web({ clusterIPs: ['198.18.128.10'], sessionAffinity: {} });
    const a = t.frag(t.state(aff, [eps4()]));
    const b = t.frag(t.state(aff, [eps4([{ ip: '198.18.16.5' }])]));
    const lines = renderPartial([{ old: a, new: b }]).trim().split('\n');
    assert.equal(lines.at(-1), `delete set ${T} aff-ipv4-ns/web/tcp/http/198.18.17.5/8080`);
    const added = renderPartial([{ old: b, new: a }]).trim().split('\n');
    const set = added.indexOf(`add set ${T} aff-ipv4-ns/web/tcp/http/198.18.17.5/8080 { type ipv4_addr; flags dynamic,timeout; }`);
    assert.ok(set >= 0 && set < added.findIndex((l) => l.startsWith('add chain')), added.join('\n'));
  });
});

describe('service-proxy conntrack plan and health answer', () => {
  const t = setup(['ipv4']);
  const udp = (eps: EndpointSpec[]) =>
    t.state(
      web({ clusterIPs: ['198.18.128.10'], type: 'NodePort', externalIPs: ['198.18.200.1'], ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }] }),
      [makeSlice('ns', 'web', 'a', 'IPv4', eps, [{ name: 'dns', port: 5353, protocol: 'UDP' }])],
    ).ports;

  it('deletes UDP entries of removed endpoints for every service address and the NodePort', () => {
    const plan = planConntrack(udp([{ ip: '198.18.16.5' }, { ip: '198.18.16.6' }]), udp([{ ip: '198.18.16.5' }]));
    assert.deepEqual(plan.map((d) => `${d.family} ${d.args.join(' ')}`), [
      'ipv4 -p udp --orig-dst 198.18.128.10 --dst-nat 198.18.16.6',
      'ipv4 -p udp --orig-dst 198.18.200.1 --dst-nat 198.18.16.6',
      'ipv4 -p udp --orig-port-dst 30053 --dst-nat 198.18.16.6',
    ]);
    assert.equal(planConntrack(udp([{ ip: '198.18.16.5' }]), []).length, 3, 'service deleted');
    assert.deepEqual(planConntrack(udp([]), udp([{ ip: '198.18.16.5' }])).map((d) => d.args.join(' ')), [
      '-p udp --orig-dst 198.18.128.10',
      '-p udp --orig-dst 198.18.200.1',
    ], 'first endpoint after rejecting: stale entries go');
    const tcp = t.state(web({ clusterIPs: ['198.18.128.10'] }), [eps4()]).ports;
    assert.deepEqual(planConntrack(tcp, []), [], 'TCP needs none');
  });

  it('health check: 200 with the local endpoint count, 503 without', () => {
    assert.deepEqual(healthAnswer({ namespace: 'ns', name: 'web', localEndpoints: 2 }), {
      status: 200,
      body: '{"service":{"namespace":"ns","name":"web"},"localEndpoints":2,"serviceProxyHealthy":true}',
    });
    assert.equal(healthAnswer({ namespace: 'ns', name: 'web', localEndpoints: 0 }).status, 503);
  });
});
