import type { V1Namespace, V1NetworkPolicy, V1Pod } from '@krouter/sdk';

/**
 * Kubernetes objects for firewall tests: namespaces x, y, z with pods a, b,
 * c as upstream's network policy e2e has them, and policy builders.
 */

export interface PodSpec {
  ns: string;
  name: string;
  node?: string;
  ips: string[];
  labels?: Record<string, string>;
  /** name -> port (TCP unless `proto:port`). */
  ports?: Record<string, number | string>;
  hostNetwork?: boolean;
}

export function makePod(p: PodSpec): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: p.ns, name: p.name, labels: p.labels ?? { pod: p.name } },
    spec: {
      nodeName: p.node ?? 'node-1',
      hostNetwork: p.hostNetwork,
      containers: [
        {
          name: 'c',
          ports: Object.entries(p.ports ?? {}).map(([name, v]) => {
            const [proto, port] = typeof v === 'number' ? ['TCP', v] : (v.split(':') as [string, string]);
            return { name, containerPort: Number(port), protocol: proto };
          }),
        },
      ],
    },
    status: { phase: 'Running', podIP: p.ips[0], podIPs: p.ips.map((ip) => ({ ip })) },
  };
}

export function makeNamespace(name: string, labels: Record<string, string> = {}): V1Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ns: name, ...labels } } };
}

export function makePolicy(ns: string, name: string, spec: Record<string, unknown>): V1NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: ns, name }, spec: spec as V1NetworkPolicy['spec'] };
}
