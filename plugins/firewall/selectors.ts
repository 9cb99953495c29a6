import type { V1LabelSelector } from '@kubernetes/client-node';

/**
 * Kubernetes label selectors (matchLabels AND matchExpressions), pure.
 * A selector is compiled once per policy; pods are matched many times.
 */

export type Labels = Readonly<Record<string, string>>;

type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
const OPERATORS: ReadonlySet<string> = new Set<Operator>(['In', 'NotIn', 'Exists', 'DoesNotExist']);

interface Requirement {
  key: string;
  operator: Operator;
  values: readonly string[];
}

/** A validated selector: every requirement must hold. No requirement selects everything. */
export interface Selector {
  readonly requirements: readonly Requirement[];
  /** Stable text form: equal selectors have equal keys whatever their spelling. */
  readonly key: string;
}

export const EVERYTHING: Selector = { requirements: [], key: '{}' };

/**
 * Compiles a LabelSelector; returns an error text naming the bad part instead
 * of throwing, so one bad selector only disables its own part of a policy.
 */
export function compileSelector(sel: V1LabelSelector | undefined | null): Selector | { error: string } {
  if (!sel) return EVERYTHING;
  const reqs: Requirement[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) {
    if (typeof value !== 'string') return { error: `matchLabels[${JSON.stringify(key)}] must be a string` };
    reqs.push({ key, operator: 'In', values: [value] });
  }
  for (const [i, e] of (sel.matchExpressions ?? []).entries()) {
    const where = `matchExpressions[${i}]`;
    if (!e || typeof e.key !== 'string' || !OPERATORS.has(e.operator)) {
      return { error: `${where}: operator ${JSON.stringify(e?.operator)} is not In, NotIn, Exists or DoesNotExist` };
    }
    const operator = e.operator as Operator;
    const values = e.values ?? [];
    const needsValues = operator === 'In' || operator === 'NotIn';
    if (needsValues && values.length === 0) return { error: `${where}: ${operator} needs values` };
    if (!needsValues && values.length > 0) return { error: `${where}: ${operator} takes no values` };
    reqs.push({ key: e.key, operator, values: [...new Set(values)].sort() });
  }
  reqs.sort((a, b) => (a.key === b.key ? a.operator.localeCompare(b.operator) : a.key < b.key ? -1 : 1));
  return { requirements: reqs, key: JSON.stringify(reqs.map((r) => [r.key, r.operator, r.values])) };
}

export function isSelectorError(s: Selector | { error: string }): s is { error: string } {
  return 'error' in s;
}

export function matches(selector: Selector, labels: Labels): boolean {
  for (const r of selector.requirements) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.operator) {
      case 'In':
        if (!has || !r.values.includes(labels[r.key]!)) return false;
        break;
      case 'NotIn':
        if (has && r.values.includes(labels[r.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}
