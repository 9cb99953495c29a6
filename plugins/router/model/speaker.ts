import { createHash } from 'node:crypto';
import { ALL_FAMILIES, parseIP, type BgpGlobal, type Family } from '@krouter/sdk';
import type { RouterConfig } from '../config.ts';
import { nodeAsn, type ClusterNode } from './cluster.ts';

/**
 * A router ID derived from the node name: stable across restarts and
 * distinct per node with overwhelming probability. Never 0.0.0.0.
 */
export function generateRouterId(nodeName: string): string {
  const digest = createHash('sha256').update(nodeName).digest();
  const bytes: number[] = [digest[0]!, digest[1]!, digest[2]!, digest[3]!];
  if (!bytes.some((b) => b !== 0)) bytes[3] = 1;
  return bytes.join('.');
}

/** BGP global settings of the local speaker, or an error naming the key. */
export function desiredGlobal(
  local: ClusterNode,
  config: RouterConfig,
  families: readonly Family[],
): { global?: BgpGlobal; error?: string } {
  let routerId: string;
  if (config.routerId === 'generate') {
    routerId = generateRouterId(local.name);
  } else if (config.routerId !== undefined) {
    try {
      routerId = parseIP(config.routerId, 'ipv4').address;
    } catch (e) {
      return { error: `plugins.router.routerId: ${(e as Error).message} (use an IPv4 address or "generate")` };
    }
  } else {
    // An IPv6-only node has no IPv4 address to borrow: fall back to a generated ID.
    routerId = local.net.primaryIP.ipv4 ?? generateRouterId(local.name);
  }
  return {
    global: {
      asn: nodeAsn(local, config.clusterAsn),
      routerId,
      listenPort: config.bgpPort,
      listenAddresses: config.listenAddresses ?? (local.bgp.localAddresses.length ? local.bgp.localAddresses : undefined),
      // gobgpd keeps one RIB per global family. Both always exist, so that
      // `gobgp global rib -a ipv4|ipv6` answers (empty) on a single-family node
      // instead of "address family not supported"; sessions and paths still
      // carry only the enabled families.
      families: [...ALL_FAMILIES],
      gracefulRestart: config.gracefulRestart.enabled
        ? { enabled: true, restartTime: config.gracefulRestart.restartTime, deferralTime: config.gracefulRestart.deferralTime }
        : undefined,
    },
  };
}
