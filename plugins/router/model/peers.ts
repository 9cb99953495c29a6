import { ALL_FAMILIES, familyOf, nextHopMayCarry, tryFamilyOf, type BgpPeer, type Family } from '@krouter/sdk';
import type { RouterConfig } from '../config.ts';
import { nodeAsn, type ClusterNode } from './cluster.ts';

export interface DesiredPeers {
  peers: BgpPeer[];
  /** One line per peer that could not be configured, naming node/key. */
  errors: string[];
}

/** gobgp wants the route-reflector cluster ID as dotted quad; kube-router annotations give a number. */
export function rrClusterId(value: string): string {
  if (/^\d+$/.test(value)) {
    const n = Number(value) >>> 0;
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  }
  return value;
}

/** With one session per node pair, its family: the one whose next hop may carry every family (RFC 8950: IPv6). */
const SINGLE_SESSION_FAMILY: Family = ALL_FAMILIES.find((f) => ALL_FAMILIES.every((o) => nextHopMayCarry(f, o)))!;

function sessionFamilies(a: ClusterNode, b: ClusterNode, families: readonly Family[], single: boolean): Family[] {
  // One IPv6 session carries IPv4 too (extended next hop), even between nodes without IPv4 addresses.
  if (single && a.net.primaryIP[SINGLE_SESSION_FAMILY] && b.net.primaryIP[SINGLE_SESSION_FAMILY]) return [...families];
  return families.filter((f) => a.net.primaryIP[f] && b.net.primaryIP[f]);
}

/**
 * Sessions to the other cluster nodes. Full mesh among nodes of the same ASN,
 * or route-reflector topology when nodes carry rr.server / rr.client.
 * One session per family (default), or one IPv6 session carrying both.
 */
export function meshPeers(
  local: ClusterNode,
  nodes: readonly ClusterNode[],
  config: RouterConfig,
  families: readonly Family[],
): BgpPeer[] {
  const localAsn = nodeAsn(local, config.clusterAsn);
  const localIsServer = local.bgp.rrServer !== undefined;
  const localIsClient = local.bgp.rrClient !== undefined;
  const rrMode = localIsServer || localIsClient;
  const peers: BgpPeer[] = [];
  if (!config.ibgp) return peers;

  for (const other of nodes) {
    if (other.name === local.name) continue;
    if (nodeAsn(other, config.clusterAsn) !== localAsn) continue; // different ASNs never peer
    let rrClient = false;
    let clusterId: string | undefined;
    if (rrMode) {
      const otherServer = other.bgp.rrServer;
      const otherClient = other.bgp.rrClient;
      if (localIsServer) {
        if (otherClient !== undefined && otherClient === local.bgp.rrServer) {
          rrClient = true;
          clusterId = rrClusterId(local.bgp.rrServer!);
        } else if (otherServer === undefined) continue;
      } else if (otherServer === undefined || otherServer !== local.bgp.rrClient) continue;
    } else if (!config.nodesFullMesh) continue;

    const shared = sessionFamilies(local, other, families, config.sessionMode === 'single');
    if (shared.length === 0) continue;
    const base = {
      asn: nodeAsn(other, config.clusterAsn),
      port: config.bgpPort,
      holdTime: config.holdTime,
      keepaliveInterval: config.keepaliveInterval,
      connectRetry: config.connectRetry,
      description: `node ${other.name}`,
      routeReflectorClient: rrClient || undefined,
      routeReflectorClusterId: clusterId,
      gracefulRestart: config.gracefulRestart.enabled
        ? { enabled: true, restartTime: config.gracefulRestart.restartTime, deferralTime: config.gracefulRestart.deferralTime }
        : undefined,
    };
    if (config.sessionMode === 'single' && shared.includes(SINGLE_SESSION_FAMILY)) {
      const extendedNexthop = shared.some((f) => f !== SINGLE_SESSION_FAMILY) || undefined;
      peers.push(clean({ ...base, address: other.net.primaryIP[SINGLE_SESSION_FAMILY]!, families: shared, extendedNexthop }));
    } else {
      for (const family of shared) {
        peers.push(clean({ ...base, address: other.net.primaryIP[family]!, families: [family] }));
      }
    }
  }
  return peers;
}

/**
 * Peers outside the cluster: global ones from config (kube-router's
 * --peer-router-* flags) and this node's own from annotations. A peer of a
 * disabled family, or with a bad address, is an error; the others still apply.
 */
export function externalPeers(
  local: ClusterNode,
  config: RouterConfig,
  families: readonly Family[],
  passwordsFromFile: readonly (string | undefined)[] = [],
): DesiredPeers {
  const errors: string[] = [];
  const peers: BgpPeer[] = [];
  const sources = [
    ...config.peerRouters.map((p, i) => ({
      where: `plugins.router.peerRouters[${i}]`,
      address: p.address,
      asn: p.asn,
      port: p.port,
      password: p.password !== undefined ? Buffer.from(p.password, 'base64').toString('utf8') : passwordsFromFile[i],
      multihopTtl: p.multihopTtl ?? config.peerMultihopTtl,
      localAddress: p.localAddress,
    })),
    ...local.bgp.peers.map((p) => ({
      where: `node ${local.name}: annotation peers (${p.address})`,
      ...p,
      multihopTtl: config.peerMultihopTtl,
    })),
  ];
  const seen = new Set<string>();
  for (const s of sources) {
    const family = tryFamilyOf(s.address);
    if (!family || s.address.includes('/')) {
      errors.push(`${s.where}: address ${JSON.stringify(s.address)} is not an IP address`);
      continue;
    }
    if (!families.includes(family)) {
      errors.push(`${s.where}: peer ${s.address} is ${family}, which is not enabled on this node`);
      continue;
    }
    if (s.localAddress !== undefined && tryFamilyOf(s.localAddress) !== family) {
      errors.push(`${s.where}: local address ${JSON.stringify(s.localAddress)} is not an ${family} address`);
      continue;
    }
    if (seen.has(s.address)) {
      errors.push(`${s.where}: peer ${s.address} is configured twice; keeping the first`);
      continue;
    }
    seen.add(s.address);
    peers.push(
      clean({
        address: s.address,
        asn: s.asn,
        families: [familyOf(s.address)],
        port: s.port,
        password: s.password,
        multihopTtl: s.multihopTtl,
        localAddress: s.localAddress,
        holdTime: config.holdTime,
        keepaliveInterval: config.keepaliveInterval,
        connectRetry: config.connectRetry,
        description: 'external',
        nextHopSelf: config.overrideNexthop || undefined,
        gracefulRestart: config.gracefulRestart.enabled
          ? { enabled: true, restartTime: config.gracefulRestart.restartTime, deferralTime: config.gracefulRestart.deferralTime }
          : undefined,
      }),
    );
  }
  return { peers, errors };
}

/** Drops undefined keys so that peers compare by value. */
function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
