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
    const list = values.get(value);
    if (list) list.push(obj);
    else values.set(value, [obj]);
  }

  remove(obj: T): void {
    const value = obj.metadata?.labels?.[this.label];
    if (value === undefined) return;
    const ns = obj.metadata?.namespace ?? '';
    const values = this.byNamespace.get(ns);
    const list = values?.get(value);
    const at = list?.indexOf(obj) ?? -1;
    if (at < 0) return;
    list!.splice(at, 1);
    if (list!.length) return;
    values!.delete(value);
    if (values!.size === 0) this.byNamespace.delete(ns);
  }

  list(namespace: string, value: string): T[] {
    return [...(this.byNamespace.get(namespace)?.get(value) ?? [])];
  }
}
