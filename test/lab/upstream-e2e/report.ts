/**
 * Reading ginkgo's JSON report (`--ginkgo.json-report`) of an e2e.test run:
 * each spec of the chosen set with its outcome, and the counts. Pure.
 */
import { labSkipOf, type LabSkip } from './plan.ts';

/** The parts of ginkgo's types.SpecReport that are read here. */
interface GinkgoSpecReport {
  ContainerHierarchyTexts?: string[] | null;
  LeafNodeType?: string;
  LeafNodeText?: string;
  State?: string;
  RunTime?: number;
  /** 0 for a spec ginkgo never started (outside the focus, or in the skip list). */
  NumAttempts?: number;
  Failure?: { Message?: string; Location?: { FileName?: string; LineNumber?: number } };
}

interface GinkgoReport {
  SpecReports?: GinkgoSpecReport[] | null;
}

export type Outcome = 'passed' | 'failed' | 'skipped by the lab' | 'skipped by the spec';

export interface SpecResult {
  text: string;
  outcome: Outcome;
  /** Failure message, upstream's skip message or the lab's skip reason. */
  detail?: string;
  seconds: number;
}

export interface Summary {
  results: SpecResult[];
  counts: Record<Outcome, number>;
  /** A suite-level node (BeforeSuite ...) failed: no spec result can be trusted. */
  suiteFailure?: string;
}

const FAILED_STATES = new Set(['failed', 'panicked', 'timedout', 'interrupted', 'aborted']);

/** The text ginkgo focuses on: the containers' texts and the spec's, joined by spaces. */
export function specText(r: GinkgoSpecReport): string {
  return [...(r.ContainerHierarchyTexts ?? []), r.LeafNodeText ?? ''].filter(Boolean).join(' ');
}

function firstLine(s: string | undefined): string | undefined {
  const line = s?.split('\n').find((l) => l.trim())?.trim();
  return line ? (line.length > 300 ? `${line.slice(0, 297)}...` : line) : undefined;
}

/**
 * The outcome of every spec whose text matches `focus`; specs outside the
 * focus, or that the run never started for its own narrower focus, are not
 * part of it and are left out.
 */
export function summarize(reportJson: string, focus: string, skips: readonly LabSkip[]): Summary {
  const parsed = JSON.parse(reportJson) as GinkgoReport[] | GinkgoReport;
  const reports = Array.isArray(parsed) ? parsed : [parsed];
  const focusRe = new RegExp(focus);
  const results: SpecResult[] = [];
  let suiteFailure: string | undefined;
  for (const report of reports) {
    for (const r of report.SpecReports ?? []) {
      if (r.LeafNodeType !== 'It') {
        if (r.State && FAILED_STATES.has(r.State)) suiteFailure ??= `${r.LeafNodeType}: ${firstLine(r.Failure?.Message) ?? r.State}`;
        continue;
      }
      const text = specText(r);
      if (!focusRe.test(text)) continue;
      const seconds = Math.round((r.RunTime ?? 0) / 1e8) / 10;
      const labSkip = labSkipOf(text, skips);
      // Never started and no lab skip: outside this run's own focus (a report of a narrower run).
      if (!labSkip && r.State === 'skipped' && !r.NumAttempts && !r.Failure?.Message) continue;
      if (labSkip) results.push({ text, outcome: 'skipped by the lab', detail: labSkip.reason, seconds });
      else if (r.State === 'passed') results.push({ text, outcome: 'passed', seconds });
      else if (r.State === 'skipped') results.push({ text, outcome: 'skipped by the spec', detail: firstLine(r.Failure?.Message), seconds });
      else results.push({ text, outcome: 'failed', detail: firstLine(r.Failure?.Message) ?? r.State, seconds });
    }
  }
  results.sort((a, b) => a.text.localeCompare(b.text));
  const counts: Record<Outcome, number> = { passed: 0, failed: 0, 'skipped by the lab': 0, 'skipped by the spec': 0 };
  for (const r of results) counts[r.outcome]++;
  return { results, counts, ...(suiteFailure ? { suiteFailure } : {}) };
}

/** The summary as lines for a terminal: failures and skips with their reasons, then the counts. */
export function summaryLines(s: Summary, title: string): string[] {
  const lines: string[] = [];
  const section = (outcome: Outcome) => {
    const rs = s.results.filter((r) => r.outcome === outcome);
    if (!rs.length) return;
    lines.push(`${outcome} (${rs.length}):`);
    for (const r of rs) lines.push(`  ${r.text}${r.detail ? `\n      ${r.detail}` : ''}`);
  };
  if (s.suiteFailure) lines.push(`SUITE FAILED: ${s.suiteFailure}`);
  section('failed');
  section('skipped by the spec');
  section('skipped by the lab');
  const c = s.counts;
  lines.push(`${title}: ${c.passed} passed, ${c.failed} failed, ${c['skipped by the lab'] + c['skipped by the spec']} skipped (${c['skipped by the lab']} by the lab, ${c['skipped by the spec']} by the spec itself)`);
  return lines;
}
