import assert from 'node:assert/strict';
import type { Family, NodeNetwork, V1Namespace, V1NetworkPolicy, V1Pod } from '@krouter/sdk';
import { buildModel, updatePods, type FirewallModel } from '../../plugins/firewall/model.ts';
import { renderBody, renderElementScript, renderPatch, renderStructure, type RenderOptions } from '../../plugins/firewall/render.ts';
import { intervalToPrefixes, readIpBlock } from '../../plugins/firewall/ip-blocks.ts';
import { mergePortRanges } from '../../plugins/firewall/policies.ts';
import { makeNamespace, makePod, makePolicy } from '../helpers/firewall-fixtures.ts';
import { NftTable } from '../helpers/nft-interpreter.ts';

const OPTS: RenderOptions = { defaultDeny: true, log: { enabled: false, ratePerSecond: 10 } };
const families: Family[] = ['ipv4', 'ipv6'];
const NODE: NodeNetwork = {
  name: 'node-1',
  ips: { ipv4: ['198.18.0.1'], ipv6: ['fd00::1'] },
  primaryIP: { ipv4: '198.18.0.1', ipv6: 'fd00::1' },
  podCIDRs: { ipv4: ['198.18.1.0/24'], ipv6: ['fd00:1::/64'] },
  errors: [],
};

let n = 10;
const pod = (ns: string, name: string, labels: Record<string, string>, extra: Partial<Parameters<typeof makePod>[0]> = {}) => {
  n++;
  return makePod({ ns, name, labels, ips: [`198.18.1.${n}`, `fd00:1::${n}`], ports: { web: 8080 }, ...extra });
};

interface State {
  pods: V1Pod[];
  namespaces: V1Namespace[];
  policies: V1NetworkPolicy[];
}

const build = (s: State): FirewallModel =>
  buildModel({ families, nodeName: 'node-1', node: NODE, pods: s.pods, namespaces: s.namespaces, policies: s.policies });

function baseState(): State {
  return {
    pods: [pod('x', 'a', { app: 'web' }), pod('x', 'b', { app: 'db' }), pod('y', 'c', { app: 'client' }, { node: 'node-2' })],
    namespaces: [makeNamespace('x'), makeNamespace('y', { team: 'blue' })],
    policies: [
      makePolicy('x', 'web', {
        podSelector: { matchLabels: { app: 'web' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } } }], ports: [{ port: 'web' }] }],
        egress: [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }] }],
      }),
      makePolicy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] }),
    ],
  };
}

/** Sets of a rendered table, for comparing kernel state after a patch with a fresh full render. */
const setsOf = (t: NftTable) => Object.fromEntries([...t.sets].map(([k, v]) => [k, [...v].sort()]));

describe('firewall render: incremental element scripts', () => {
  it('a new pod is only element adds, and patching gives what a full render of the new state gives', () => {
    const s = baseState();
    const m = build(s);
    const kernel = new NftTable(renderBody(m, OPTS));
    const structure = renderStructure(m, OPTS);
    const added = pod('x', 'new', { app: 'web' });
    s.pods.push(added);
    const script = renderElementScript(updatePods(m, [{ key: 'x/new', pod: added }]));
    assert.match(script, /^add element inet krouter-firewall /);
    for (const line of script.trim().split('\n')) assert.match(line, /^add element inet krouter-firewall (judged|isolated|sel|np)-[a-z0-9-]+ \{ .* \}$/);
    assert.match(script, /judged-ipv4 \{ 198\.18\.1\.\d+ \}/);
    assert.match(script, /np-web-tcp-ipv6 \{ fd00:1::\d+ \. tcp \. 8080 \}/, 'the named port of the new pod');
    assert.equal(renderStructure(m, OPTS), structure, 'no rule changed');
    kernel.applyScript(script);
    assert.deepEqual(setsOf(kernel), setsOf(new NftTable(renderBody(build(s), OPTS))));
  });

  it('a label change moves the pod between selector sets with deletes and adds only', () => {
    const s = baseState();
    const m = build(s);
    const kernel = new NftTable(renderBody(m, OPTS));
    const changed = structuredClone(s.pods[0]!);
    changed.metadata!.labels = { app: 'db' };
    s.pods[0] = changed;
    const script = renderElementScript(updatePods(m, [{ key: 'x/a', pod: changed }]));
    assert.match(script, /^delete element /m);
    assert.match(script, /^add element /m);
    assert.doesNotMatch(script, /judged/, 'still the same judged pod');
    kernel.applyScript(script);
    assert.deepEqual(setsOf(kernel), setsOf(new NftTable(renderBody(build(s), OPTS))));
  });

  it('a pod deleted, and a remote pod changing, are element changes too', () => {
    const s = baseState();
    const m = build(s);
    const kernel = new NftTable(renderBody(m, OPTS));
    const remote = structuredClone(s.pods[2]!);
    remote.status!.podIPs = [{ ip: '198.18.2.50' }, { ip: 'fd00:2::50' }];
    s.pods = [s.pods[1]!, remote];
    const script = renderElementScript(updatePods(m, [{ key: 'x/a', pod: undefined }, { key: 'y/c', pod: remote }]));
    kernel.applyScript(script);
    assert.deepEqual(setsOf(kernel), setsOf(new NftTable(renderBody(build(s), OPTS))));
    assert.equal(renderElementScript(updatePods(m, [{ key: 'x/a', pod: undefined }])), '', 'deleting twice changes nothing');
  });

  it('two pods with the same address: the element stays until neither holds it', () => {
    const s = baseState();
    const m = build(s);
    const twin = structuredClone(s.pods[0]!);
    twin.metadata!.name = 'twin';
    const add = renderElementScript(updatePods(m, [{ key: 'x/twin', pod: twin }]));
    assert.equal(add, '', 'every element already present');
    assert.equal(renderElementScript(updatePods(m, [{ key: 'x/a', pod: undefined }])), '');
    assert.match(renderElementScript(updatePods(m, [{ key: 'x/twin', pod: undefined }])), /^delete element .*judged-ipv4/m);
  });

  it('renderPatch: a namespace label change is elements only; a policy change needs the whole table', () => {
    const s = baseState();
    const old = build(s);
    const relabelled = { ...s, namespaces: [makeNamespace('x', { team: 'blue' }), makeNamespace('y')] };
    const patch = renderPatch(old, build(relabelled), OPTS);
    assert.ok(patch);
    for (const line of patch.trim().split('\n')) assert.match(line, /^(add|delete) element /);
    const kernel = new NftTable(renderBody(old, OPTS));
    kernel.applyScript(patch);
    assert.deepEqual(setsOf(kernel), setsOf(new NftTable(renderBody(build(relabelled), OPTS))));
    const morePolicies = { ...s, policies: [...s.policies, makePolicy('y', 'p', { podSelector: {}, policyTypes: ['Egress'] })] };
    assert.equal(renderPatch(old, build(morePolicies), OPTS), undefined);
    assert.equal(renderPatch(old, build(s), OPTS), '', 'same state: nothing to do');
  });
});

describe('firewall render: port ranges', () => {
  it('merges a port listed twice, a port inside a range and touching ranges into one element per run (nft refuses overlapping interval elements)', () => {
    assert.deepEqual(
      mergePortRanges([
        { protocol: 'TCP', from: 80, to: 90 },
        { protocol: 'TCP', from: 80, to: 80 },
        { protocol: 'UDP', from: 53, to: 53 },
        { protocol: 'TCP', from: 91, to: 100 },
        { protocol: 'UDP', from: 53, to: 53 },
        { protocol: 'TCP', from: 443, to: 443 },
        { protocol: 'TCP', from: 1, to: 65535 },
        { protocol: 'SCTP', from: 9000, to: 9000 },
      ]),
      [
        { protocol: 'SCTP', from: 9000, to: 9000 },
        { protocol: 'TCP', from: 1, to: 65535 },
        { protocol: 'UDP', from: 53, to: 53 },
      ],
    );
    const s = baseState();
    s.policies.push(makePolicy('x', 'overlap', { podSelector: {}, ingress: [{ ports: [{ port: 80 }, { port: 80, endPort: 90 }, { port: 85 }, { protocol: 'UDP', port: 53 }, { protocol: 'UDP', port: 53 }] }] }));
    const body = renderBody(build(s), OPTS);
    assert.match(body, /elements = \{ tcp \. 80-90, udp \. 53 \}/);
  });
});

describe('firewall render: table text', () => {
  it('sets and counters are per family, chains shared; SCTP, ranges and the log render as nft wants them', () => {
    const s = baseState();
    s.policies.push(makePolicy('x', 'sctp', { podSelector: {}, ingress: [{ ports: [{ protocol: 'SCTP', port: 9000 }, { protocol: 'UDP', port: 5000, endPort: 5010 }] }] }));
    const body = renderBody(build(s), { defaultDeny: true, log: { enabled: true, ratePerSecond: 7 } });
    assert.match(body, /set ports-[0-9a-f]+ \{\n\s+type inet_proto \. inet_service\n\s+flags interval\n\s+elements = \{ sctp \. 9000, udp \. 5000-5010 \}/);
    assert.match(body, /^    meta l4proto \. th dport @ports-[0-9a-f]+ accept comment "x\/sctp ingress\[0\]"$/m);
    assert.equal(body.match(/@ports-[0-9a-f]+ accept comment "x\/sctp/g)?.length, 1, 'a rule without peers once, not per family');
    assert.match(body, /limit rate 7\/second log prefix "krouter-firewall deny ingress: "/);
    assert.match(body, /counter deny-ing-[0-9a-f]+-ipv4 \{\}/);
    assert.match(body, /counter deny-ing-[0-9a-f]+-ipv6 \{\}/);
    assert.match(body, /type filter hook forward priority filter; policy accept;/);
    assert.match(body, /type filter hook forward priority filter \+ 1; policy accept;/);
    assert.match(body, /ip saddr 198\.18\.1\.0\/24 ip saddr != @judged-ipv4 counter name pending-ipv4 drop/);
    assert.match(body, /ip6 daddr fd00:1::\/64 ip6 daddr != @judged-ipv6 counter name pending-ipv6 drop/);
    assert.doesNotMatch(renderBody(build(s), { ...OPTS, defaultDeny: false }), /pending/);
  });

  it('one family: nothing of the other is rendered', () => {
    const s = baseState();
    const m = buildModel({ families: ['ipv6'], nodeName: 'node-1', node: NODE, pods: s.pods, namespaces: s.namespaces, policies: s.policies });
    const body = renderBody(m, OPTS);
    assert.doesNotMatch(body, /ipv4|198\.18|\bip saddr|\bip daddr/);
    assert.match(body, /ip6 daddr @isolated-ing-ipv6/);
  });
});

describe('firewall model: bad input matches nothing and names policy and field', () => {
  const probe = (m: FirewallModel, from: string, to: string, dport: number, proto: 'tcp' | 'udp' = 'tcp') =>
    new NftTable(renderBody(m, OPTS)).forward({ saddr: from, daddr: to, proto, dport });

  it('a named port no selected pod has: that port matches nothing, the rule\'s other port still works', () => {
    const s = baseState();
    s.policies = [makePolicy('x', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 'nope' }, { port: 80 }] }] })];
    const m = build(s);
    assert.deepEqual(
      m.problems.map((p) => [p.policy, p.field]),
      [['x/p', 'spec.ingress[0].ports[0].port']],
    );
    assert.match(m.problems[0]!.message, /named "nope"/);
    const web = s.pods[0]!.status!.podIPs![0]!.ip!;
    assert.equal(probe(m, '198.18.2.9', web, 80), 'accept');
    assert.equal(probe(m, '198.18.2.9', web, 8080), 'drop');
  });

  it('a rule whose only port is bad matches nothing (not every port)', () => {
    const s = baseState();
    s.policies = [makePolicy('x', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 80, endPort: 70 }] }] })];
    const m = build(s);
    assert.deepEqual(m.problems.map((p) => p.field), ['spec.ingress[0].ports[0].endPort']);
    assert.equal(probe(m, '198.18.2.9', s.pods[0]!.status!.podIPs![0]!.ip!, 80), 'drop');
  });

  it('an except outside its block, a bad CIDR, an ipBlock beside a selector: those peers match nothing, others still do', () => {
    const s = baseState();
    s.policies = [
      makePolicy('x', 'p', {
        podSelector: { matchLabels: { app: 'web' } },
        ingress: [
          {
            from: [
              { ipBlock: { cidr: '198.19.0.0/16', except: ['198.20.0.0/24'] } },
              { ipBlock: { cidr: '198.19.0.0/16', except: ['fd00::/64'] } },
              { ipBlock: { cidr: 'not-a-cidr' } },
              { ipBlock: { cidr: '198.19.0.0/16' }, podSelector: {} },
              { ipBlock: { cidr: '198.18.2.0/24' } },
            ],
          },
        ],
      }),
    ];
    const m = build(s);
    assert.deepEqual(
      m.problems.map((p) => p.field),
      ['spec.ingress[0].from[0].ipBlock.except[0]', 'spec.ingress[0].from[1].ipBlock.except[0]', 'spec.ingress[0].from[2].ipBlock.cidr', 'spec.ingress[0].from[3]'],
    );
    const web = s.pods[0]!.status!.podIPs![0]!.ip!;
    assert.equal(probe(m, '198.19.1.1', web, 80), 'drop', 'the bad blocks allow nothing');
    assert.equal(probe(m, '198.18.2.9', web, 80), 'accept', 'the good block still allows');
  });

  it('an unknown protocol, a numeric string port and a bad selector are problems; other policies still sync', () => {
    const s = baseState();
    s.policies = [
      makePolicy('x', 'proto', { podSelector: {}, ingress: [{ ports: [{ protocol: 'ICMP', port: 1 }, { port: '80' }] }] }),
      makePolicy('x', 'selector', { podSelector: { matchExpressions: [{ key: 'app', operator: 'Near', values: ['x'] }] } }),
      makePolicy('y', 'fine', { podSelector: {}, policyTypes: ['Ingress'] }),
    ];
    const m = build(s);
    assert.deepEqual(
      m.problems.map((p) => `${p.policy} ${p.field}`),
      ['x/proto spec.ingress[0].ports[0].protocol', 'x/proto spec.ingress[0].ports[1].port', 'x/selector spec.podSelector'],
    );
    assert.deepEqual(m.compiled.policies.map((p) => p.key), ['x/proto', 'y/fine']);
  });
});

describe('firewall ipBlocks', () => {
  it('cidr minus excepts becomes disjoint prefixes, in the block\'s family', () => {
    const b = readIpBlock({ cidr: '198.18.0.0/22', except: ['198.18.1.0/24', '198.18.2.128/25'] });
    assert.ok(!('error' in b));
    assert.equal(b.family, 'ipv4');
    assert.deepEqual(b.intervals.flatMap((i) => intervalToPrefixes(i, 'ipv4')), ['198.18.0.0/24', '198.18.2.0/25', '198.18.3.0/24']);
    const v6 = readIpBlock({ cidr: 'fd00::/62', except: ['fd00::/64'] });
    assert.ok(!('error' in v6));
    assert.deepEqual(v6.intervals.flatMap((i) => intervalToPrefixes(i, 'ipv6')), ['fd00:0:0:1::/64', 'fd00:0:0:2::/63']);
    assert.deepEqual(readIpBlock({ cidr: '198.18.0.0/24', except: ['198.18.0.0/16'] }), { error: '"198.18.0.0/16" is not inside "198.18.0.0/24"', field: 'except[0]' });
  });
});
