import {
  ALL_FAMILIES,
  hostPrefixLength,
  nextHopMayCarry,
  tryFamilyOf,
  type BgpPath,
  type Family,
  type V1EndpointSlice,
  type V1Service,
} from '@krouter/sdk';
import { ANNOTATIONS } from '../annotations.ts';
import type { RouterConfig } from '../config.ts';
import type { ClusterNode } from './cluster.ts';

export interface DesiredPaths {
  paths: BgpPath[];
  errors: string[];
}

function exportAttributes(local: ClusterNode): Pick<BgpPath, 'communities' | 'asPath'> {
  return {
    ...(local.bgp.communities.length ? { communities: [...local.bgp.communities] } : {}),
    ...(local.bgp.prepend ? { asPath: Array<number>(local.bgp.prepend.repeat).fill(local.bgp.prepend.asn) } : {}),
  };
}

/**
 * This node's pod CIDRs, one path each, with a next hop of the prefix's own
 * family — or, with `extendedNexthop` (one IPv6 session for both families) on
 * a node without IPv4 addresses, an IPv4 pod CIDR with the node's IPv6
 * address (RFC 8950), as on an IPv6-only underlay.
 */
export function podCidrPaths(local: ClusterNode, families: readonly Family[], opts: { extendedNexthop?: boolean } = {}): DesiredPaths {
  const paths: BgpPath[] = [];
  const errors: string[] = [];
  for (const family of families) {
    for (const prefix of local.net.podCIDRs[family]) {
      const nextHop = local.net.primaryIP[family];
      const carrier = !nextHop && opts.extendedNexthop ? extendedCarrier(local, family) : undefined;
      if (carrier) {
        paths.push({ prefix, nextHop: carrier, extendedNexthop: true, ...exportAttributes(local) });
        continue;
      }
      if (!nextHop) {
        errors.push(`node ${local.name}: pod CIDR ${prefix} is ${family} but the node has no ${family} address to use as next hop`);
        continue;
      }
      paths.push({ prefix, nextHop, ...exportAttributes(local) });
    }
  }
  return { paths, errors };
}

/** A node address of another family that may carry a prefix of `family` (RFC 8950), if any. */
function extendedCarrier(local: ClusterNode, family: Family): string | undefined {
  const via = ALL_FAMILIES.find((f) => f !== family && local.net.primaryIP[f] && nextHopMayCarry(f, family));
  return via ? local.net.primaryIP[via] : undefined;
}

/** "true"/"false" annotation overriding a global switch. */
function annotationSwitch(svc: V1Service, key: string, fallback: boolean): boolean {
  const v = svc.metadata?.annotations?.[key];
  if (v === 'true') return true;
  if (v === 'false') return false;
  return fallback;
}

function hasLocalReadyEndpoint(svc: V1Service, slices: readonly V1EndpointSlice[], nodeName: string): boolean {
  const ns = svc.metadata?.namespace;
  const name = svc.metadata?.name;
  return slices.some(
    (s) =>
      s.metadata?.namespace === ns &&
      s.metadata?.labels?.['kubernetes.io/service-name'] === name &&
      (s.endpoints ?? []).some((e) => e.nodeName === nodeName && e.conditions?.ready !== false),
  );
}

/**
 * A Service's LoadBalancer ingress IPs that reach the nodes: only while it is
 * of type LoadBalancer (a status left from before a type change is stale),
 * not headless, and not `ipMode: Proxy` (there the load balancer proxies and
 * its address never reaches a node), as the service proxy serves them.
 */
/** kube-router.io/service.skiplbips, read as the service proxy reads it (present and not "false"). */
function skipsLbIps(svc: V1Service): boolean {
  const v = svc.metadata?.annotations?.[ANNOTATIONS.svcSkipLbIps];
  return v !== undefined && v !== 'false';
}

function loadBalancerIPs(svc: V1Service): string[] {
  if (svc.spec?.type !== 'LoadBalancer') return [];
  if (!svc.spec.clusterIP || svc.spec.clusterIP === 'None') return [];
  return (svc.status?.loadBalancer?.ingress ?? []).filter((i) => i.ipMode !== 'Proxy').map((i) => i.ip).filter((ip): ip is string => !!ip);
}

/**
 * Service VIPs to advertise as host routes: ClusterIPs, ExternalIPs and
 * LoadBalancer ingress IPs, per the global switches and the per-service
 * annotations. With externalTrafficPolicy Local, only nodes with a local
 * ready endpoint advertise, so traffic never lands where it cannot be served.
 */
export function serviceVipPaths(
  local: ClusterNode,
  services: readonly V1Service[],
  slices: readonly V1EndpointSlice[],
  config: RouterConfig,
  families: readonly Family[],
): DesiredPaths {
  const byPrefix = new Map<string, BgpPath>();
  const errors: string[] = [];
  for (const svc of services) {
    const id = `service ${svc.metadata?.namespace}/${svc.metadata?.name}`;
    const vips: string[] = [];
    if (annotationSwitch(svc, ANNOTATIONS.svcAdvertiseClusterIP, config.advertiseClusterIP)) {
      const ips = svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : []);
      vips.push(...ips.filter((ip) => ip && ip !== 'None'));
    }
    if (annotationSwitch(svc, ANNOTATIONS.svcAdvertiseExternalIP, config.advertiseExternalIP)) {
      vips.push(...(svc.spec?.externalIPs ?? []));
    }
    if (annotationSwitch(svc, ANNOTATIONS.svcAdvertiseLoadBalancerIP, config.advertiseLoadBalancerIP) && !skipsLbIps(svc)) {
      vips.push(...loadBalancerIPs(svc));
    }
    if (vips.length === 0) continue;
    if (svc.spec?.externalTrafficPolicy === 'Local' && !hasLocalReadyEndpoint(svc, slices, local.name)) continue;
    for (const vip of vips) {
      const family = tryFamilyOf(vip);
      if (!family || vip.includes('/')) {
        errors.push(`${id}: ${JSON.stringify(vip)} is not an IP address`);
        continue;
      }
      if (!families.includes(family)) continue; // a family this node does not run
      const nextHop = local.net.primaryIP[family];
      if (!nextHop) continue;
      const prefix = `${vip}/${hostPrefixLength(family)}`;
      byPrefix.set(prefix, { prefix, nextHop, ...exportAttributes(local) });
    }
  }
  return { paths: [...byPrefix.values()], errors };
}
