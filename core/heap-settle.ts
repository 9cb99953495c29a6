/**
 * Gives the heap a burst grew back once the burst is over. When 10,000
 * services arrive (tens of thousands of watch events, a partial sync every
 * 100 ms), V8 grows the heap for throughput and keeps it: measured with
 * `npm run bench -- service-proxy-memory`, 5 s after the last sync the agent
 * had ~120 MB of V8 heap committed for ~72 MB live, with freed pages pooled
 * besides. V8's own memory reducer compacts an idle heap too, but only some
 * 8 s to tens of seconds later, and `--optimize-for-size` (which does it at
 * every full collection) made the full sync's JavaScript twice as slow. So
 * the daemon looks at the committed heap every few seconds and, when it has
 * stopped growing at least STEP above what the last compaction left, asks V8
 * for one memory-reducing full collection (the one it runs before giving up
 * on an allocation: it compacts and releases pooled pages). That costs a
 * full collection of the live heap (its duration is logged at debug level)
 * once per burst (at most every MIN_GAP_MS), while the agent is idle.
 */
import v8 from 'node:v8';
import type { Logger } from '@krouter/sdk';
import { obtainGc } from './startup-gc.ts';

/** Growth of the committed heap over what the last compaction left that is worth compacting for. */
export const STEP = 32 * 2 ** 20;
export const INTERVAL_MS = 2_000;
/**
 * At most one compaction this often, even under constant churn. Short: a
 * lull inside a burst may take one, and the one at the burst's end must
 * not wait for long behind it.
 */
export const MIN_GAP_MS = 15_000;

export interface SettleState {
  /** Committed heap after the last compaction (or at start). */
  settled: number;
  /** Committed and used heap at the previous look. */
  lastCommitted: number;
  lastUsed: number;
  /** When the last compaction ran (ms). */
  at: number;
}

/**
 * Whether to compact now: the committed heap is STEP above what the last
 * compaction left and the burst is over (the committed heap did not grow and
 * the used heap grew by less than a sixteenth of STEP since the previous
 * look), and the last compaction is MIN_GAP_MS old. Pure.
 */
export function shouldSettle(state: SettleState, now: { committed: number; used: number; ms: number }): boolean {
  const quiet = now.committed <= state.lastCommitted && now.used - state.lastUsed < STEP / 16;
  return quiet && now.committed >= state.settled + STEP && now.ms - state.at >= MIN_GAP_MS;
}

/** V8's memory-reducing full collection, or undefined on a runtime that has none to offer (Deno). */
function memoryReducingGc(): (() => void) | undefined {
  const gc = obtainGc();
  return gc && (() => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' }));
}

/** Starts looking; returns the stop function. */
export function startHeapSettle(logger: Logger): () => void {
  const gc = memoryReducingGc();
  if (!gc) return () => undefined;
  const sample = () => {
    const h = v8.getHeapStatistics();
    return { committed: h.total_heap_size, used: h.used_heap_size, ms: performance.now() };
  };
  const first = sample();
  let state: SettleState = { settled: first.committed, lastCommitted: first.committed, lastUsed: first.used, at: -Infinity };
  const timer = setInterval(() => {
    const now = sample();
    if (!shouldSettle(state, now)) {
      state = { ...state, lastCommitted: now.committed, lastUsed: now.used };
      return;
    }
    const t0 = performance.now();
    gc();
    const after = sample();
    state = { settled: after.committed, lastCommitted: after.committed, lastUsed: after.used, at: after.ms };
    logger.debug('heap compacted after a burst', { committedMB: Math.round(now.committed / 2 ** 20), afterMB: Math.round(after.committed / 2 ** 20), ms: Math.round(performance.now() - t0) });
  }, INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
