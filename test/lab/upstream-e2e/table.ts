/**
 * Upstream e2e results of several runs (one per family mode) as one
 * Markdown table: a row per spec, a column per mode. Pure; the lab's
 * `upstream-e2e-table` command feeds it the runs' JSON reports.
 */
import type { LabFamily } from '../config.ts';
import type { Outcome, SpecResult, Summary } from './report.ts';

export interface ModeRun {
  mode: LabFamily;
  summary: Summary;
}

/** Reports of several runs in one mode as one summary: a spec that ran in one of them counts with that outcome. */
export function mergeSummaries(summaries: readonly Summary[]): Summary {
  const bySpec = new Map<string, SpecResult>();
  for (const s of summaries) {
    for (const r of s.results) {
      const seen = bySpec.get(r.text);
      const ran = (x: SpecResult) => x.outcome === 'passed' || x.outcome === 'failed';
      if (!seen || (ran(r) && !ran(seen))) bySpec.set(r.text, r);
    }
  }
  const results = [...bySpec.values()].sort((a, b) => a.text.localeCompare(b.text));
  const counts: Record<Outcome, number> = { passed: 0, failed: 0, 'skipped by the lab': 0, 'skipped by the spec': 0 };
  for (const r of results) counts[r.outcome]++;
  const suiteFailure = summaries.find((s) => s.suiteFailure)?.suiteFailure;
  return { results, counts, ...(suiteFailure ? { suiteFailure } : {}) };
}

const CELL: Record<Outcome, string> = {
  passed: 'pass',
  failed: '**FAIL**',
  'skipped by the lab': 'skip (lab)',
  'skipped by the spec': 'skip (spec)',
};

/** `[sig-network] Services should ...` -> `should ...`, the set named by its own column. */
function setOf(text: string): { set: string; rest: string } {
  const m = /^\[sig-network\] (\[Feature:IPv6DualStack\]|Netpol|Services) (.*)$/.exec(text);
  if (!m) return { set: '', rest: text };
  return { set: m[1] === '[Feature:IPv6DualStack]' ? 'IPv6DualStack' : m[1]!, rest: m[2]! };
}

const escapeCell = (s: string) => s.replace(/\|/g, '\\|');

export function resultsTable(runs: readonly ModeRun[]): string {
  const modes = runs.map((r) => r.mode);
  const bySpec = new Map<string, Map<LabFamily, Outcome>>();
  for (const run of runs) {
    for (const r of run.summary.results) {
      const row = bySpec.get(r.text) ?? new Map<LabFamily, Outcome>();
      row.set(run.mode, r.outcome);
      bySpec.set(r.text, row);
    }
  }
  const lines = [`| set | spec | ${modes.join(' | ')} |`, `|---|---|${modes.map(() => '---|').join('')}`];
  const specs = [...bySpec.keys()].sort((a, b) => {
    const sa = setOf(a);
    const sb = setOf(b);
    return sa.set.localeCompare(sb.set) || sa.rest.localeCompare(sb.rest);
  });
  for (const text of specs) {
    const { set, rest } = setOf(text);
    const row = bySpec.get(text)!;
    lines.push(`| ${set} | ${escapeCell(rest)} | ${modes.map((m) => (row.has(m) ? CELL[row.get(m)!] : 'not run')).join(' | ')} |`);
  }
  const totals = (outcome: Outcome) => runs.map((r) => String(r.summary.counts[outcome])).join(' | ');
  lines.push('');
  lines.push(`| total | ${modes.join(' | ')} |`, `|---|${modes.map(() => '---|').join('')}`);
  for (const outcome of Object.keys(CELL) as Outcome[]) lines.push(`| ${outcome} | ${totals(outcome)} |`);
  return lines.join('\n');
}
