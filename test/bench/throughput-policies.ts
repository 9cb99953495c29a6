/**
 * The policies of the throughput benches: `count` NetworkPolicies that all
 * select the server pod (`app: server`) and admit TCP to one port, each from
 * a different pod label. Exactly one of them, number `allowIndex`, admits the
 * client (`app: client`); the others admit pods that do not exist. A
 * firewall must therefore match the client against every policy's rules.
 */
import type { Obj } from '../lab/kube.ts';

export const NP = { prefix: '/apis/networking.k8s.io/v1', plural: 'networkpolicies', namespaced: true };

export function throughputPolicy(namespace: string, i: number, port: number, allowIndex: number): Obj {
  const from = i === allowIndex ? { app: 'client' } : { app: `other-${i}` };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: `p-${i}`, namespace },
    spec: { podSelector: { matchLabels: { app: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: from } }], ports: [{ port, protocol: 'TCP' }] }] },
  } as Obj;
}

/** The `count` policies in creation order. */
export function throughputPolicies(namespace: string, count: number, port: number, allowIndex = 0): Obj[] {
  return Array.from({ length: count }, (_, i) => throughputPolicy(namespace, i, port, allowIndex));
}
