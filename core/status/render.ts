/**
 * `krouter status` as text: the agent's `/status` document rendered for
 * people. Pure (document in, text out). The plugins own their status shapes;
 * this renders any JSON object by a few conventions, so an external plugin's
 * status reads as well as a built-in's:
 *
 * - scalars (and lists of scalars) of an object are aligned `label  value`
 *   lines; labels are the keys in words (`routerId` -> `router id`);
 * - a key ending in `Seconds` is a duration, in `Ms` milliseconds; booleans
 *   are yes/no, null is `-`;
 * - a list of objects is a table (`label (count)`, upper-case column heads,
 *   aligned columns; lists inside a cell are joined with `, `);
 * - a nested object is an indented block under its label;
 * - `families` ({ ipv4: {...}, ipv6: {...} }) is one block per family, after
 *   the plugin-wide lines; any other key whose value is keyed by family
 *   (`allocations: { ipv4: [...], ipv6: [...] }`) is shown in those blocks too;
 * - `problems` and `errors` are listed last, and only when not empty.
 */

/** The `/status` document (and `krouter status --json`). */
export interface StatusDocument {
  node: string;
  version: string;
  /** The enabled families (or the configured mode while they are not known yet). */
  families: string[] | string;
  /** Each running plugin's status(), by plugin name, in start order; `{ error }` when it failed. */
  plugins: Record<string, unknown>;
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const INDENT = '  ';
const LISTED_LAST = new Set(['problems', 'errors']);

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown): boolean => v === null || v === undefined || ['string', 'number', 'boolean'].includes(typeof v);
const isRowList = (v: unknown): v is JsonObject[] => Array.isArray(v) && v.length > 0 && v.every(isObject);
const isScalarList = (v: unknown): boolean => Array.isArray(v) && v.every(isScalar);

/** `routerId` -> `router id`, `podCIDR` -> `pod CIDR`, `loadBalancerIPs` -> `load balancer IPs`; unit suffixes dropped. */
export function labelOf(key: string): string {
  const base = key.replace(/(?<=[a-z0-9])(Seconds|Ms)$/, '');
  const words = base.match(/[A-Z]{2,}s?(?![a-z])|[A-Z]?[a-z0-9]+|[A-Z]+|[^A-Za-z0-9]+/g) ?? [base];
  return words
    .filter((w) => !/^[^A-Za-z0-9]+$/.test(w))
    .map((w) => (/^[A-Z]{2,}s?$/.test(w) ? w : w.toLowerCase()))
    .join(' ');
}

/** 3723 -> `1h02m03s`, 90061 -> `1d01h01m01s`, 42 -> `42s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (d) return `${d}d${two(h)}h${two(m)}m${two(r)}s`;
  if (h) return `${h}h${two(m)}m${two(r)}s`;
  if (m) return `${m}m${two(r)}s`;
  return `${r}s`;
}

/** One value as table cell or line text. */
export function formatValue(key: string, value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'number') {
    if (/[a-z0-9]Seconds$/.test(key)) return formatDuration(value);
    if (/[a-z0-9]Ms$/.test(key)) return `${Math.round(value * 10) / 10} ms`;
    return String(value);
  }
  if (typeof value === 'string') return value === '' ? '-' : value;
  if (Array.isArray(value)) return value.length ? value.map((v) => formatValue(key, v)).join(', ') : '-';
  if (isObject(value)) return Object.entries(value).map(([k, v]) => `${labelOf(k)}=${formatValue(k, v)}`).join(' ') || '-';
  return String(value);
}

/** Rows as aligned columns: the union of the rows' keys, in first-seen order. */
export function renderTable(rows: readonly JsonObject[], indent: string): string[] {
  const keys: string[] = [];
  for (const row of rows) for (const k of Object.keys(row)) if (!keys.includes(k)) keys.push(k);
  const cells = [keys.map((k) => labelOf(k).toUpperCase()), ...rows.map((row) => keys.map((k) => formatValue(k, row[k])))];
  const widths = keys.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => `${indent}${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}`.trimEnd());
}

const FAMILY_NAMES = new Set(['ipv4', 'ipv6']);
const isPerFamily = (v: unknown): v is JsonObject => isObject(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => FAMILY_NAMES.has(k));

/** Moves `key: { ipv4: x, ipv6: y }` entries into `families.ipv4.key` / `families.ipv6.key`, after what `families` holds. */
export function gatherFamilies(obj: JsonObject): JsonObject {
  const perFamily = Object.entries(obj).filter(([k, v]) => k !== 'families' && isPerFamily(v));
  if (perFamily.length === 0) return obj;
  const families: Record<string, JsonObject> = {};
  if (isObject(obj.families)) for (const [f, block] of Object.entries(obj.families)) families[f] = isObject(block) ? { ...block } : { value: block };
  for (const [k, v] of perFamily) {
    for (const [f, value] of Object.entries(v as JsonObject)) (families[f] ??= {})[k] = value;
  }
  const out: JsonObject = Object.fromEntries(Object.entries(obj).filter(([k, v]) => k !== 'families' && !(isPerFamily(v) && perFamily.some(([pk]) => pk === k))));
  out.families = families;
  return out;
}

/** An object as lines at `depth`: aligned scalars, then blocks and tables, then families, then problems. */
export function renderObject(input: JsonObject, depth: number): string[] {
  const obj = gatherFamilies(input);
  const indent = INDENT.repeat(depth);
  const out: string[] = [];
  const entries = Object.entries(obj).filter(([, v]) => v !== undefined);
  const scalars = entries.filter(([k, v]) => !LISTED_LAST.has(k) && (isScalar(v) || isScalarList(v)));
  const width = Math.max(0, ...scalars.map(([k]) => labelOf(k).length));
  for (const [k, v] of scalars) out.push(`${indent}${labelOf(k).padEnd(width)}  ${formatValue(k, v)}`.trimEnd());

  for (const [k, v] of entries) {
    if (LISTED_LAST.has(k) || k === 'families' || isScalar(v) || isScalarList(v)) continue;
    if (Array.isArray(v)) {
      out.push(`${indent}${labelOf(k)} (${v.length})`);
      if (isRowList(v)) out.push(...renderTable(v, indent + INDENT));
      else for (const item of v) out.push(...(isObject(item) ? renderObject(item, depth + 1) : [`${indent}${INDENT}${formatValue(k, item)}`]));
    } else if (isObject(v)) {
      out.push(`${indent}${labelOf(k)}`);
      out.push(...renderObject(v, depth + 1));
    }
  }

  const families = obj.families;
  if (isObject(families)) {
    for (const [family, block] of Object.entries(families)) {
      out.push(`${indent}${family}`);
      out.push(...(isObject(block) ? renderObject(block, depth + 1) : [`${indent}${INDENT}${formatValue(family, block)}`]));
    }
  } else if (families !== undefined && !isScalar(families) && !isScalarList(families)) {
    out.push(`${indent}families  ${formatValue('families', families)}`);
  }

  for (const k of LISTED_LAST) {
    const v = obj[k];
    if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) continue;
    const items = Array.isArray(v) ? v : [v];
    out.push(`${indent}${labelOf(k)} (${items.length})`);
    for (const item of items) out.push(`${indent}${INDENT}- ${formatValue(k, item)}`);
  }
  return out;
}

/** The whole document: a header line, then one block per plugin. */
export function renderStatus(doc: StatusDocument): string {
  const families = Array.isArray(doc.families) ? doc.families.join(', ') : String(doc.families);
  const lines = [`node ${doc.node}  krouter ${doc.version}  families ${families}`];
  const plugins = Object.entries(doc.plugins ?? {});
  if (plugins.length === 0) lines.push('', 'no plugin running');
  for (const [name, status] of plugins) {
    lines.push('', name);
    const body = isObject(status) ? renderObject(status, 1) : [`${INDENT}${formatValue(name, status)}`];
    lines.push(...(body.length ? body : [`${INDENT}(no status)`]));
  }
  return `${lines.join('\n')}\n`;
}
