import type { Direction } from './policies.ts';
import type { Family } from '@krouter/sdk';
import { parseDeniedCounter, parsePendingCounter } from './names.ts';

/**
 * Denied-packet counters: nft keeps absolute numbers in named counters,
 * Prometheus wants a monotonic counter. A full sync replaces the table and
 * restarts the nft counters at zero, so a value lower than the last one read
 * is a restart and counts whole. Pure.
 */

export interface CounterReading {
  name: string;
  packets: number;
}

/** Named counters of `nft -j list table` output. */
export function countersOf(json: unknown): CounterReading[] {
  const items = (json as { nftables?: Array<{ counter?: { name?: unknown; packets?: unknown } }> } | undefined)?.nftables ?? [];
  const out: CounterReading[] = [];
  for (const i of items) {
    if (i.counter && typeof i.counter.name === 'string' && typeof i.counter.packets === 'number') {
      out.push({ name: i.counter.name, packets: i.counter.packets });
    }
  }
  return out;
}

export interface DeniedIncrement {
  policyId: string;
  direction: Direction;
  family: Family;
  packets: number;
}

export class CounterTracker {
  private last = new Map<string, number>();

  /** Increments since the previous reading; counters that went away are forgotten. */
  update(readings: readonly CounterReading[]): { denied: DeniedIncrement[]; pending: Array<{ family: Family; packets: number }> } {
    const next = new Map<string, number>();
    const denied: DeniedIncrement[] = [];
    const pending: Array<{ family: Family; packets: number }> = [];
    for (const r of readings) {
      next.set(r.name, r.packets);
      const before = this.last.get(r.name) ?? 0;
      const delta = r.packets >= before ? r.packets - before : r.packets;
      if (delta === 0) continue;
      const parsed = parseDeniedCounter(r.name);
      if (parsed) denied.push({ ...parsed, packets: delta });
      const p = parsePendingCounter(r.name);
      if (p) pending.push({ ...p, packets: delta });
    }
    this.last = next;
    return { denied, pending };
  }
}
