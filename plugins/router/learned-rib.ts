import { parseCidr, perFamily, type BgpEvent, type BgpRoute, type Family, type PerFamily } from '@krouter/sdk';

/**
 * The best paths peers taught us, kept current from the speaker's event
 * stream so a path change costs work proportional to the change, not a
 * re-read of the whole RIB. A full re-read (relist) happens at start, after
 * gobgpd restarts, after a retry and when the event stream broke (not on
 * the periodic resync: see RELIST_REASONS in kernel-routes.ts); events that arrive while a
 * relist is in flight are replayed on top of it, in order, so none is lost.
 */
export class LearnedRib {
  private readonly best: PerFamily<Map<string, BgpRoute>> = perFamily(() => new Map());
  private buffered: BgpEvent[] | undefined;
  /** Prefixes changed since the last takeChanged(), per family. */
  private changed: PerFamily<Set<string>> = perFamily(() => new Set());
  /** True until the first relist, and again after gobgpd restarted. */
  stale = true;

  /** gobgpd prints prefixes canonically already; parsing each of 10k paths would dominate. */
  private static key(route: BgpRoute): string {
    return route.prefix;
  }

  /** Applies one best/withdraw event (buffered while a relist runs). */
  apply(event: BgpEvent): void {
    if (event.type !== 'best' && event.type !== 'withdraw') return;
    if (this.buffered) {
      this.buffered.push(event);
      return;
    }
    this.applyNow(event.route, event.type === 'withdraw' || event.route.withdrawal === true);
  }

  private applyNow(route: BgpRoute, withdraw: boolean): void {
    const table = this.best[route.family];
    const key = LearnedRib.key(route);
    this.changed[route.family].add(key);
    if (withdraw) {
      // A withdrawal of a path that is no longer the one we hold (the best moved
      // to another peer meanwhile) must not drop the newer best.
      const held = table.get(key);
      if (held && (held.source === route.source || route.source === undefined)) table.delete(key);
    } else {
      // A 'best' event is the best path by definition; gobgpd's watch stream
      // does not set the path's own best flag.
      table.set(key, route.best ? route : { ...route, best: true });
    }
  }

  /** Replaces the table with a fresh read of the speaker, then replays what arrived meanwhile. */
  async relist(families: readonly Family[], read: (family: Family) => Promise<BgpRoute[]>): Promise<void> {
    this.buffered = [];
    try {
      const fresh = await Promise.all(families.map(read));
      families.forEach((family, i) => {
        const table = new Map<string, BgpRoute>();
        for (const r of fresh[i]!) {
          if (r.best && !r.withdrawal) table.set(parseCidr(r.prefix, undefined, { allowHostBits: true }).text, r);
        }
        this.best[family] = table;
      });
      this.stale = false;
    } finally {
      const pending = this.buffered ?? [];
      this.buffered = undefined;
      for (const e of pending) this.apply(e);
    }
  }

  /** The prefixes changed since the last call (and forgets them). */
  takeChanged(family: Family): string[] {
    const out = [...this.changed[family]];
    this.changed[family].clear();
    return out;
  }

  get(family: Family, prefix: string): BgpRoute | undefined {
    return this.best[family].get(prefix);
  }

  routes(family: Family): BgpRoute[] {
    return [...this.best[family].values()];
  }

  size(family: Family): number {
    return this.best[family].size;
  }
}
