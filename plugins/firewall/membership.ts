import type { Family } from '@krouter/sdk';
import type { CompiledPolicies, Direction, PolicyModel } from './policies.ts';
import { setNames } from './names.ts';
import type { PodView } from './pods.ts';
import { matches } from './selectors.ts';

/**
 * Which set elements one pod puts in the table. A pod's whole effect on the
 * firewall is this list, so a pod event is: recompute its list, diff it with
 * the old one, add and delete those elements. Pure.
 */

/** One element of one set: `[setName, element]`. */
export type Member = readonly [set: string, element: string];

export function member(set: string, element: string): Member {
  return [set, element];
}

/** Text key of a member, for comparing a pod's old and new members. */
const keyOf = (m: Member) => `${m[0]} ${m[1]}`;

export interface MembershipContext {
  compiled: CompiledPolicies;
  /** Policies by their target selector id. */
  policiesByTarget: ReadonlyMap<string, readonly PolicyModel[]>;
  families: readonly Family[];
  nodeName: string;
}

export function policiesByTarget(compiled: CompiledPolicies): Map<string, PolicyModel[]> {
  const out = new Map<string, PolicyModel[]>();
  for (const p of compiled.policies) out.set(p.target, [...(out.get(p.target) ?? []), p]);
  return out;
}

export function podMembers(ctx: MembershipContext, pod: PodView): Member[] {
  const { compiled, families } = ctx;
  const out: Member[] = [];
  if (families.every((f) => pod.ips[f].length === 0)) return out;
  const local = pod.nodeName === ctx.nodeName;
  const matched = (compiled.selectorsByNamespace.get(pod.namespace) ?? []).filter((s) => matches(s.podSelector, pod.labels));
  // Several policies may isolate the same pod: each direction once.
  const isolated = new Set<Direction>();
  if (local) for (const s of matched) for (const p of ctx.policiesByTarget.get(s.id) ?? []) for (const d of p.directions) isolated.add(d);
  // Two containers may declare the same named port.
  const named = new Map<string, string>();
  for (const p of pod.namedPorts) {
    const def = compiled.namedPortsByName.get(`${p.name}/${p.protocol}`);
    if (def) named.set(`${def.id} ${p.port}`, def.id);
  }
  for (const f of families) {
    for (const ip of pod.ips[f]) {
      if (local) out.push([setNames.judged(f), ip]);
      for (const d of isolated) out.push([setNames.isolated(d, f), ip]);
      for (const s of matched) out.push([setNames.selector(s.id, f), ip]);
      for (const [key, id] of named) {
        const def = compiled.namedPorts.get(id)!;
        out.push([setNames.namedPort(id, f), `${ip} . ${def.protocol.toLowerCase()} . ${key.slice(id.length + 1)}`]);
      }
    }
  }
  return out;
}

export type ElementOp = 'add' | 'delete';

/**
 * Net element changes by set. An add and a later delete of the same element
 * (or the reverse) cancel out, so the script never deletes what is absent
 * nor adds what is present: nft fails the whole transaction on either.
 */
export type ElementChanges = Map<string, Map<string, ElementOp>>;

export function emptyChanges(): ElementChanges {
  return new Map();
}

export function hasChanges(c: ElementChanges): boolean {
  for (const m of c.values()) if (m.size) return true;
  return false;
}

export function recordChange(changes: ElementChanges, set: string, element: string, op: ElementOp): void {
  let m = changes.get(set);
  if (!m) changes.set(set, (m = new Map()));
  const before = m.get(element);
  if (before && before !== op) m.delete(element);
  else m.set(element, op);
}

/**
 * Members of every pod, reference-counted: two pods can hold the same
 * address for a moment (a deleted pod's address reused), and an element
 * goes only when no pod needs it any more.
 */
export class MembershipIndex {
  private readonly byPod = new Map<string, readonly Member[]>();
  /** Every set's elements (the keys) and how many pods hold each. */
  readonly elements = new Map<string, Map<string, number>>();

  /** Replaces a pod's members; records the element adds and deletes in `changes` (a full build needs none). */
  setPod(key: string, members: readonly Member[], changes?: ElementChanges): void {
    const old = this.byPod.get(key);
    if (!old) {
      // A pod seen for the first time: every member is new (the full build's path).
      for (const m of members) this.hold(m, changes);
    } else {
      const next = new Set(members.map(keyOf));
      const before = new Set(old.map(keyOf));
      for (const m of old) if (!next.has(keyOf(m))) this.release(m, changes);
      for (const m of members) if (!before.has(keyOf(m))) this.hold(m, changes);
    }
    if (members.length) this.byPod.set(key, members);
    else this.byPod.delete(key);
  }

  deletePod(key: string, changes?: ElementChanges): void {
    this.setPod(key, [], changes);
  }

  /** Static members (node addresses, ipBlocks) under a pseudo-pod key. */
  setStatic(key: string, members: readonly Member[], changes?: ElementChanges): void {
    this.setPod(`\u0000${key}`, members, changes);
  }

  /** The elements of a set now. */
  has(set: string, element: string): boolean {
    return this.elements.get(set)?.has(element) ?? false;
  }

  private hold([set, element]: Member, changes: ElementChanges | undefined) {
    let counts = this.elements.get(set);
    if (!counts) this.elements.set(set, (counts = new Map()));
    const n = (counts.get(element) ?? 0) + 1;
    counts.set(element, n);
    if (n === 1 && changes) recordChange(changes, set, element, 'add');
  }

  private release([set, element]: Member, changes: ElementChanges | undefined) {
    const counts = this.elements.get(set);
    const n = (counts?.get(element) ?? 0) - 1;
    if (n > 0) return void counts!.set(element, n);
    counts?.delete(element);
    if (counts && counts.size === 0) this.elements.delete(set);
    if (changes) recordChange(changes, set, element, 'delete');
  }
}
