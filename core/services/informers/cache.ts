/**
 * The typed object cache of one kind, keyed by `name` or `namespace/name`, with
 * a namespace index. Pure bookkeeping: it returns the changes it made and never
 * reports an update when the resourceVersion did not change.
 */
import type { Change } from '@krouter/sdk';
import { LabelIndex } from './label-index.ts';

export interface Meta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
}

export function keyOf(obj: Meta): string | undefined {
  const name = obj.metadata?.name;
  if (!name) return undefined;
  // Joined, not a template: the cache keeps one key per object, and a template's result is a tree
  // of its pieces (with its own copy of "namespace/") rather than one flat string.
  return obj.metadata?.namespace ? [obj.metadata.namespace, name].join('/') : name;
}

const rvOf = (obj: Meta): string | undefined => obj.metadata?.resourceVersion;

export class ObjectCache<T extends Meta> {
  private readonly items = new Map<string, T>();
  /** Built on the first listNamespace() and kept after: a kind nobody lists by namespace pays nothing for it. */
  private byNamespace?: Map<string, Map<string, T>>;
  /**
   * Per label key asked for, built on its first query and kept with every
   * change after: a query costs its matches, not the namespace (a service's
   * EndpointSlices among 60,000 in one namespace).
   */
  private readonly byLabel = new Map<string, LabelIndex<T>>();

  get size(): number {
    return this.items.size;
  }

  list(): T[] {
    return [...this.items.values()];
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  listNamespace(namespace: string): T[] {
    if (!this.byNamespace) {
      this.byNamespace = new Map();
      for (const [key, obj] of this.items) this.indexNamespace(key, obj);
    }
    return [...(this.byNamespace.get(namespace)?.values() ?? [])];
  }

  private indexNamespace(key: string, obj: T): void {
    const ns = obj.metadata?.namespace;
    if (!ns || !this.byNamespace) return;
    let m = this.byNamespace.get(ns);
    if (!m) this.byNamespace.set(ns, (m = new Map()));
    m.set(key, obj);
  }

  listByLabel(namespace: string, label: string, value: string): T[] {
    let index = this.byLabel.get(label);
    if (!index) {
      this.byLabel.set(label, (index = new LabelIndex<T>(label)));
      for (const obj of this.items.values()) index.add(obj);
    }
    return index.list(namespace, value);
  }

  private put(key: string, obj: T): void {
    const old = this.items.get(key);
    for (const index of this.byLabel.values()) {
      if (old) index.remove(old);
      index.add(obj);
    }
    this.items.set(key, obj);
    this.indexNamespace(key, obj);
  }

  private remove(key: string): T | undefined {
    const old = this.items.get(key);
    if (!old) return undefined;
    for (const index of this.byLabel.values()) index.remove(old);
    this.items.delete(key);
    const ns = old.metadata?.namespace;
    const m = ns ? this.byNamespace?.get(ns) : undefined;
    if (m) {
      m.delete(key);
      if (m.size === 0) this.byNamespace!.delete(ns!);
    }
    return old;
  }

  /** ADDED / MODIFIED from a watch; `undefined` when nothing changed. */
  upsert(obj: T): Change<T> | undefined {
    const key = keyOf(obj);
    if (!key) return undefined;
    const old = this.items.get(key);
    if (old && rvOf(old) !== undefined && rvOf(old) === rvOf(obj)) return undefined;
    this.put(key, obj);
    return old ? { type: 'update', object: obj, old } : { type: 'add', object: obj };
  }

  /** DELETED from a watch; the change carries the final object. */
  delete(obj: T): Change<T> | undefined {
    const key = keyOf(obj);
    if (!key) return undefined;
    const old = this.remove(key);
    return old ? { type: 'delete', object: obj, old } : undefined;
  }

  /**
   * Replaces the whole content with a fresh list and returns the differences
   * (adds, updates with a changed resourceVersion, deletes of what vanished), so
   * listeners see the same stream of changes they would have seen from a watch.
   */
  replace(objects: T[]): Change<T>[] {
    const changes: Change<T>[] = [];
    const seen = new Set<string>();
    for (const obj of objects) {
      const key = keyOf(obj);
      if (!key) continue;
      seen.add(key);
      const c = this.upsert(obj);
      if (c) changes.push(c);
    }
    for (const [key, old] of [...this.items]) {
      if (!seen.has(key)) {
        this.remove(key);
        changes.push({ type: 'delete', object: old, old });
      }
    }
    return changes;
  }
}
