import {
  cidrContains,
  parseCidr,
  type BgpRoute,
  type Cidr,
  type Family,
  type Route,
} from '@krouter/sdk';

export interface RouteContext {
  families: readonly Family[];
  /** This node's own pod CIDRs: never routed away. */
  ownPrefixes: readonly string[];
  /** This node's addresses (a next hop equal to one is our own path). */
  localAddresses: readonly string[];
  /** Connected subnets: a next hop must be inside one to be directly reachable. */
  connected: readonly Cidr[];
  /** Service ranges and other prefixes never installed from peers. */
  excluded: readonly string[];
  table?: number;
}

export type SkipReason = 'default route' | 'excluded range' | 'own prefix' | 'own next hop' | 'next hop not directly reachable' | 'family not enabled';

export interface DesiredRoutes {
  routes: Route[];
  skipped: Array<{ prefix: string; nextHop: string; reason: SkipReason }>;
}

function insideAny(prefix: Cidr, ranges: readonly Cidr[]): boolean {
  return ranges.some(
    (range) => range.family === prefix.family && range.prefixLength <= prefix.prefixLength && cidrContains(range.text, prefix.network),
  );
}

/**
 * Kernel routes for the best paths learned from peers. Import policy: never a
 * default route, never a service range, never our own prefix, and only via a
 * next hop that is directly reachable (same family as the prefix, by construction
 * of the RIB each route came from).
 */
export function desiredKernelRoutes(learned: readonly BgpRoute[], ctx: RouteContext): DesiredRoutes {
  const routes = new Map<string, Route>();
  const skipped: DesiredRoutes['skipped'] = [];
  const own = new Set(ctx.ownPrefixes.map((p) => parseCidr(p, undefined, { allowHostBits: true }).text));
  const local = new Set(ctx.localAddresses);
  const excluded = ctx.excluded.map((r) => parseCidr(r, undefined, { allowHostBits: true }));
  // Thousands of routes share a handful of next hops: decide reachability once per next hop.
  const reachable = new Map<string, boolean>();
  const directlyReachable = (family: Family, nextHop: string): boolean => {
    const key = `${family} ${nextHop}`;
    let yes = reachable.get(key);
    if (yes === undefined) {
      yes = ctx.connected.some((c) => c.family === family && cidrContains(c.text, nextHop));
      reachable.set(key, yes);
    }
    return yes;
  };
  for (const r of learned) {
    if (!r.best || r.withdrawal || r.source === undefined) continue;
    const prefix = parseCidr(r.prefix, undefined, { allowHostBits: true });
    const skip = (reason: SkipReason) => skipped.push({ prefix: prefix.text, nextHop: r.nextHop, reason });
    if (!ctx.families.includes(prefix.family)) skip('family not enabled');
    else if (prefix.prefixLength === 0) skip('default route');
    else if (insideAny(prefix, excluded)) skip('excluded range');
    else if (own.has(prefix.text)) skip('own prefix');
    else if (local.has(r.nextHop)) skip('own next hop');
    else if (!directlyReachable(prefix.family, r.nextHop)) skip('next hop not directly reachable');
    else {
      routes.set(prefix.text, {
        dst: prefix.text,
        via: r.nextHop,
        ...(ctx.table !== undefined ? { table: ctx.table } : {}),
      });
    }
  }
  return { routes: [...routes.values()], skipped };
}

/** What to change to go from the kernel's krouter routes to the desired ones. */
export function diffRoutes(desired: readonly Route[], actual: readonly Route[]): { replace: Route[]; remove: Route[] } {
  const key = (r: Route) => parseCidr(r.dst, undefined, { allowHostBits: true }).text;
  const have = new Map(actual.map((r) => [key(r), r]));
  const want = new Map(desired.map((r) => [key(r), r]));
  const replace = [...want].filter(([k, r]) => have.get(k)?.via !== r.via).map(([, r]) => r);
  const remove = [...have].filter(([k]) => !want.has(k)).map(([, r]) => r);
  return { replace, remove };
}
