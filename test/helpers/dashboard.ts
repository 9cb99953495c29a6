/**
 * The Grafana dashboard (deploy/grafana/krouter-dashboard.json) as tests see
 * it: its panels and PromQL expressions, the metric names those query, and
 * the metric families a Prometheus text exposition declares.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DASHBOARD_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'grafana', 'krouter-dashboard.json');

export interface DashboardTarget {
  refId: string;
  expr: string;
  datasource?: { type?: string; uid?: string };
}
export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
}
export interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  panels: DashboardPanel[];
  templating: { list: Array<{ name: string; type: string; query?: unknown; datasource?: { uid?: string } }> };
}

export function loadDashboard(file = DASHBOARD_PATH): Dashboard {
  return JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
}

/** Every panel, rows' nested panels included. */
export function allPanels(d: Dashboard): DashboardPanel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every PromQL expression: panel targets and query variables. */
export function expressions(d: Dashboard): string[] {
  const exprs = allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    if (q) exprs.push(q);
  }
  return exprs;
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * Metric names a PromQL expression selects. Strips strings, label matchers,
 * range and subquery brackets, grouping label lists and Grafana variables;
 * what remains that is a name not followed by `(` (a function or
 * aggregation) and not a keyword is a metric. `label_values(metric, label)`
 * (Grafana) names its metric first.
 */
export function metricNamesOf(expr: string): string[] {
  const labelValues = /^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(expr);
  if (labelValues) return [labelValues[1]!];
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  s = s.replace(/\{[^}]*\}/g, ' ');
  s = s.replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  s = s.replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![A-Za-z0-9_:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![A-Za-z0-9_:])(\s*\()?/g)) {
    const [, name, call] = m;
    if (call || KEYWORDS.has(name!.toLowerCase()) || /^\d/.test(name!)) continue;
    // A number's exponent or duration unit (1e3, 5m) never reaches here: those start with a digit.
    names.add(name!);
  }
  return [...names];
}

/** `# TYPE name kind` lines of a text exposition: metric family -> kind. */
export function metricFamilies(exposition: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of exposition.matchAll(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

/** The names among `names` the exposition does not declare (a histogram's _bucket/_sum/_count count as its family's). */
export function missingMetrics(names: Iterable<string>, families: Map<string, string>): string[] {
  const missing: string[] = [];
  for (const name of names) {
    if (families.has(name)) continue;
    const m = /^(.*)_(bucket|sum|count)$/.exec(name);
    const kind = m ? families.get(m[1]!) : undefined;
    if (m && (kind === 'histogram' || (kind === 'summary' && m[2] !== 'bucket'))) continue;
    missing.push(name);
  }
  return missing.sort();
}
