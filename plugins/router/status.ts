import { ALL_FAMILIES, perFamily, type BgpPath, type BgpPeerState, type Family, type PerFamily, type Route } from '@krouter/sdk';

/** One BGP session as `krouter status` shows it in one family. */
export interface RouterPeerStatus {
  peer: string;
  asn: number;
  state: string;
  /** Seconds since the session was established; null when it is not. */
  uptimeSeconds: number | null;
  received: number;
  accepted: number;
  advertised: number;
  description?: string;
}

/** The router's part of `krouter status`: per family, the sessions carrying it, what this node advertises and the routes it installed. */
export interface RouterStatus {
  asn: number | null;
  routerId: string | null;
  families: Partial<Record<Family, {
    peers: RouterPeerStatus[];
    /** Prefixes this node originates, with their next hop. */
    advertised: Array<{ prefix: string; nextHop: string }>;
    routesInstalled: number;
    /** Learned routes in the kernel (route protocol krouter). */
    routes: Array<{ destination: string; via: string }>;
  }>>;
  errors: string[];
}

/**
 * Sessions per family, as `gobgp neighbor` shows them: a session appears
 * under each family it negotiated (a single session with extended next hop
 * carries both).
 */
export function peersInFamily(peers: readonly BgpPeerState[], family: Family, nowSeconds: number): RouterPeerStatus[] {
  return peers
    .filter((p) => p.families[family])
    .map((p) => {
      const counts = p.families[family]!;
      return {
        peer: p.address,
        asn: p.asn,
        state: p.state,
        uptimeSeconds: p.state === 'established' && p.uptime ? Math.max(0, Math.floor(nowSeconds - p.uptime)) : null,
        received: counts.received,
        accepted: counts.accepted,
        advertised: counts.advertised,
        ...(p.description ? { description: p.description } : {}),
      };
    });
}

/** Accepted routes per family over all peers. */
export function acceptedPerFamily(peers: readonly BgpPeerState[]): PerFamily<number> {
  const out = perFamily(() => 0);
  for (const p of peers) {
    for (const f of ALL_FAMILIES) out[f] += p.families[f]?.accepted ?? 0;
  }
  return out;
}

/** Pure: the router's state -> its status document. */
export function routerStatus(input: {
  asn: number | undefined;
  routerId: string | undefined;
  families: readonly Family[];
  familyOf: (prefix: string) => Family;
  peers: readonly BgpPeerState[];
  paths: readonly BgpPath[];
  installed: PerFamily<Route[]>;
  errors: readonly string[];
  nowSeconds: number;
}): RouterStatus {
  const byDst = (a: { destination: string }, b: { destination: string }) => a.destination.localeCompare(b.destination, 'en', { numeric: true });
  return {
    asn: input.asn ?? null,
    routerId: input.routerId ?? null,
    families: Object.fromEntries(
      input.families.map((f) => [
        f,
        {
          peers: peersInFamily(input.peers, f, input.nowSeconds),
          advertised: input.paths.filter((p) => input.familyOf(p.prefix) === f).map((p) => ({ prefix: p.prefix, nextHop: p.nextHop })),
          routesInstalled: input.installed[f].length,
          routes: input.installed[f].map((r) => ({ destination: r.dst, via: r.via ?? (r.dev ? `dev ${r.dev}` : '-') })).sort(byDst),
        },
      ]),
    ),
    errors: [...input.errors],
  };
}
