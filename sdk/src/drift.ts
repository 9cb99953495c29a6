import type { Counter, Metrics } from './services/basics.ts';

/**
 * Drift: kernel state that differs from what a plugin last applied (someone
 * deleted a table, flushed a set, removed a route by hand). The periodic full
 * resync repairs it; these helpers let a plugin tell that it did, as
 * `krouter_drift_repairs_total{plugin,object}` (one increment per full sync
 * and kind of object found differing).
 */

/** Kinds of kernel objects a drift repair is counted for. */
export type DriftObject = 'table' | 'chain' | 'rule' | 'set' | 'map' | 'element' | 'route';

export interface DriftRepairs {
  /** Counts one repair of each kind of object (duplicates counted once). */
  repaired(objects: readonly DriftObject[]): void;
}

/** The drift counter of one plugin. */
export function driftRepairs(metrics: Metrics, plugin: string): DriftRepairs {
  const counter: Counter = metrics.counter({
    name: 'drift_repairs_total',
    help: 'Full syncs that found kernel objects differing from what the plugin last applied, and repaired them, by kind of object',
    labelNames: ['plugin', 'object'],
  });
  return {
    repaired(objects) {
      for (const object of new Set(objects)) counter.inc({ plugin, object });
    },
  };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Keys whose values change with traffic or with each write, not with the table's content. */
const VOLATILE = new Set(['handle', 'packets', 'bytes', 'expires']);

function normalise(v: Json): Json {
  if (Array.isArray(v)) return v.map(normalise);
  if (v && typeof v === 'object') {
    const out: { [k: string]: Json } = {};
    for (const k of Object.keys(v).sort()) {
      if (VOLATILE.has(k)) continue;
      const value = normalise(v[k]!);
      // Element order in a listing follows the kernel's hashing, not the content.
      out[k] = k === 'elem' && Array.isArray(value) ? value.map((e) => JSON.stringify(e)).sort().map((s) => JSON.parse(s) as Json) : value;
    }
    return out;
  }
  return v;
}

/**
 * The kinds of objects in which two `nft -j list table` documents of one
 * table differ, ignoring handles, counters and timers; a missing table
 * (undefined) differs as `table`; the elements of dynamic sets (filled by
 * packets) are not compared. Pure.
 */
export function nftTableDrift(expected: unknown, actual: unknown): DriftObject[] {
  if (expected === undefined && actual === undefined) return [];
  if (expected === undefined || actual === undefined) return ['table'];
  const kinds = new Map<DriftObject, [Set<string>, Set<string>]>();
  const add = (doc: unknown, side: 0 | 1) => {
    const items = ((doc as { nftables?: Json[] })?.nftables ?? []) as Array<{ [k: string]: Json }>;
    for (const item of items) {
      for (const [kind, value] of Object.entries(item)) {
        if (kind === 'metainfo') continue;
        const object: DriftObject | undefined = kind === 'table' || kind === 'chain' || kind === 'rule' || kind === 'set' || kind === 'map' ? kind : undefined;
        if (!object) continue;
        const norm = normalise(value) as { [k: string]: Json };
        const record = (o: DriftObject, text: string) => {
          if (!kinds.has(o)) kinds.set(o, [new Set(), new Set()]);
          kinds.get(o)![side].add(text);
        };
        if (object === 'set' || object === 'map') {
          // The set's definition and its elements are told apart: a set emptied by hand is an element drift.
          const { elem, ...definition } = norm;
          record(object, JSON.stringify(definition));
          // A dynamic set's elements are the packet path's (e.g. session affinity), not what was written.
          // nft 1.0.6's JSON leaves `dynamic` out of the flags of a `flags dynamic,timeout` set: a set
          // whose elements time out counts as filled at run time too.
          const flags = definition.flags;
          const runtime = (f: string) => f === 'dynamic' || f === 'timeout';
          const dynamic = (typeof flags === 'string' && runtime(flags)) || (Array.isArray(flags) && flags.some((f) => typeof f === 'string' && runtime(f)));
          if (!dynamic) for (const e of (elem as Json[] | undefined) ?? []) record('element', `${norm.name} ${JSON.stringify(e)}`);
        } else {
          record(object, JSON.stringify(norm));
        }
      }
    }
  };
  add(expected, 0);
  add(actual, 1);
  const out: DriftObject[] = [];
  for (const [kind, [a, b]] of kinds) {
    if (a.size !== b.size || [...a].some((x) => !b.has(x))) out.push(kind);
  }
  return out;
}
