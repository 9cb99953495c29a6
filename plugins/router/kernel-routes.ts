import {
  KROUTER_ROUTE_PROTOCOL,
  parseCidr,
  perFamily,
  type DriftRepairs,
  type BuiltinSyncReason,
  type PerFamily,
  type BgpEvent,
  type Family,
  type Gobgp,
  type Logger,
  type Netlink,
  type NetlinkOp,
  type Route,
} from '@krouter/sdk';
import type { RouterConfig } from './config.ts';
import { FreshRead } from './fresh-read.ts';
import { LearnedRib } from './learned-rib.ts';
import { desiredKernelRoutes, diffRoutes, routeJudge } from './model/routes.ts';

/** Why the kernel-route reconciler runs (besides the built-in reasons). */
export type RouteSyncReason = 'speaker' | 'node' | 'bgp-peer' | 'bgp-path' | 'gobgpd-restarted' | 'bgp-watch-restarted';

/** Reasons after which the kernel is re-read rather than trusted to match what we applied. */
const FULL_SYNC_REASONS: ReadonlySet<RouteSyncReason | BuiltinSyncReason> = new Set(['start', 'resync', 'retry', 'gobgpd-restarted', 'manual']);
/**
 * Reasons after which the learned table is re-read from gobgpd too. Not the
 * periodic resync: the event stream keeps the table exact while the watch
 * lives (a broken watch means a gobgpd restart, which re-reads), and gobgpd
 * sends each IPv6 path with its UPDATE's whole MP_REACH_NLRI (~30 KB), so a
 * re-read of a large table every minute would cost hundreds of MB of traffic.
 */
const RELIST_REASONS: ReadonlySet<RouteSyncReason | BuiltinSyncReason> = new Set(['start', 'retry', 'gobgpd-restarted', 'manual']);

/** Age after which an event-driven sync has the node's addresses read again, in the background (see fresh-read.ts). */
export const ADDRESS_MAX_AGE_MS = 1000;

/**
 * Installs the best paths learned from peers as kernel routes (krouter's
 * route protocol). Event-driven syncs diff against what this class applied;
 * full syncs diff against the kernel itself, repairing routes changed by hand.
 */
export class KernelRouteSync {
  readonly rib = new LearnedRib();
  private applied: PerFamily<Map<string, Route>> = perFamily(() => new Map());
  private kernelRead = false;
  private contextKey = '';
  /** Until this time, stale kernel routes are kept (graceful restart: peers may not have re-sent yet). */
  private keepStaleUntil = 0;
  private readonly addresses: FreshRead<Awaited<ReturnType<Netlink['listAddresses']>>>;

  constructor(
    private readonly config: RouterConfig,
    private readonly deps: { bgp: Gobgp; netlink: Netlink },
    private readonly logger: Logger,
    private readonly report: (message: string) => void,
    private readonly drift?: DriftRepairs,
  ) {
    if (config.gracefulRestart.enabled) this.keepStaleUntil = Date.now() + config.gracefulRestart.deferralTime * 1000;
    this.addresses = new FreshRead(
      () => deps.netlink.listAddresses(),
      ADDRESS_MAX_AGE_MS,
      undefined,
      (err) => logger.warn('reading the node addresses failed; judging routes with the last read', { error: (err as Error).message }),
    );
  }

  /** Feeds the speaker's events into the learned table. */
  onBgpEvent(event: BgpEvent): void {
    if (event.type === 'watch-restarted') this.rib.stale = true;
    if (event.type === 'restarted') {
      this.rib.stale = true;
      // gobgpd came back empty: with graceful restart, keep what it taught us
      // until peers have re-sent, as after an agent start.
      if (this.config.gracefulRestart.enabled) {
        this.keepStaleUntil = Math.max(this.keepStaleUntil, Date.now() + this.config.gracefulRestart.deferralTime * 1000);
      }
    }
    this.rib.apply(event);
  }

  /**
   * Once every peer is established again, peers re-send their tables within
   * moments: keep stale routes only a few seconds longer.
   */
  private async checkConvergence(): Promise<void> {
    if (Date.now() >= this.keepStaleUntil) return;
    const peers = await this.deps.bgp.listPeers();
    if (peers.length > 0 && peers.every((p) => p.state === 'established')) {
      this.keepStaleUntil = Math.min(this.keepStaleUntil, Date.now() + 5000);
    }
  }

  /** The routes installed per family (as of the last sync). */
  installed(): PerFamily<Route[]> {
    return perFamily((f) => [...this.applied[f].values()]);
  }

  /** How many routes are installed per family, without copying them. */
  installedCount(family: Family): number {
    return this.applied[family].size;
  }

  async sync(
    families: readonly Family[],
    ownPrefixes: PerFamily<string[]>,
    reasons: ReadonlyArray<RouteSyncReason | BuiltinSyncReason>,
  ): Promise<{ skipped: number }> {
    const { bgp, netlink } = this.deps;
    const full = !this.kernelRead || reasons.some((r) => FULL_SYNC_REASONS.has(r));
    const relist = this.rib.stale || !this.kernelRead || reasons.some((r) => RELIST_REASONS.has(r));
    if (relist) await this.rib.relist(families, (f) => bgp.listPaths(f, 'global'));
    await this.checkConvergence();

    // Full syncs and node changes read the addresses afresh; a burst of path events reuses a recent read.
    const addresses = await this.addresses.get(full || reasons.includes('node'));
    const connected = addresses.map((a) => parseCidr(a.cidr, undefined, { allowHostBits: true }));
    const localAddresses = addresses.map((a) => a.cidr.split('/')[0]!);
    const excluded = [...this.config.serviceClusterIPRanges, ...this.config.serviceExternalIPRanges];
    const keepStale = Date.now() < this.keepStaleUntil;
    const ops: NetlinkOp[] = [];
    // Event-driven syncs update the applied table in place: copying it per sync
    // (tens of syncs during a 10k-route burst) only made garbage. A sync that
    // throws leaves it possibly ahead of the kernel, which is fine: its retry is
    // a full sync that re-reads the kernel.
    const next: PerFamily<Map<string, Route>> = this.applied;
    let skipped = 0;
    // Anything that changes which routes are acceptable means every route is judged again.
    const contextKey = JSON.stringify([families, ownPrefixes, addresses.map((a) => a.cidr).sort(), excluded, keepStale]);
    const everything = full || contextKey !== this.contextKey;
    // Only a resync with nothing else to do: a retry may follow a write the kernel did not take.
    const checkDrift = this.kernelRead && reasons.includes('resync') && !reasons.includes('retry');
    let driftFound = false;
    this.contextKey = contextKey;

    for (const family of families) {
      const ctx = { families, ownPrefixes: ownPrefixes[family], localAddresses, connected, excluded, table: this.config.routeTable };
      const changed = this.rib.takeChanged(family);
      if (everything) {
        const desired = desiredKernelRoutes(this.rib.routes(family), ctx);
        skipped += desired.skipped.length;
        const actual = full
          ? await netlink.listRoutes({ family, protocol: KROUTER_ROUTE_PROTOCOL, table: this.config.routeTable })
          : [...this.applied[family].values()];
        const diff = diffRoutes(desired.routes, actual);
        // The periodic resync counts what it repairs: the kernel differing from what was last applied.
        if (checkDrift) {
          const drift = diffRoutes([...this.applied[family].values()], actual);
          if (drift.replace.length || drift.remove.length) {
            driftFound = true;
            this.logger.warn('kernel routes differed from what was applied (changed by hand?); repairing', {
              family,
              missingOrChanged: drift.replace.map((r) => r.dst),
              unexpected: drift.remove.map((r) => r.dst),
            });
          }
        }
        next[family] = new Map(desired.routes.map((r) => [r.dst, r]));
        for (const route of diff.replace) ops.push({ op: 'route.replace', route: { ...route, protocol: KROUTER_ROUTE_PROTOCOL } });
        for (const route of diff.remove) {
          if (keepStale) next[family].set(route.dst, route); // still in the kernel, still ours to remove later
          else ops.push({ op: 'route.delete', route: { ...route, protocol: KROUTER_ROUTE_PROTOCOL } });
        }
        continue;
      }
      // Event-driven: only the prefixes the speaker changed; work follows the change, not the table.
      const judge = routeJudge(ctx);
      for (const prefix of changed) {
        const learned = this.rib.get(family, prefix);
        const want = learned ? judge(learned)?.route : undefined;
        const dst = want?.dst ?? parseCidr(prefix, undefined, { allowHostBits: true }).text;
        const have = next[family].get(dst);
        if (want) {
          if (have?.via !== want.via) ops.push({ op: 'route.replace', route: { ...want, protocol: KROUTER_ROUTE_PROTOCOL } });
          next[family].set(dst, want);
        } else if (have && !keepStale) {
          ops.push({ op: 'route.delete', route: { ...have, protocol: KROUTER_ROUTE_PROTOCOL } });
          next[family].delete(dst);
        }
      }
    }
    if (ops.length) {
      const applyStart = performance.now();
      const result = await netlink.apply(ops);
      const applyMs = Math.round(performance.now() - applyStart);
      for (const e of result.errors) {
        if (e.op.op !== 'route.replace' && e.op.op !== 'route.delete') continue;
        this.report(`route ${e.op.route.dst}: ${e.message}`);
        // Not in the kernel as we wanted: forget it so the next sync tries again.
        const family = parseCidr(e.op.route.dst, undefined, { allowHostBits: true }).family;
        if (e.op.op === 'route.replace') next[family].delete(e.op.route.dst);
        else next[family].set(e.op.route.dst, e.op.route);
      }
      this.logger.info('kernel routes updated', {
        replaced: ops.filter((o) => o.op === 'route.replace').length,
        removed: ops.filter((o) => o.op === 'route.delete').length,
        failed: result.errors.length,
        full,
        applyMs,
      });
    }
    if (driftFound) this.drift?.repaired(['route']);
    this.applied = next;
    this.kernelRead = true;
    return { skipped };
  }
}
