/**
 * EndpointSlice computation (the endpointslice controller's job), pure:
 * a Service + the Pods of its namespace -> the desired slices.
 */
import { tryFamilyOf, type Family } from '../../../sdk/src/families.ts';
import { fromK8sFamily, type K8sFamily } from './service-ips.ts';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'lab-controllers.krouter.io';

export interface PodLike {
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec?: { nodeName?: string; containers?: Array<{ ports?: Array<{ name?: string; containerPort: number; protocol?: string }> }> };
  status?: { phase?: string; podIP?: string; podIPs?: Array<{ ip: string }>; conditions?: Array<{ type: string; status: string }> };
}

export interface ServiceLike {
  metadata: { name: string; namespace?: string; uid?: string };
  spec?: {
    type?: string;
    selector?: Record<string, string>;
    ipFamilies?: string[];
    ports?: Array<{ name?: string; port: number; protocol?: string; targetPort?: number | string; appProtocol?: string }>;
  };
}

export interface EndpointPort {
  name: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

export interface Endpoint {
  addresses: string[];
  conditions: { ready: boolean; serving: boolean; terminating: boolean };
  nodeName?: string;
  targetRef: { kind: 'Pod'; namespace: string; name: string; uid?: string };
}

export interface DesiredSlice {
  name: string;
  addressType: K8sFamily;
  endpoints: Endpoint[];
  ports: EndpointPort[];
}

export function selectorMatches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

export function podReady(pod: PodLike): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** The pod's IPs per family (status.podIPs, else status.podIP). */
export function podIPsByFamily(pod: PodLike): Partial<Record<Family, string>> {
  const ips = pod.status?.podIPs?.map((p) => p.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
  const out: Partial<Record<Family, string>> = {};
  for (const ip of ips) {
    const f = tryFamilyOf(ip);
    if (f && !out[f] && !ip.includes('/')) out[f] = ip;
  }
  return out;
}

/** Resolves a service port's targetPort for one pod; undefined when a named port is missing. */
export function resolveTargetPort(svcPort: { port: number; protocol?: string; targetPort?: number | string }, pod: PodLike): number | undefined {
  const t = svcPort.targetPort;
  if (t === undefined || t === '' || t === 0) return svcPort.port;
  if (typeof t === 'number') return t;
  if (/^\d+$/.test(t)) return Number(t);
  const proto = svcPort.protocol ?? 'TCP';
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.name === t && (p.protocol ?? 'TCP') === proto) return p.containerPort;
    }
  }
  return undefined;
}

/**
 * The desired slices of a selector Service: one per address type in the
 * service's ipFamilies (and, as Kubernetes does, a further slice per distinct
 * set of resolved ports, which only happens with named target ports).
 */
export function desiredSlices(svc: ServiceLike, pods: readonly PodLike[]): DesiredSlice[] {
  const sel = svc.spec?.selector;
  if (!sel || Object.keys(sel).length === 0 || svc.spec?.type === 'ExternalName') return [];
  const ns = svc.metadata.namespace ?? 'default';
  const families = ((svc.spec?.ipFamilies ?? []) as K8sFamily[]).filter((f) => f === 'IPv4' || f === 'IPv6');
  const matching = pods
    .filter((p) => (p.metadata.namespace ?? 'default') === ns && selectorMatches(sel, p.metadata.labels))
    .filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));

  const out: DesiredSlice[] = [];
  for (const fam of families) {
    const groups = new Map<string, { ports: EndpointPort[]; endpoints: Endpoint[] }>();
    for (const pod of matching) {
      const ip = podIPsByFamily(pod)[fromK8sFamily(fam)];
      if (!ip) continue;
      const ports: EndpointPort[] = [];
      for (const sp of svc.spec?.ports ?? []) {
        const port = resolveTargetPort(sp, pod);
        if (port === undefined) continue;
        ports.push({ name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP', ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}) });
      }
      const key = JSON.stringify(ports);
      if (!groups.has(key)) groups.set(key, { ports, endpoints: [] });
      const ready = podReady(pod);
      const terminating = !!pod.metadata.deletionTimestamp;
      groups.get(key)!.endpoints.push({
        addresses: [ip],
        conditions: { ready: ready && !terminating, serving: ready, terminating },
        ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
        targetRef: { kind: 'Pod', namespace: ns, name: pod.metadata.name, ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}) },
      });
    }
    const base = `${svc.metadata.name}-${fam.toLowerCase()}`;
    if (groups.size === 0) {
      // An empty slice still tells consumers the service has no endpoints of this family.
      const ports = (svc.spec?.ports ?? []).filter((sp) => typeof sp.targetPort !== 'string' || /^\d+$/.test(sp.targetPort)).map((sp) => ({ name: sp.name ?? '', port: resolveTargetPort(sp, {} as PodLike)!, protocol: sp.protocol ?? 'TCP' }));
      out.push({ name: base, addressType: fam, endpoints: [], ports });
      continue;
    }
    [...groups.values()].forEach((g, i) => out.push({ name: i === 0 ? base : `${base}-${i}`, addressType: fam, endpoints: g.endpoints, ports: g.ports }));
  }
  return out;
}

/** The full EndpointSlice object for a desired slice. */
export function sliceObject(svc: ServiceLike, d: DesiredSlice): Record<string, unknown> {
  const ns = svc.metadata.namespace ?? 'default';
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: d.name,
      namespace: ns,
      labels: { [SERVICE_NAME_LABEL]: svc.metadata.name, [MANAGED_BY_LABEL]: MANAGED_BY },
      ownerReferences: svc.metadata.uid ? [{ apiVersion: 'v1', kind: 'Service', name: svc.metadata.name, uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true }] : [],
    },
    addressType: d.addressType,
    endpoints: d.endpoints,
    ports: d.ports,
  };
}

/** True when an existing slice already says what the desired one says. */
export function sliceUpToDate(existing: Record<string, any>, want: Record<string, any>): boolean {
  const norm = (o: Record<string, any>) =>
    stableJson([o.addressType, o.endpoints ?? [], o.ports ?? [], o.metadata?.labels?.[SERVICE_NAME_LABEL], o.metadata?.labels?.[MANAGED_BY_LABEL]]);
  return norm(existing) === norm(want);
}

/** JSON with object keys sorted, so equal content compares equal whatever the key order. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
