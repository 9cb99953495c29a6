import type { Family, PerFamily } from '@krouter/sdk';
import type { LastSync } from './agent.ts';
import type { PortState, ServiceState } from './model.ts';
import { TABLE } from './names.ts';

/** One service port in one family, as `krouter status` shows it. */
export interface ServicePortStatus {
  service: string;
  protocol: string;
  port: number;
  clusterIP: string | null;
  externalIPs: string[];
  loadBalancerIPs: string[];
  nodePort: number | null;
  /** Endpoints traffic under the Cluster policy goes to. */
  endpoints: number;
  /** This node's endpoints, when a Local traffic policy applies; null otherwise. */
  localEndpoints: number | null;
  /** Traffic policies, affinity, and REJECT when there is no endpoint. */
  notes: string[];
}

/** The service proxy's part of `krouter status`. */
export interface ServiceProxyStatus {
  table: string;
  lastSync: LastSync | null;
  healthCheckNodePorts: number[];
  families: Partial<Record<Family, { services: number; endpoints: number; ports: ServicePortStatus[] }>>;
  problems: string[];
}

export function portStatus(s: ServiceState, p: PortState): ServicePortStatus {
  const notes: string[] = [];
  if (p.externalLocal) notes.push('externalTrafficPolicy=Local');
  if (p.internalLocal) notes.push('internalTrafficPolicy=Local');
  if (p.affinitySeconds !== undefined) notes.push(`affinity=${p.affinitySeconds}s`);
  if (p.clusterEndpoints.length === 0) notes.push('REJECT (no endpoints)');
  return {
    service: s.key,
    protocol: p.protocol,
    port: p.port,
    clusterIP: p.clusterIP ?? null,
    externalIPs: [...p.externalIPs],
    loadBalancerIPs: [...p.loadBalancerIPs],
    nodePort: p.nodePort ?? null,
    endpoints: p.clusterEndpoints.length,
    localEndpoints: p.internalLocal || p.externalLocal ? p.localEndpoints.length : null,
    notes,
  };
}

/** Pure: the proxy's state -> its status document, ports sorted by service, protocol and port. */
export function statusOf(input: {
  families: readonly Family[];
  services: Iterable<ServiceState>;
  counts: PerFamily<{ services: number; endpoints: number }>;
  last: LastSync | undefined;
  healthCheckPorts: number[];
  problems: string[];
}): ServiceProxyStatus {
  const ports: Partial<Record<Family, ServicePortStatus[]>> = Object.fromEntries(input.families.map((f) => [f, [] as ServicePortStatus[]]));
  for (const s of input.services) for (const p of s.ports) ports[p.family]?.push(portStatus(s, p));
  const order = (a: ServicePortStatus, b: ServicePortStatus) =>
    a.service.localeCompare(b.service) || a.protocol.localeCompare(b.protocol) || a.port - b.port;
  return {
    table: `${TABLE.family} ${TABLE.name}`,
    lastSync: input.last ?? null,
    healthCheckNodePorts: [...input.healthCheckPorts].sort((a, b) => a - b),
    families: Object.fromEntries(
      input.families.map((f) => [f, { services: input.counts[f].services, endpoints: input.counts[f].endpoints, ports: ports[f]!.sort(order) }]),
    ),
    problems: [...input.problems],
  };
}
