import type { Family } from '@krouter/sdk';
import type { Endpoint, PortState } from './model.ts';

/**
 * Names of the objects in `inet krouter-proxy`. Readable (namespace, name,
 * protocol, port) so `nft list` explains itself; the family is part of every
 * per-family name. nft's names allow letters, digits and `/ - _ . :`, but an
 * IPv6 address's `::` is read as an address, so endpoint names write `:` as `_`.
 */
export const TABLE = { family: 'inet', name: 'krouter-proxy' } as const;
export const T = `${TABLE.family} ${TABLE.name}`;

export type PortChainKind = 'svc' | 'local' | 'ext' | 'fw';

export function portChain(kind: PortChainKind, p: Pick<PortState, 'family' | 'id'>): string {
  return `${kind}-${p.family}-${p.id}`;
}

function endpointSuffix(p: Pick<PortState, 'family' | 'id'>, e: Pick<Endpoint, 'address' | 'port'>): string {
  return `${p.family}-${p.id}/${e.address.replaceAll(':', '_')}/${e.port}`;
}

export function endpointChain(p: Pick<PortState, 'family' | 'id'>, e: Pick<Endpoint, 'address' | 'port'>): string {
  return `ep-${endpointSuffix(p, e)}`;
}

/** ClientIP affinity: the clients last sent to one endpoint (a dynamic set with per-element timeouts). */
export function affinitySet(p: Pick<PortState, 'family' | 'id'>, e: Pick<Endpoint, 'address' | 'port'>): string {
  return `aff-${endpointSuffix(p, e)}`;
}

/** The per-family verdict maps and sets of the table. */
export const maps = {
  /** `address . protocol . port` -> the service's chain: ClusterIPs, ExternalIPs, LoadBalancer IPs. */
  serviceIPs: (f: Family) => `service-ips-${f}`,
  /** `protocol . port` -> the external chain, for NodePorts on the NodePort addresses. */
  nodePorts: (f: Family) => `nodeports-${f}`,
  /** Services without usable endpoints: reject (or drop, under a Local policy), before any DNAT. */
  noEndpointServices: (f: Family) => `no-endpoint-services-${f}`,
  noEndpointNodePorts: (f: Family) => `no-endpoint-nodeports-${f}`,
  /** LoadBalancer IPs with loadBalancerSourceRanges -> their firewall chain. */
  firewallIPs: (f: Family) => `firewall-ips-${f}`,
} as const;

export const sets = {
  nodePortAddresses: (f: Family) => `nodeport-addresses-${f}`,
  clusterCIDRs: (f: Family) => `cluster-cidrs-${f}`,
  /** `address . protocol . port` of every ClusterIP: the base chain masquerades traffic to them from outside the cluster. */
  clusterIPs: (f: Family) => `cluster-ips-${f}`,
} as const;

export const chains = {
  markForMasquerade: 'mark-for-masquerade',
  masquerading: 'masquerading',
  reject: 'reject-chain',
  services: 'services',
  endpointsCheck: 'endpoints-check',
  firewallCheck: 'firewall-check',
} as const;
