import type { V1EndpointSlice, V1Service } from '@krouter/sdk';

/** Builders of Services and EndpointSlices for service-proxy tests (plain objects, as the informers cache them). */

export interface PortSpec {
  name?: string;
  port: number;
  protocol?: string;
  targetPort?: number | string;
  nodePort?: number;
}

export function makeService(
  namespace: string,
  name: string,
  opts: {
    clusterIPs?: string[];
    ipFamilies?: string[];
    ports?: PortSpec[];
    type?: string;
    externalIPs?: string[];
    lbIngress?: Array<{ ip?: string; hostname?: string; ipMode?: string }>;
    sourceRanges?: string[];
    externalTrafficPolicy?: string;
    internalTrafficPolicy?: string;
    healthCheckNodePort?: number;
    sessionAffinity?: { timeoutSeconds?: number };
    publishNotReadyAddresses?: boolean;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    clusterIP?: string;
    trafficDistribution?: string;
  } = {},
): V1Service {
  const clusterIPs = opts.clusterIPs ?? ['198.18.128.10'];
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace, name, uid: `uid-${namespace}-${name}`, annotations: opts.annotations, labels: opts.labels },
    spec: {
      type: opts.type ?? 'ClusterIP',
      clusterIP: opts.clusterIP ?? clusterIPs[0],
      clusterIPs: opts.clusterIP === 'None' ? ['None'] : clusterIPs,
      ipFamilies: opts.ipFamilies ?? clusterIPs.map((ip) => (ip.includes(':') ? 'IPv6' : 'IPv4')),
      ports: (opts.ports ?? [{ name: 'http', port: 80, targetPort: 8080 }]).map((p) => ({ protocol: 'TCP', ...p })),
      externalIPs: opts.externalIPs,
      loadBalancerSourceRanges: opts.sourceRanges,
      externalTrafficPolicy: opts.externalTrafficPolicy,
      internalTrafficPolicy: opts.internalTrafficPolicy,
      healthCheckNodePort: opts.healthCheckNodePort,
      sessionAffinity: opts.sessionAffinity ? 'ClientIP' : 'None',
      sessionAffinityConfig: opts.sessionAffinity ? { clientIP: { timeoutSeconds: opts.sessionAffinity.timeoutSeconds } } : undefined,
      publishNotReadyAddresses: opts.publishNotReadyAddresses,
      trafficDistribution: opts.trafficDistribution,
    },
    status: { loadBalancer: { ingress: opts.lbIngress } },
  } as V1Service;
}

export interface EndpointSpec {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  zones?: string[];
  nodes?: string[];
}

export function makeSlice(
  namespace: string,
  service: string,
  sliceName: string,
  addressType: 'IPv4' | 'IPv6' | 'FQDN',
  endpoints: EndpointSpec[],
  ports: Array<{ name?: string; port: number; protocol?: string }> = [{ name: 'http', port: 8080 }],
): V1EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace, name: sliceName, uid: `uid-${namespace}-${sliceName}`, labels: { 'kubernetes.io/service-name': service } },
    addressType,
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      nodeName: e.node ?? 'n1',
      conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating },
      ...(e.zones || e.nodes ? { hints: { forZones: e.zones?.map((name) => ({ name })), forNodes: e.nodes?.map((name) => ({ name })) } } : {}),
    })),
    ports: ports.map((p) => ({ protocol: 'TCP', ...p })),
  } as V1EndpointSlice;
}
