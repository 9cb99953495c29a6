import type { V1NetworkPolicy } from '@krouter/sdk';
import { makePolicy } from './firewall-fixtures.ts';

/**
 * NetworkPolicy cases modelled on upstream's network policy e2e
 * (kubernetes/kubernetes test/e2e/network/netpol), written in our own code:
 * namespaces x, y, z (label ns=<name>), pods a, b, c (label pod=<name>), each
 * serving TCP and UDP on 80 and 81 under the names serve-80-tcp,
 * serve-81-tcp, serve-80-udp, serve-81-udp. Each case is policies plus the
 * expected verdict of every cell of the reachability matrix, so the unit
 * tests (rendered table, interpreted) and the lab's e2e (real cluster, real
 * probes) check the same list.
 */

export const NAMESPACES: readonly string[] = ['x', 'y', 'z'];
export const PODS: readonly string[] = ['a', 'b', 'c'];
export const PORTS: readonly number[] = [80, 81];
export const PROTOS = ['tcp', 'udp'] as const;
export type Proto = (typeof PROTOS)[number];

/** Container ports every test pod declares. */
export const NAMED_PORTS: Record<string, number | string> = { 'serve-80-tcp': 80, 'serve-81-tcp': 81, 'serve-80-udp': 'UDP:80', 'serve-81-udp': 'UDP:81' };

/** Should a new connection from pod `from` to pod `to` (`ns/name`) on port/proto pass? */
export type Expect = (from: string, to: string, port: number, proto: Proto) => boolean;

export interface Scenario {
  name: string;
  policies: V1NetworkPolicy[];
  expect: Expect;
}

export const ns = (pod: string) => pod.split('/')[0]!;
export const name = (pod: string) => pod.split('/')[1]!;

export const denyIngressX = makePolicy('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
export const denyEgressX = makePolicy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] });
const toXa = (to: string) => to === 'x/a';

export const SCENARIOS: Scenario[] = [
  { name: 'no policies: everything allowed', policies: [], expect: () => true },
  { name: "default-deny-ingress in x", policies: [denyIngressX], expect: (_f, to) => ns(to) !== 'x' },
  {
    name: 'default-deny-all (ingress and egress) in x',
    policies: [makePolicy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })],
    expect: (from, to) => ns(to) !== 'x' && ns(from) !== 'x',
  },
  {
    name: 'allow-all ingress beside deny-all: the union allows',
    policies: [denyIngressX, makePolicy('x', 'allow-all', { podSelector: {}, ingress: [{}] })],
    expect: () => true,
  },
  {
    name: 'allow x/a from pods with pod=b in x (podSelector)',
    policies: [makePolicy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] })],
    expect: (from, to) => !toXa(to) || from === 'x/b',
  },
  {
    name: 'allow x/a from any pod in all namespaces (namespaceSelector {})',
    policies: [makePolicy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: {} }] }] })],
    expect: () => true,
  },
  {
    name: 'allow x/a only from a different namespace (namespaceSelector ns NotIn x, matchExpressions)',
    policies: [
      makePolicy('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }] } }] }],
      }),
    ],
    expect: (from, to) => !toXa(to) || ns(from) !== 'x',
  },
  {
    name: 'namespaceSelector on the default name label (kubernetes.io/metadata.name In [y])',
    policies: [
      makePolicy('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['y'] }] } }] }],
      }),
    ],
    expect: (from, to) => !toXa(to) || ns(from) === 'y',
  },
  {
    name: 'podSelector with matchExpressions (pod In [b]) over Exists',
    policies: [
      makePolicy('x', 'p', {
        podSelector: { matchExpressions: [{ key: 'pod', operator: 'Exists' }, { key: 'pod', operator: 'In', values: ['a'] }] },
        ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b'] }] } }] }],
      }),
    ],
    expect: (from, to) => !toXa(to) || from === 'x/b',
  },
  {
    name: 'podSelector OR namespaceSelector (two peers)',
    policies: [
      makePolicy('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }, { namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      }),
    ],
    expect: (from, to) => !toXa(to) || from === 'x/b' || ns(from) === 'y',
  },
  {
    name: 'podSelector AND namespaceSelector (one peer)',
    policies: [
      makePolicy('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } }, namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      }),
    ],
    expect: (from, to) => !toXa(to) || from === 'y/b',
  },
  {
    name: 'multiple podSelectors and namespaceSelectors (pod In [b,c] AND ns NotIn [x])',
    policies: [
      makePolicy('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          {
            from: [
              {
                podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b', 'c'] }] },
                namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['x'] }] },
              },
            ],
          },
        ],
      }),
    ],
    expect: (from, to) => !toXa(to) || (ns(from) !== 'x' && name(from) !== 'a'),
  },
  {
    name: 'ports: allow x/a ingress on TCP 81 only',
    policies: [makePolicy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 81, protocol: 'TCP' }] }] })],
    expect: (_f, to, port, proto) => !toXa(to) || (port === 81 && proto === 'tcp'),
  },
  {
    name: 'named port: allow x/a ingress on serve-80-tcp (protocol defaults to TCP)',
    policies: [makePolicy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 'serve-80-tcp' }] }] })],
    expect: (_f, to, port, proto) => !toXa(to) || (port === 80 && proto === 'tcp'),
  },
  {
    name: 'named port from a namespace: serve-80-udp from y only',
    policies: [
      makePolicy('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 'serve-80-udp', protocol: 'UDP' }] }],
      }),
    ],
    expect: (from, to, port, proto) => !toXa(to) || (ns(from) === 'y' && port === 80 && proto === 'udp'),
  },
  {
    name: 'egress named port: x pods may reach serve-81-tcp of any pod (and nothing else)',
    policies: [makePolicy('x', 'p', { podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'serve-81-tcp' }] }] })],
    expect: (from, _t, port, proto) => ns(from) !== 'x' || (port === 81 && proto === 'tcp'),
  },
  {
    name: 'endPort: allow x/a ingress on TCP 80-81, UDP 81-90',
    policies: [
      makePolicy('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ ports: [{ port: 80, endPort: 81, protocol: 'TCP' }, { port: 81, endPort: 90, protocol: 'UDP' }] }],
      }),
    ],
    expect: (_f, to, port, proto) => !toXa(to) || proto === 'tcp' || port === 81,
  },
  {
    name: 'protocol only (UDP, no port): TCP is denied',
    policies: [makePolicy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'UDP' }] }] })],
    expect: (_f, to, _p, proto) => !toXa(to) || proto === 'udp',
  },
  {
    name: "SCTP only: isolates, and neither TCP nor UDP is mistaken for it",
    policies: [makePolicy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'SCTP', port: 80 }] }] })],
    expect: (_f, to) => !toXa(to),
  },
  {
    name: 'stacked policies with overlapping podSelectors: the union (81 from one, 80 from the other)',
    policies: [
      makePolicy('x', 'p1', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 81 }] }] }),
      makePolicy('x', 'p2', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] }, ingress: [{ ports: [{ port: 80 }] }] }),
    ],
    expect: (_f, to, port, proto) => (toXa(to) ? proto === 'tcp' : to === 'x/b' ? proto === 'tcp' && port === 80 : true),
  },
  {
    name: 'egress deny-all in x, then allow egress to y (egress before ingress)',
    policies: [denyEgressX, makePolicy('x', 'to-y', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] })],
    expect: (from, to) => ns(from) !== 'x' || ns(to) === 'y',
  },
  {
    name: 'client-side egress deny wins over an ingress allow-all on the server',
    policies: [
      makePolicy('x', 'deny-egress-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'] }),
      makePolicy('y', 'allow-all', { podSelector: {}, ingress: [{}] }),
    ],
    expect: (from) => from !== 'x/a',
  },
  {
    name: 'Ingress and Egress together in one policy: x/a takes from x/b, sends to y/a only',
    policies: [
      makePolicy('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
        egress: [{ to: [{ podSelector: { matchLabels: { pod: 'a' } }, namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      }),
    ],
    expect: (from, to) => (toXa(to) ? from === 'x/b' : from === 'x/a' ? to === 'y/a' : true),
  },
  {
    name: 'policyTypes [Ingress] ignores the egress section',
    policies: [makePolicy('x', 'p', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}], egress: [{ to: [{ podSelector: { matchLabels: { pod: 'none' } } }] }] })],
    expect: () => true,
  },
  {
    name: 'egress section without policyTypes makes the policy an egress one too',
    policies: [makePolicy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{}], egress: [{ ports: [{ port: 80 }] }] })],
    expect: (from, _t, port, proto) => from !== 'x/a' || (port === 80 && proto === 'tcp'),
  },
  {
    name: 'allow-all egress beside a deny-all egress policy: allow-all takes precedence',
    policies: [denyEgressX, makePolicy('x', 'allow-all-egress', { podSelector: {}, policyTypes: ['Egress'], egress: [{}] })],
    expect: () => true,
  },
  {
    name: 'ingress and egress controlled independently by podSelector',
    policies: [
      makePolicy('x', 'in-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'] }),
      makePolicy('x', 'out-b', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Egress'] }),
    ],
    expect: (from, to) => !toXa(to) && from !== 'x/b',
  },
  {
    name: 'deny ingress from pods in other namespaces (allow from the same namespace)',
    policies: [makePolicy('x', 'p', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] })],
    expect: (from, to) => ns(to) !== 'x' || ns(from) === 'x',
  },
];

