/**
 * One label key's index over a cache: namespace -> label value -> the
 * objects carrying it. Keyed by the objects' own namespace and value
 * strings (no joined key is made, so the index costs its maps and small
 * arrays, not copies of names), and objects are found again by identity:
 * the cache hands in the exact object it stored.
 */
import type { Meta } from './cache.ts';

export class LabelIndex<T extends Meta> {
  private readonly byNamespace = new Map<string, Map<string, T[]>>();

  constructor(readonly label: string) {}

  add(obj: T): void {
    const value = obj.metadata?.labels?.[this.label];
    if (value === undefined) return;
    const ns = obj.metadata?.namespace ?? '';
    let values = this.byNamespace.get(ns);
    if (!values) this.byNamespace.set(ns, (values = new Map()));
    // A new array of the exact size rather than push(): a pushed one-element array grows to room for 17,
    // and a cluster has one list per Service.
    const list = values.get(value);
    values.set(value, list ? [...list, obj] : [obj]);
  }

  remove(obj: T): void {
    const value = obj.metadata?.labels?.[this.label];
    if (value === undefined) return;
    const ns = obj.metadata?.namespace ?? '';
    const values = this.byNamespace.get(ns);
    const list = values?.get(value);
    const at = list?.indexOf(obj) ?? -1;
    if (at < 0) return;
    if (list!.length > 1) return void values!.set(value, list!.filter((_, i) => i !== at));
    values!.delete(value);
    if (values!.size === 0) this.byNamespace.delete(ns);
  }

  list(namespace: string, value: string): T[] {
    return [...(this.byNamespace.get(namespace)?.get(value) ?? [])];
  }
}
