import type { BgpPath, BgpPeerState, Family, Route } from '@krouter/sdk';

/** "1d02h03m" style uptime, as `gobgp neighbor` prints it (roughly). */
export function formatUptime(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  const hms = [h, m, s].map((n) => String(n).padStart(2, '0')).join(':');
  return d ? `${d}d ${hms}` : hms;
}

/** One row per peer: what an operator reads in `gobgp neighbor`, per family. */
export function peerRows(peers: readonly BgpPeerState[], families: readonly Family[], nowSeconds: number) {
  return peers.map((p) => ({
    peer: p.address,
    asn: p.asn,
    state: p.state,
    uptime: p.state === 'established' && p.uptime ? formatUptime(nowSeconds - p.uptime) : '-',
    ...Object.fromEntries(
      families
        .filter((f) => p.families[f])
        .map((f) => [`${f} received/accepted`, `${p.families[f]!.received}/${p.families[f]!.accepted}`]),
    ),
    ...(p.description ? { description: p.description } : {}),
  }));
}

/** Accepted routes per family over all peers. */
export function acceptedPerFamily(peers: readonly BgpPeerState[]): Record<Family, number> {
  const out: Record<Family, number> = { ipv4: 0, ipv6: 0 };
  for (const p of peers) {
    for (const f of ['ipv4', 'ipv6'] as const) out[f] += p.families[f]?.accepted ?? 0;
  }
  return out;
}

/** Routes as "prefix via next hop" lines per family. */
export function routeLines(routes: Record<Family, Route[]>, families: readonly Family[]): Record<string, string[]> {
  return Object.fromEntries(families.map((f) => [f, routes[f].map((r) => `${r.dst} via ${r.via}`)]));
}

export function pathLines(paths: readonly BgpPath[]): string[] {
  return paths.map((p) => `${p.prefix} next-hop ${p.nextHop}`);
}
