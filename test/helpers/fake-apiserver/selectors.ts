/**
 * Label and field selectors with Kubernetes semantics (pure functions).
 * Label: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, comma = AND.
 * Field: `path=v`, `path==v`, `path!=v`, comma = AND; a missing field reads as "".
 */
import { badRequest } from './status.ts';

export type LabelRequirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' };

export type LabelSelector = LabelRequirement[];

const KEY_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE_RE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function checkKey(key: string, text: string): string {
  if (!KEY_RE.test(key)) throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${text}"`);
  return key;
}
function checkValue(value: string, text: string): string {
  if (value.length > 63 || !VALUE_RE.test(value)) throw badRequest(`unable to parse requirement: invalid label value "${value}" in selector "${text}"`);
  return value;
}

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth < 0) throw badRequest(`unbalanced parentheses in selector "${text}"`);
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (depth !== 0) throw badRequest(`unbalanced parentheses in selector "${text}"`);
  parts.push(cur);
  return parts;
}

export function parseLabelSelector(text: string | null | undefined): LabelSelector {
  if (!text || !text.trim()) return [];
  const reqs: LabelSelector = [];
  for (const raw of splitTopLevel(text)) {
    const part = raw.trim();
    if (!part) throw badRequest(`empty requirement in label selector "${text}"`);
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^(\S+)\s+(in|notin)\s*\((.*)\)$/))) {
      const values = m[3]!.split(',').map((v) => checkValue(v.trim(), text));
      if (values.length === 0 || (values.length === 1 && values[0] === '' && m[3]!.trim() === '')) {
        throw badRequest(`unable to parse requirement: for 'in', 'notin' operators, values set can't be empty in selector "${text}"`);
      }
      reqs.push({ key: checkKey(m[1]!, text), op: m[2] as 'in' | 'notin', values });
    } else if ((m = part.match(/^([^=!\s]+)\s*(==|!=|=)\s*(\S*)$/))) {
      const value = checkValue(m[3]!, text);
      reqs.push({ key: checkKey(m[1]!, text), op: m[2] === '!=' ? 'notin' : 'in', values: [value] });
    } else if ((m = part.match(/^!\s*(\S+)$/))) {
      reqs.push({ key: checkKey(m[1]!, text), op: '!exists' });
    } else if ((m = part.match(/^(\S+)$/))) {
      reqs.push({ key: checkKey(m[1]!, text), op: 'exists' });
    } else {
      throw badRequest(`unable to parse requirement "${part}" in label selector "${text}"`);
    }
  }
  return reqs;
}

export function matchLabels(selector: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return selector.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case 'in':
        return has && r.values.includes(l[r.key]!);
      case 'notin':
        // Kubernetes: `notin` and `!=` match objects that lack the key.
        return !has || !r.values.includes(l[r.key]!);
    }
  });
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}
export type FieldSelector = FieldRequirement[];

/** Parses a field selector; `allowed` names the field labels this resource supports. */
export function parseFieldSelector(text: string | null | undefined, allowed: readonly string[], resource: string): FieldSelector {
  if (!text || !text.trim()) return [];
  const reqs: FieldSelector = [];
  for (const raw of text.split(',')) {
    const part = raw.trim();
    const m = part.match(/^([^=!\s]+)\s*(==|!=|=)\s*(.*)$/);
    if (!m) throw badRequest(`invalid field selector requirement "${part}" in "${text}"`);
    const field = m[1]!;
    if (!allowed.includes(field)) throw badRequest(`field label not supported: ${field} (resource ${resource})`);
    reqs.push({ field, op: m[2] === '!=' ? '!=' : '=', value: m[3]!.trim() });
  }
  return reqs;
}

/** The string value a field selector compares against. */
export function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[seg];
  }
  if (cur === undefined || cur === null) return '';
  if (typeof cur === 'object') return '';
  return String(cur);
}

export function matchFields(selector: FieldSelector, obj: unknown): boolean {
  return selector.every((r) => (fieldValue(obj, r.field) === r.value) === (r.op === '='));
}
