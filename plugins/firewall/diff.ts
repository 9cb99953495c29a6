import { emptyChanges, recordChange, type ElementChanges } from './membership.ts';

/** Element changes that turn `old` set contents into `next`. Pure. */
/** A set's elements: a Set, or a Map keyed by element (the membership index's counts). */
type Elements = { has(element: string): boolean; keys(): Iterable<string> };

export function diffElements(old: ReadonlyMap<string, Elements>, next: ReadonlyMap<string, Elements>): ElementChanges {
  const changes = emptyChanges();
  for (const [set, elements] of old) {
    const now = next.get(set);
    for (const e of elements.keys()) if (!now?.has(e)) recordChange(changes, set, e, 'delete');
  }
  for (const [set, elements] of next) {
    const before = old.get(set);
    for (const e of elements.keys()) if (!before?.has(e)) recordChange(changes, set, e, 'add');
  }
  return changes;
}
