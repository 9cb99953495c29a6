import type { Health, Logger, Metrics } from './services/basics.ts';

/** Reasons the reconciler itself gives a sync: its first run, the periodic resync, a retry after a failure, syncNow(). */
export type BuiltinSyncReason = 'start' | 'resync' | 'retry' | 'manual';

/**
 * Options of a reconcile loop. `R` is the plugin's own closed set of trigger
 * reasons; sync() gets those and the built-in ones, so a plugin decides on
 * typed values rather than matching strings.
 */
export interface ReconcilerOptions<R extends string = string> {
  /** Used in metric labels, health component and logs. */
  name: string;
  /** Computes desired state and applies the difference. Must be idempotent. */
  sync: (reasons: Array<R | BuiltinSyncReason>) => Promise<void>;
  logger: Logger;
  metrics: Metrics;
  health: Health;
  signal: AbortSignal;
  /** Wait this long after a trigger to gather more. Default 100 ms. */
  debounceMs?: number;
  /** At least this long between the starts of two syncs. Default 1000 ms. */
  minIntervalMs?: number;
  /** Full resync period, repairs drift. Default 300 s; 0 disables. */
  resyncIntervalMs?: number;
  /** Retry delay after a failed sync (doubles up to resync interval). Default 1000 ms. */
  retryMs?: number;
}

export interface Reconciler<R extends string = string> {
  /** Schedules a sync; many triggers before it runs become one sync. */
  trigger(reason: R): void;
  /** Runs a sync now (after any running one) and resolves when it is done. */
  syncNow(reason?: R | BuiltinSyncReason): Promise<void>;
  /** Starts periodic resyncs and runs the first sync. */
  start(): Promise<void>;
  /** Stops timers and waits for a running sync. */
  stop(): Promise<void>;
  readonly syncCount: number;
  readonly lastError: Error | undefined;
}

/**
 * Level-triggered reconcile loop: events only call trigger(); the sync
 * function reads caches and applies the whole difference. One sync at a time.
 */
export function createReconciler<R extends string = string>(options: ReconcilerOptions<R>): Reconciler<R> {
  const debounceMs = options.debounceMs ?? 100;
  const minIntervalMs = options.minIntervalMs ?? 1000;
  const resyncIntervalMs = options.resyncIntervalMs ?? 300_000;
  const baseRetryMs = options.retryMs ?? 1000;
  const { logger, signal } = options;
  const component = `reconciler/${options.name}`;

  const duration = options.metrics.histogram({
    name: 'sync_duration_seconds',
    help: 'Duration of reconcile syncs',
    labelNames: ['reconciler', 'result'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  const syncs = options.metrics.counter({
    name: 'syncs_total',
    help: 'Reconcile syncs run',
    labelNames: ['reconciler', 'result'],
  });

  let pending: Array<R | BuiltinSyncReason> = [];
  /** When the oldest pending reason came: its debounce counts from then. */
  let pendingSince = 0;
  /** Adds a reason once: a burst of thousands of events is one reason, not thousands. */
  const addPending = (reason: R | BuiltinSyncReason) => {
    if (pending.length === 0) pendingSince = Date.now();
    if (!pending.includes(reason)) pending.push(reason);
  };
  let timer: NodeJS.Timeout | undefined;
  let resyncTimer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let lastStart = 0;
  let retryMs = baseRetryMs;
  let stopped = false;
  let syncCount = 0;
  let lastError: Error | undefined;
  let waiters: Array<() => void> = [];

  options.health.register(component, Math.max(resyncIntervalMs * 2, 60_000));

  const schedule = (delay: number) => {
    if (stopped || timer) return;
    const sinceLast = Date.now() - lastStart;
    const wait = Math.max(delay, minIntervalMs - sinceLast, 0);
    timer = setTimeout(() => {
      timer = undefined;
      void run();
    }, wait);
    timer.unref?.();
  };

  const run = async (): Promise<void> => {
    if (running) {
      await running;
      if (pending.length) schedule(0);
      return;
    }
    if (stopped || pending.length === 0) return;
    const reasons = pending;
    const myWaiters = waiters;
    pending = [];
    waiters = [];
    lastStart = Date.now();
    running = (async () => {
      const end = duration.startTimer({ reconciler: options.name });
      try {
        await options.sync(reasons);
        end();
        logger.debug('sync done', { reconciler: options.name, reasons: reasons.join(','), ms: Date.now() - lastStart });
        syncs.inc({ reconciler: options.name, result: 'ok' });
        syncCount++;
        lastError = undefined;
        retryMs = baseRetryMs;
        options.health.report(component, { healthy: true });
        options.health.beat(component);
      } catch (err) {
        end();
        lastError = err instanceof Error ? err : new Error(String(err));
        syncs.inc({ reconciler: options.name, result: 'error' });
        options.health.report(component, { healthy: false, detail: lastError.message });
        logger.error('sync failed, will retry', { reconciler: options.name, error: lastError.message, retryMs });
        addPending('retry');
        const delay = retryMs;
        retryMs = Math.min(retryMs * 2, resyncIntervalMs || 60_000);
        schedule(delay);
      } finally {
        running = undefined;
        myWaiters.forEach((w) => w());
      }
    })();
    await running;
    // Reasons that came during the sync have been gathering since they came:
    // they wait out only the rest of their debounce, not a fresh one.
    if (pending.length && !timer) schedule(debounceMs - (Date.now() - pendingSince));
  };

  const reconciler: Reconciler<R> = {
    trigger(reason) {
      if (stopped) return;
      addPending(reason);
      schedule(debounceMs);
    },
    async syncNow(reason = 'manual') {
      if (stopped) return;
      addPending(reason);
      const done = new Promise<void>((resolve) => waiters.push(resolve));
      if (timer) {
        clearTimeout(timer);
        timer = undefined;
      }
      if (running) await running;
      void run();
      await done;
      if (lastError) throw lastError;
    },
    async start() {
      if (resyncIntervalMs > 0) {
        resyncTimer = setInterval(() => {
          if (stopped) return;
          addPending('resync');
          schedule(debounceMs);
        }, resyncIntervalMs);
        resyncTimer.unref?.();
      }
      signal.addEventListener('abort', () => void reconciler.stop(), { once: true });
      await reconciler.syncNow('start').catch(() => undefined);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (resyncTimer) clearInterval(resyncTimer);
      timer = resyncTimer = undefined;
      if (running) await running;
      waiters.forEach((w) => w());
      waiters = [];
      options.health.unregister(component);
    },
    get syncCount() {
      return syncCount;
    },
    get lastError() {
      return lastError;
    },
  };
  return reconciler;
}
