import assert from 'node:assert/strict';
import type { Family, NodeNetwork, V1NetworkPolicy, V1Pod } from '@krouter/sdk';
import { buildModel, type FirewallModel } from '../../plugins/firewall/model.ts';
import { renderBody, type RenderOptions } from '../../plugins/firewall/render.ts';
import { makeNamespace, makePod, makePolicy } from '../helpers/firewall-fixtures.ts';
import { NAMED_PORTS, NAMESPACES, PODS, PORTS, PROTOS, SCENARIOS, denyEgressX, denyIngressX, name, ns, type Expect } from '../helpers/netpol-scenarios.ts';
import { NftTable, type Packet } from '../helpers/nft-interpreter.ts';

/**
 * The whole NetworkPolicy API, as scenarios modelled on upstream's network
 * policy e2e (namespaces x, y, z; pods a, b, c; ports 80, 81; TCP and UDP):
 * each builds the model, renders the table and asks an nft-subset
 * interpreter for the full reachability matrix, in every family.
 */

const OPTS: RenderOptions = { defaultDeny: true, log: { enabled: false, ratePerSecond: 10 } };

const nsIndex = (ns: string) => NAMESPACES.indexOf(ns) + 1;
const podIndex = (p: string) => PODS.indexOf(p) + 2;
/** Namespaces whose pods run on node-2, in node-2's pod CIDR (198.18.2.0/24, fd00:2::/64). */
const remoteNamespaces = new Set<string>();
/** x/a = 198.18.1.12 / fd00:1::12 and so on, on node-1 (pod CIDR 198.18.1.0/24, fd00:1::/64). */
const ipOf = (f: Family, ns: string, pod: string) => {
  const subnet = remoteNamespaces.has(ns) ? 2 : 1;
  return f === 'ipv4' ? `198.18.${subnet}.${nsIndex(ns) * 10 + podIndex(pod)}` : `fd00:${subnet}::${nsIndex(ns) * 10 + podIndex(pod)}`;
};
const NODE_IP = { ipv4: '198.18.0.1', ipv6: 'fd00::1' };

function node(families: readonly Family[]): NodeNetwork {
  const only = <T>(f: Family, v: T) => (families.includes(f) ? v : undefined);
  return {
    name: 'node-1',
    ips: { ipv4: only('ipv4', [NODE_IP.ipv4]) ?? [], ipv6: only('ipv6', [NODE_IP.ipv6]) ?? [] },
    primaryIP: { ipv4: only('ipv4', NODE_IP.ipv4), ipv6: only('ipv6', NODE_IP.ipv6) },
    podCIDRs: { ipv4: only('ipv4', ['198.18.1.0/24']) ?? [], ipv6: only('ipv6', ['fd00:1::/64']) ?? [] },
    errors: [],
  };
}

/** Upstream's pods: each serves TCP and UDP on 80 and 81 under the names serve-80-tcp ... */
function allPods(families: readonly Family[], tweak: (ns: string, pod: string) => Partial<Parameters<typeof makePod>[0]> = () => ({})): V1Pod[] {
  const out: V1Pod[] = [];
  for (const ns of NAMESPACES)
    for (const pod of PODS)
      out.push(
        makePod({
          ns,
          name: pod,
          ips: families.map((f) => ipOf(f, ns, pod)),
          ports: NAMED_PORTS,
          ...tweak(ns, pod),
        }),
      );
  return out;
}

interface World {
  families: Family[];
  policies: V1NetworkPolicy[];
  pods?: V1Pod[];
  namespaceLabels?: Record<string, Record<string, string>>;
  opts?: RenderOptions;
}

function model(w: World): FirewallModel {
  return buildModel({
    families: w.families,
    nodeName: 'node-1',
    node: node(w.families),
    pods: w.pods ?? allPods(w.families),
    namespaces: NAMESPACES.map((n) => makeNamespace(n, w.namespaceLabels?.[n])),
    policies: w.policies,
  });
}

function table(w: World): { table: NftTable; model: FirewallModel } {
  const m = model(w);
  return { table: new NftTable(renderBody(m, w.opts ?? OPTS)), model: m };
}


/** Probes every pair of distinct pods on both ports and protocols; lists the wrong cells. */
function wrongCells(w: World, expect: Expect): string[] {
  const { table: t } = table(w);
  const wrong: string[] = [];
  for (const f of w.families)
    for (const proto of PROTOS)
      for (const port of PORTS)
        for (const fromNs of NAMESPACES)
          for (const fromPod of PODS)
            for (const toNs of NAMESPACES)
              for (const toPod of PODS) {
                const from = `${fromNs}/${fromPod}`;
                const to = `${toNs}/${toPod}`;
                if (from === to) continue;
                const p: Packet = { saddr: ipOf(f, fromNs, fromPod), daddr: ipOf(f, toNs, toPod), proto, dport: port };
                const got = t.forward(p) === 'accept';
                const want = expect(from, to, port, proto);
                if (got !== want) wrong.push(`${f} ${proto}/${port} ${from} -> ${to}: got ${got ? 'allowed' : 'denied'}, want ${want ? 'allowed' : 'denied'}`);
              }
  return wrong;
}

const FAMILY_MODES: Family[][] = [['ipv4'], ['ipv6'], ['ipv4', 'ipv6']];

describe('firewall model: upstream network policy scenarios (rendered, interpreted)', () => {
  for (const s of SCENARIOS) {
    for (const families of FAMILY_MODES) {
      it(`${s.name} [${families.join('+')}]`, () => {
        const wrong = wrongCells({ families, policies: s.policies }, s.expect);
        assert.deepEqual(wrong, [], `${wrong.length} wrong cell(s):\n${wrong.slice(0, 20).join('\n')}`);
      });
    }
  }
});

describe('firewall model: ipBlock', () => {
  const cidrOf = (f: Family, pod: string) => `${ipOf(f, ns(pod), name(pod))}/${f === 'ipv4' ? 32 : 128}`;
  for (const families of FAMILY_MODES) {
    it(`egress to a CIDR block with an except, in the block's own family only [${families.join('+')}]`, () => {
      // x/a may reach 198.18.1.0/24 except y/b: IPv4 only, so every IPv6 egress of x/a is denied.
      const policies = [
        makePolicy('x', 'p', {
          podSelector: { matchLabels: { pod: 'a' } },
          policyTypes: ['Egress'],
          egress: [{ to: [{ ipBlock: { cidr: '198.18.1.0/24', except: [cidrOf('ipv4', 'y/b')] } }] }],
        }),
      ];
      const { table: t } = table({ families, policies });
      for (const f of families) {
        for (const to of ['x/b', 'y/a', 'y/b', 'z/c']) {
          const got = t.forward({ saddr: ipOf(f, 'x', 'a'), daddr: ipOf(f, ns(to), name(to)), proto: 'tcp', dport: 80 });
          const want = f === 'ipv4' && to !== 'y/b' ? 'accept' : 'drop';
          assert.equal(got, want, `${f} x/a -> ${to}`);
        }
      }
    });

    it(`an address in both a block's except and another peer is allowed [${families.join('+')}]`, () => {
      const policies = [
        makePolicy('x', 'p', {
          podSelector: { matchLabels: { pod: 'a' } },
          policyTypes: ['Egress'],
          egress: [
            {
              to: [
                { ipBlock: { cidr: '198.18.1.0/24', except: [cidrOf('ipv4', 'y/b')] } },
                { ipBlock: { cidr: cidrOf('ipv4', 'y/b') } },
                ...families.filter((f) => f === 'ipv6').map(() => ({ ipBlock: { cidr: 'fd00:1::/64', except: [cidrOf('ipv6', 'y/b')] } })),
              ],
            },
          ],
        }),
      ];
      const { table: t } = table({ families, policies });
      for (const f of families) {
        const got = t.forward({ saddr: ipOf(f, 'x', 'a'), daddr: ipOf(f, 'y', 'b'), proto: 'tcp', dport: 80 });
        assert.equal(got, f === 'ipv4' ? 'accept' : 'drop', f);
        assert.equal(t.forward({ saddr: ipOf(f, 'x', 'a'), daddr: ipOf(f, 'y', 'c'), proto: 'tcp', dport: 80 }), 'accept', f);
      }
    });

    it(`ingress from an external client's address by ipBlock (NodePort with Local policy sees it) [${families.join('+')}]`, () => {
      const external = { ipv4: '198.19.5.5', ipv6: 'fd00:99::5' };
      const policies = [
        makePolicy('x', 'p', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [{ from: [{ ipBlock: { cidr: '198.19.5.0/24' } }, { ipBlock: { cidr: 'fd00:99::/64' } }] }],
        }),
      ];
      const { table: t } = table({ families, policies });
      for (const f of families) {
        assert.equal(t.forward({ saddr: external[f], daddr: ipOf(f, 'x', 'a'), proto: 'tcp', dport: 80 }), 'accept');
        assert.equal(t.forward({ saddr: ipOf(f, 'y', 'a'), daddr: ipOf(f, 'x', 'a'), proto: 'tcp', dport: 80 }), 'drop');
      }
    });
  }
});

describe('firewall model: pods, nodes and pending addresses', () => {
  const families: Family[] = ['ipv4', 'ipv6'];

  it('named ports resolve per pod: the same name may be a different number on each', () => {
    const pods = allPods(families, (n, p) => (n === 'x' ? { ports: { web: p === 'a' ? 80 : 81 } } : {}));
    const policies = [makePolicy('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'web' }] }] })];
    const wrong = wrongCells({ families, policies, pods }, (_f, to, port, proto) => ns(to) !== 'x' || (proto === 'tcp' && port === (name(to) === 'a' ? 80 : 81)));
    assert.deepEqual(wrong, []);
  });

  it('hostNetwork pods are neither policed nor selectable as peers', () => {
    const pods = [...allPods(families), makePod({ ns: 'x', name: 'h', ips: [NODE_IP.ipv4, NODE_IP.ipv6], hostNetwork: true, labels: { pod: 'a' } })];
    const m = model({ families, pods, policies: [makePolicy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'a' } } }] }] })] });
    for (const [set, elements] of m.index.elements) assert.ok(!elements.has(NODE_IP.ipv4) || set === 'node-ipv4', `node address in ${set}`);
  });

  it("traffic from this node's own addresses to its pods is allowed, whatever the policies", () => {
    const { table: t } = table({ families, policies: [makePolicy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] })] });
    for (const f of families) {
      assert.equal(t.forward({ saddr: NODE_IP[f], daddr: ipOf(f, 'x', 'a'), proto: 'tcp', dport: 80 }), 'accept');
      assert.equal(t.forward({ saddr: f === 'ipv4' ? '198.18.1.1' : 'fd00:1::1', daddr: ipOf(f, 'x', 'a'), proto: 'tcp', dport: 80 }), 'accept', 'the bridge gateway');
    }
  });

  it('a pod address of this node not yet judged is dropped both ways; with defaultDeny off it passes', () => {
    const pending = { ipv4: '198.18.1.200', ipv6: 'fd00:1::200' };
    const on = table({ families, policies: [] }).table;
    const off = table({ families, policies: [], opts: { ...OPTS, defaultDeny: false } }).table;
    for (const f of families) {
      const inbound = { saddr: ipOf(f, 'y', 'a'), daddr: pending[f], proto: 'tcp' as const, dport: 80 };
      const outbound = { saddr: pending[f], daddr: ipOf(f, 'y', 'a'), proto: 'udp' as const, dport: 81 };
      assert.equal(on.forward(inbound), 'drop');
      assert.equal(on.forward(outbound), 'drop');
      assert.equal(on.counters.get(`pending-${f}`), 2);
      assert.equal(off.forward(inbound), 'accept');
      assert.equal(off.forward(outbound), 'accept');
    }
  });

  it('remote pods are peers but never targets; traffic between remote pods is not judged here', () => {
    remoteNamespaces.add('y');
    try {
      const pods = allPods(families, (n) => (n === 'y' ? { node: 'node-2' } : {}));
      const policies = [
        makePolicy('y', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
        makePolicy('x', 'from-y', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] }),
      ];
      const wrong = wrongCells({ families, policies, pods }, (from, to) => (ns(to) === 'x' ? ns(from) === 'y' : true));
      assert.deepEqual(wrong, []);
    } finally {
      remoteNamespaces.clear();
    }
  });

  it('terminated pods and pods without addresses hold no elements', () => {
    const done = makePod({ ns: 'x', name: 'done', ips: ['198.18.1.99'] });
    done.status!.phase = 'Succeeded';
    const noIp = makePod({ ns: 'x', name: 'new', ips: [] });
    const m = model({ families, pods: [done, noIp], policies: [denyIngressX] });
    const all = [...m.index.elements.values()].flatMap((s) => [...s.keys()]);
    assert.ok(!all.includes('198.18.1.99'));
  });

  it('several policies share the set of an equal selector', () => {
    const peer = { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] };
    const m = model({
      families,
      policies: [
        makePolicy('x', 'p1', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [peer] }),
        makePolicy('x', 'p2', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [peer] }),
        makePolicy('z', 'p3', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [peer] }),
      ],
    });
    // targets x/a, x/b, z/b (3 local selectors) + one shared peer selector
    assert.equal(m.compiled.selectors.size, 4);
  });
});
