import { refusal, refusedPrefixes, type RefusedReason } from './policies.ts';
import {
  cidrContains,
  tryFamilyOf,
  nextHopMayCarry,
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

export type SkipReason = RefusedReason | 'own prefix' | 'own next hop' | 'next hop not directly reachable' | 'family not enabled';

export interface DesiredRoutes {
  routes: Route[];
  skipped: Array<{ prefix: string; nextHop: string; reason: SkipReason }>;
}

export type RouteVerdict = { route: Route; skip?: undefined } | { route?: undefined; skip: { prefix: string; nextHop: string; reason: SkipReason } };

/**
 * Which learned paths become kernel routes, prepared once for a context:
 * nothing the import rule refuses (model/policies.ts: default routes,
 * service ranges), never our own prefix, and only via a next hop that is
 * directly reachable and may carry the prefix (nextHopMayCarry: RFC 8950). Returns undefined for what
 * is not a best path learned from a peer. Preparing it once matters: event
 * syncs judge prefixes one by one, and parsing the context per prefix was
 * most of a 10k-route burst's CPU.
 */
export function routeJudge(ctx: RouteContext): (r: BgpRoute) => RouteVerdict | undefined {
  const own = new Set(ctx.ownPrefixes.map((p) => parseCidr(p, undefined, { allowHostBits: true }).text));
  const local = new Set(ctx.localAddresses);
  const refused = refusedPrefixes(ctx.excluded, ctx.families);
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
  const families = new Map<string, Family | undefined>();
  const nextHopFamily = (nextHop: string): Family | undefined => {
    if (!families.has(nextHop)) families.set(nextHop, tryFamilyOf(nextHop));
    return families.get(nextHop);
  };
  return (r) => {
    if (!r.best || r.withdrawal || r.source === undefined) return undefined;
    const prefix = parseCidr(r.prefix, undefined, { allowHostBits: true });
    if (!ctx.families.includes(prefix.family)) return skipped(prefix, r, 'family not enabled');
    const refusedBecause = refusal(refused, prefix);
    if (refusedBecause) return skipped(prefix, r, refusedBecause);
    if (own.has(prefix.text)) return skipped(prefix, r, 'own prefix');
    if (local.has(r.nextHop)) return skipped(prefix, r, 'own next hop');
    // The next hop's own family decides reachability: an IPv4 prefix may come
    // with an IPv6 next hop over an IPv6-only underlay.
    const viaFamily = nextHopFamily(r.nextHop);
    if (!viaFamily || !nextHopMayCarry(viaFamily, prefix.family)) return skipped(prefix, r, 'next hop not directly reachable');
    if (!directlyReachable(viaFamily, r.nextHop)) return skipped(prefix, r, 'next hop not directly reachable');
    return {
      route: {
        dst: prefix.text,
        via: r.nextHop,
        ...(viaFamily !== prefix.family ? { extendedNexthop: true } : {}),
        ...(ctx.table !== undefined ? { table: ctx.table } : {}),
      },
    };
  };
}

/** A skip verdict (a module function: the judge runs per route, and the bundle names every closure it creates). */
function skipped(prefix: Cidr, r: BgpRoute, reason: SkipReason): RouteVerdict {
  return { skip: { prefix: prefix.text, nextHop: r.nextHop, reason } };
}

/** Kernel routes for the best paths learned from peers (see routeJudge for the import policy). */
export function desiredKernelRoutes(learned: readonly BgpRoute[], ctx: RouteContext): DesiredRoutes {
  const routes = new Map<string, Route>();
  const skipped: DesiredRoutes['skipped'] = [];
  const judge = routeJudge(ctx);
  for (const r of learned) {
    const verdict = judge(r);
    if (verdict?.route) routes.set(verdict.route.dst, verdict.route);
    else if (verdict?.skip) skipped.push(verdict.skip);
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
