/**
 * One kind's list/watch loop over client-node's `Watch`:
 * list -> watch from the list's resourceVersion -> on a normal end, re-watch from
 * the last seen version (bookmarks keep it fresh) -> on 410 Gone, relist and emit
 * the differences against the cache -> on errors, retry with capped backoff.
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';
// The typed deserializer is not re-exported from the package root; lists come back
// typed (Date timestamps, `_from` in NetworkPolicy rules), so watch events must too.
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import type { Change, Counter, Gauge, Informer, Logger } from '@krouter/sdk';
import { ObjectCache, type Meta } from './cache.ts';
import { accessDenied, type ListWatchVerb } from './access.ts';
import { cacheCopy } from './compact.ts';
import type { KindSpec } from './kinds.ts';

export interface Backoff {
  initialMs: number;
  maxMs: number;
  /** A watch that lasted this long and then ended ended normally (not in a failure loop), events or not. Default 5 s. */
  quietWatchMs?: number;
}

export interface KindInformerDeps {
  kc: KubeConfig;
  logger: Logger;
  restarts: Counter;
  relists: Counter;
  cacheSize: Gauge;
  backoff: Backoff;
}

class GoneError extends Error {}

interface WatchStatus {
  code?: number;
  reason?: string;
  message?: string;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

const isGone = (err: unknown): boolean => {
  const e = err as { statusCode?: number; code?: number } | undefined;
  return e?.statusCode === 410 || e?.code === 410;
};

export class KindInformer<T extends Meta> implements Informer<T> {
  readonly kind: string;
  private readonly cache = new ObjectCache<T>();
  private readonly listeners = new Set<(change: Change<T>) => void>();
  private readonly abort = new AbortController();
  private resourceVersion = '';
  private synced = false;
  private markSynced!: () => void;
  /** Resolves on the first successful list. */
  readonly syncedPromise = new Promise<void>((resolve) => (this.markSynced = resolve));
  private watchController?: AbortController;
  private loop?: Promise<void>;
  private readonly log: Logger;

  constructor(
    private readonly spec: KindSpec,
    private readonly deps: KindInformerDeps,
  ) {
    this.kind = spec.kind;
    this.log = deps.logger.child({ informer: spec.kind });
  }

  start(): void {
    this.loop ??= this.run();
  }

  async close(): Promise<void> {
    this.abort.abort();
    this.watchController?.abort();
    await this.loop;
  }

  list(): T[] {
    return this.cache.list();
  }
  get(key: string): T | undefined {
    return this.cache.get(key);
  }
  listNamespace(namespace: string): T[] {
    return this.cache.listNamespace(namespace);
  }
  listByLabel(namespace: string, label: string, value: string): T[] {
    return this.cache.listByLabel(namespace, label, value);
  }
  onChange(listener: (change: Change<T>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  hasSynced(): boolean {
    return this.synced;
  }

  private emit(change: Change<T>): void {
    for (const l of [...this.listeners]) {
      try {
        l(change);
      } catch (err) {
        this.log.error('change listener threw', { error: (err as Error).message });
      }
    }
  }

  private typed(raw: unknown): T {
    return ObjectSerializer.deserialize(raw, this.spec.model, '') as T;
  }

  private async run(): Promise<void> {
    let delay = this.deps.backoff.initialMs;
    const signal = this.abort.signal;
    // Refusals already reported (one error line each until access works again).
    const denied = new Set<ListWatchVerb>();
    let verb: ListWatchVerb = 'list';
    while (!signal.aborted) {
      let progressed = false;
      try {
        if (!this.resourceVersion) {
          verb = 'list';
          await this.relist();
          denied.delete('list');
          progressed = true;
        }
        verb = 'watch';
        const watchStart = Date.now();
        const delivered = await this.watchOnce();
        // A watch the server ended after its timeout is progress even when nothing changed (a quiet kind):
        // resume at once. Only one that ends at once without an event backs off, so a server that
        // closes every watch cannot make this a busy loop.
        progressed = delivered || Date.now() - watchStart >= (this.deps.backoff.quietWatchMs ?? 5_000) || progressed;
        denied.delete('watch');
        if (signal.aborted) break;
        // A normal end (server timeout, connection closed): resume from the last version.
        this.deps.restarts.inc({ kind: this.kind, reason: 'closed' });
        this.log.debug('watch ended, resuming', { resourceVersion: this.resourceVersion });
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof GoneError || isGone(err)) {
          this.deps.restarts.inc({ kind: this.kind, reason: 'expired' });
          this.log.info('watch resourceVersion expired (410), relisting', { resourceVersion: this.resourceVersion });
          this.resourceVersion = '';
          continue; // relist at once: this is normal, not a failure
        }
        const refusal = accessDenied(err, verb, this.spec.path);
        if (refusal) {
          this.deps.restarts.inc({ kind: this.kind, reason: 'forbidden' });
          if (!denied.has(verb)) this.log.error(refusal.message, { verb, status: refusal.status, retryInMs: delay });
          denied.add(verb);
        } else {
          this.deps.restarts.inc({ kind: this.kind, reason: 'error' });
          this.log.warn('list/watch failed, retrying', { error: (err as Error).message ?? String(err), retryInMs: delay });
        }
        progressed = false;
      }
      if (progressed) delay = this.deps.backoff.initialMs;
      else {
        // Jitter keeps many agents from reconnecting in step after an API server restart.
        await sleep(delay * (0.8 + Math.random() * 0.4), signal);
        delay = Math.min(delay * 2, this.deps.backoff.maxMs);
      }
    }
  }

  private async relist(): Promise<void> {
    const list = await this.spec.list(this.deps.kc);
    if (this.abort.signal.aborted) return;
    // Lists come back as typed model instances already.
    const changes = this.cache.replace((list.items as T[]).map((o) => cacheCopy(o, this.spec.project)));
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    this.deps.relists.inc({ kind: this.kind });
    this.deps.cacheSize.set({ kind: this.kind }, this.cache.size);
    if (!this.synced) {
      this.synced = true;
      this.markSynced();
      this.log.info('synced', { objects: this.cache.size, resourceVersion: this.resourceVersion });
    }
    for (const c of changes) this.emit(c);
  }

  /** One watch connection; resolves true if it delivered anything, throws on error or 410. */
  private watchOnce(): Promise<boolean> {
    // Like client-go: the server ends the watch after 5-10 minutes, we re-watch from the last version.
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    const watch = new Watch(this.deps.kc);
    // client-node aborts a watch silent for 30 s (a private field, no option); real
    // API servers send bookmarks about once a minute, so allow the whole watch span.
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = (timeoutSeconds + 60) * 1000;
    let delivered = false;
    let gone = false;
    let failure: Error | undefined;
    return new Promise<boolean>((resolve, reject) => {
      const done = (err: unknown): void => {
        this.watchController = undefined;
        if (this.abort.signal.aborted) return resolve(delivered);
        if (gone || isGone(err)) return reject(new GoneError('resourceVersion expired'));
        if (failure) return reject(failure);
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        resolve(delivered);
      };
      const onEvent = (type: string, obj: unknown): void => {
        if (this.abort.signal.aborted) return;
        if (type === 'ERROR') {
          const st = obj as WatchStatus;
          if (st?.code === 410) gone = true;
          else failure = new Error(`watch error ${st?.code ?? '?'} ${st?.reason ?? ''}: ${st?.message ?? JSON.stringify(obj)}`);
          this.watchController?.abort();
          return;
        }
        const rv = (obj as Meta)?.metadata?.resourceVersion;
        if (type === 'BOOKMARK') {
          if (rv) this.resourceVersion = rv;
          return;
        }
        delivered = true;
        const typed = cacheCopy(this.typed(obj), this.spec.project);
        const change = type === 'DELETED' ? this.cache.delete(typed) : type === 'ADDED' || type === 'MODIFIED' ? this.cache.upsert(typed) : undefined;
        if (rv) this.resourceVersion = rv;
        if (change) {
          this.deps.cacheSize.set({ kind: this.kind }, this.cache.size);
          this.emit(change);
        }
      };
      watch
        .watch(this.spec.path, { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds }, onEvent, done)
        .then((controller) => {
          this.watchController = controller;
          if (this.abort.signal.aborted) controller.abort();
        }, reject);
    });
  }
}
