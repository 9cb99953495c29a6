import { addressFamily, perFamily, type Family, type PerFamily, type V1Namespace, type V1Pod } from '@krouter/sdk';
import type { Labels } from './selectors.ts';

/** The few facts of a Pod the firewall uses, read once per pod event. */
export interface PodView {
  /** `namespace/name`. */
  key: string;
  namespace: string;
  name: string;
  labels: Labels;
  nodeName: string | undefined;
  /** Addresses of enabled families, from status.podIPs (else status.podIP). */
  ips: PerFamily<string[]>;
  /** containerPorts that have a name; named policy ports resolve against these. */
  namedPorts: ReadonlyArray<{ name: string; protocol: string; port: number }>;
}

/** The label the API server puts on every namespace; set here too for objects from older servers. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * A pod the firewall deals with, or undefined: hostNetwork pods share the
 * node's addresses and are not policed (nor selectable as peers: their
 * address would stand for the whole node); finished pods hold no address.
 */
export function readPod(pod: V1Pod, families: readonly Family[]): PodView | undefined {
  const namespace = pod.metadata?.namespace;
  const name = pod.metadata?.name;
  if (!namespace || !name) return undefined;
  if (pod.spec?.hostNetwork) return undefined;
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  const raw = pod.status?.podIPs?.length ? pod.status.podIPs.map((p) => p.ip) : pod.status?.podIP ? [pod.status.podIP] : [];
  const ips = perFamily<string[]>(() => []);
  for (const ip of raw) {
    const f = typeof ip === 'string' ? addressFamily(ip) : undefined;
    if (f && families.includes(f) && !ips[f].includes(ip!)) ips[f].push(ip!);
  }
  const namedPorts = [];
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const p of c.ports ?? []) {
      if (p.name && Number.isInteger(p.containerPort)) namedPorts.push({ name: p.name, protocol: p.protocol ?? 'TCP', port: p.containerPort });
    }
  }
  return {
    key: `${namespace}/${name}`,
    namespace,
    name,
    labels: pod.metadata?.labels ?? {},
    nodeName: pod.spec?.nodeName,
    ips,
    namedPorts,
  };
}

/** Namespace labels by name, with the automatic name label always present. */
export function namespaceLabels(namespaces: readonly V1Namespace[]): Map<string, Labels> {
  const out = new Map<string, Labels>();
  for (const ns of namespaces) {
    const name = ns.metadata?.name;
    if (!name) continue;
    out.set(name, { ...ns.metadata?.labels, [NAMESPACE_NAME_LABEL]: name });
  }
  return out;
}
