/**
 * The lab's demo workloads as Kubernetes objects: a namespace, two pods per
 * node (pinned with nodeName, so every node has same-node and cross-node
 * peers) with a TCP and a UDP port, and a Service selecting them all.
 */
import type { LabSpec } from './config.ts';

export const DEMO_NAMESPACE = 'demo';
export const DEMO_TCP_PORT = 8080;
export const DEMO_UDP_PORT = 8081;
export const DEMO_APP = 'krlab-demo';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

/** A pod running the lab's test server on the given ports. */
export function testPod(opts: { name: string; namespace?: string; nodeName?: string; labels?: Record<string, string>; tcp?: number[]; udp?: number[] }): KubeObject {
  const ports = [
    ...(opts.tcp ?? [DEMO_TCP_PORT]).map((p, i) => ({ name: i === 0 ? 'tcp' : `tcp-${i}`, containerPort: p, protocol: 'TCP' })),
    ...(opts.udp ?? [DEMO_UDP_PORT]).map((p, i) => ({ name: i === 0 ? 'udp' : `udp-${i}`, containerPort: p, protocol: 'UDP' })),
  ];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: opts.name, namespace: opts.namespace ?? DEMO_NAMESPACE, labels: opts.labels ?? { app: DEMO_APP } },
    spec: {
      ...(opts.nodeName ? { nodeName: opts.nodeName } : {}),
      containers: [{ name: 'server', image: 'krouter-lab/pod-server', ports }],
    },
  };
}

export function demoWorkloads(spec: Pick<LabSpec, 'nodes'>, podsPerNode = 2): KubeObject[] {
  const pods = spec.nodes.flatMap((node) => Array.from({ length: podsPerNode }, (_, i) => testPod({ name: `demo-${node}-${String.fromCharCode(97 + i)}`, nodeName: node })));
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: DEMO_NAMESPACE } },
    ...pods,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'demo', namespace: DEMO_NAMESPACE },
      spec: {
        // Both families where the cluster has both; one where it has one.
        ipFamilyPolicy: 'PreferDualStack',
        selector: { app: DEMO_APP },
        ports: [
          { name: 'tcp', port: 80, targetPort: 'tcp', protocol: 'TCP' },
          { name: 'udp', port: 53, targetPort: 'udp', protocol: 'UDP' },
        ],
      },
    },
  ];
}
