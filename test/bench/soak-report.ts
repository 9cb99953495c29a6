/**
 * The soak bench's judgement, pure: samples of every agent over time ->
 * flatness of RSS and open fds after warm-up, the objects krouter owns on
 * each node after clean-up against the pre-churn baseline, the probe tally,
 * the printed report and the BenchRows.
 */
import { PALETTE, type Marker, type Panel, type Rgb, type Series } from './plot.ts';
import type { BenchRow } from './run.ts';

/** What krouter owns on one node, counted. */
export interface OwnedCounts {
  /** Chains in krouter's nftables tables. */
  chains: number;
  /** Sets and maps in krouter's tables. */
  sets: number;
  /** Elements of those sets and maps. */
  elements: number;
  /** Routes of protocol 201 (krouter), both families, every table. */
  routes: number;
  /** BGP neighbors of the node's gobgpd. */
  peers: number;
}

export const OWNED_KINDS = ['chains', 'sets', 'elements', 'routes', 'peers'] as const satisfies ReadonlyArray<keyof OwnedCounts>;
export const OWNED_TITLE: Record<keyof OwnedCounts, string> = {
  chains: 'nft chains',
  sets: 'nft sets and maps',
  elements: 'nft set/map elements',
  routes: 'routes proto 201',
  peers: 'BGP peers',
};

/** Chains, sets/maps and their elements in krouter's tables (`krouter-*`), from `nft -j list ruleset`. */
export function countNft(json: string): { chains: number; sets: number; elements: number } {
  const items = (JSON.parse(json) as { nftables: Array<Record<string, any>> }).nftables;
  let chains = 0;
  let sets = 0;
  let elements = 0;
  for (const it of items) {
    const o = it.chain ?? it.set ?? it.map;
    if (!o || !String(o.table).startsWith('krouter')) continue;
    if (it.chain) chains++;
    else {
      sets++;
      elements += Array.isArray(o.elem) ? o.elem.length : 0;
    }
  }
  return { chains, sets, elements };
}

export interface AgentSample extends OwnedCounts {
  node: string;
  pid: number;
  rssKb: number;
  fds: number;
  restarts: number;
}

export type Phase = 'baseline' | 'churn' | 'cleanup';

export interface Sample {
  /** Seconds since the churn started (negative before). */
  t: number;
  phase: Phase;
  agents: AgentSample[];
}

export interface Flatness {
  node: string;
  metric: 'rss' | 'fds';
  /** The first churn sample at or after the warm-up. */
  afterWarmup: number;
  /** The last churn sample. */
  last: number;
  /** The highest churn sample after the warm-up. */
  max: number;
  ratio: number;
  within: boolean;
}

export const FLAT_LIMIT = 1.1;

const metricOf = (a: AgentSample, m: 'rss' | 'fds'): number => (m === 'rss' ? a.rssKb / 1024 : a.fds);

/**
 * Per node and metric: the last churn sample over the first one at or after
 * `warmupS` seconds of churn; within when the ratio is at most FLAT_LIMIT.
 * Samples without a value (the agent was not running) are skipped; a node
 * without a sample after the warm-up gets no entry.
 */
export function flatness(samples: readonly Sample[], warmupS: number, limit = FLAT_LIMIT): Flatness[] {
  const churn = samples.filter((s) => s.phase === 'churn' && s.t >= warmupS);
  const nodes = [...new Set(samples.flatMap((s) => s.agents.map((a) => a.node)))];
  const out: Flatness[] = [];
  for (const metric of ['rss', 'fds'] as const) {
    for (const node of nodes) {
      const series = churn.flatMap((s) => s.agents.filter((a) => a.node === node).map((a) => metricOf(a, metric))).filter(Number.isFinite);
      if (series.length === 0) continue;
      const afterWarmup = series[0]!;
      const last = series[series.length - 1]!;
      const ratio = afterWarmup > 0 ? last / afterWarmup : last > 0 ? Infinity : 1;
      out.push({ node, metric, afterWarmup, last, max: Math.max(...series), ratio, within: ratio <= limit });
    }
  }
  return out;
}

export interface Leak {
  node: string;
  kind: keyof OwnedCounts;
  baseline: number;
  after: number;
  /** Back to the baseline exactly. */
  ok: boolean;
}

/** Per node and kind: the count after clean-up against the baseline. Nodes missing on either side are skipped. */
export function leaks(baseline: readonly AgentSample[], after: readonly AgentSample[]): Leak[] {
  const out: Leak[] = [];
  for (const kind of OWNED_KINDS) {
    for (const b of baseline) {
      const a = after.find((x) => x.node === b.node);
      if (!a) continue;
      out.push({ node: b.node, kind, baseline: b[kind], after: a[kind], ok: a[kind] === b[kind] });
    }
  }
  return out;
}

/** Whether every owned count of `now` equals the baseline's (clean-up is over). */
export function atBaseline(baseline: readonly AgentSample[], now: readonly AgentSample[]): boolean {
  return leaks(baseline, now).every((l) => l.ok) && baseline.every((b) => now.some((n) => n.node === b.node));
}

export interface ProbeTally {
  kind: string;
  family: string;
  sent: number;
  failed: number;
  /** The first few failures, for the report. */
  examples: string[];
}

/** Counts one probe's outcome into `tallies` (kept in first-seen order). */
export function tally(tallies: ProbeTally[], kind: string, family: string, ok: boolean, detail = ''): void {
  let t = tallies.find((x) => x.kind === kind && x.family === family);
  if (!t) tallies.push((t = { kind, family, sent: 0, failed: 0, examples: [] }));
  t.sent++;
  if (!ok) {
    t.failed++;
    if (t.examples.length < 5) t.examples.push(detail);
  }
}

export interface ChurnCount {
  kind: string;
  created: number;
  updated: number;
  deleted: number;
  errors: number;
}

/** One kind of object the soak churns: how to create (returns the name), update and delete one. */
export interface ChurnKind {
  name: string;
  max: number;
  create(i: number): Promise<string>;
  update(name: string, i: number): Promise<void>;
  remove(name: string): Promise<void>;
}

/** A pool of one kind's objects: filled to `max`, then an update and a delete in turn (the tick after a delete creates again). */
export class Pool {
  readonly live: string[] = [];
  readonly count: ChurnCount;
  private n = 0;
  private turn = 0;
  constructor(private readonly kind: ChurnKind, private readonly log: (s: string) => void = () => undefined) {
    this.count = { kind: kind.name, created: 0, updated: 0, deleted: 0, errors: 0 };
  }
  async tick(): Promise<void> {
    const i = this.n++;
    try {
      if (this.live.length < this.kind.max) {
        this.live.push(await this.kind.create(i));
        this.count.created++;
      } else if (this.turn++ % 2 === 0) {
        await this.kind.update(this.live[i % this.live.length]!, i);
        this.count.updated++;
      } else {
        const name = this.live.shift()!;
        await this.kind.remove(name);
        this.count.deleted++;
      }
    } catch (e) {
      this.count.errors++;
      if (this.count.errors <= 3) this.log(`${this.kind.name}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
}

export interface SoakReport {
  minutes: number;
  warmupMinutes: number;
  sampleSeconds: number;
  samples: Sample[];
  baseline: AgentSample[];
  after: AgentSample[];
  /** Seconds from the end of clean-up until the counts were back (undefined: they never were). */
  settledS?: number;
  probes: ProbeTally[];
  churn: ChurnCount[];
}

function table(header: string[], rows: string[][], numeric: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const num = (n: number, digits = 1) => (Number.isInteger(n) ? String(n) : n.toFixed(digits));

/** Restarts of each agent during the soak (the kubelet's count, last minus first). */
export function restarts(samples: readonly Sample[]): Array<{ node: string; restarts: number }> {
  const nodes = [...new Set(samples.flatMap((s) => s.agents.map((a) => a.node)))];
  return nodes.map((node) => {
    const rs = samples.flatMap((s) => s.agents.filter((a) => a.node === node).map((a) => a.restarts));
    return { node, restarts: rs.length ? rs[rs.length - 1]! - rs[0]! : 0 };
  });
}

/** The printed report: flatness, leaks, probes, churn done. */
export function formatReport(r: SoakReport): string {
  const out: string[] = [];
  const churnSamples = r.samples.filter((s) => s.phase === 'churn').length;
  out.push(`soak: ${num(r.minutes, 2)} min of churn, warm-up ${num(r.warmupMinutes, 2)} min, a sample every ${r.sampleSeconds} s (${churnSamples} during churn)`);
  out.push('');
  out.push(`agents, last sample / first sample after warm-up (flat: <= ${FLAT_LIMIT.toFixed(2)}x)`);
  const flat = flatness(r.samples, r.warmupMinutes * 60);
  out.push(
    table(
      ['node', 'metric', 'after warm-up', 'max', 'last', 'ratio', 'flat'],
      flat.map((f) => [f.node, f.metric === 'rss' ? 'RSS MB' : 'open fds', num(f.afterWarmup), num(f.max), num(f.last), `${f.ratio.toFixed(3)}x`, f.within ? 'yes' : 'NO']),
      new Set([2, 3, 4, 5]),
    ),
  );
  const rst = restarts(r.samples);
  if (rst.some((x) => x.restarts > 0)) out.push(`agent restarts during the soak: ${rst.map((x) => `${x.node} ${x.restarts}`).join(', ')}`);
  out.push('');
  out.push(`objects krouter owns, per node: before the churn vs after clean-up (${r.settledS === undefined ? 'NOT back to the baseline within the limit' : `back ${num(r.settledS)} s after clean-up`})`);
  const lk = leaks(r.baseline, r.after);
  out.push(table(['node', 'object', 'baseline', 'after', 'leak'], lk.map((l) => [l.node, OWNED_TITLE[l.kind], String(l.baseline), String(l.after), l.ok ? 'no' : `YES (${l.after - l.baseline > 0 ? '+' : ''}${l.after - l.baseline})`]), new Set([2, 3])));
  out.push('');
  out.push('probes (each answered or failed; no retries)');
  out.push(table(['probe', 'family', 'sent', 'failed'], r.probes.map((p) => [p.kind, p.family, String(p.sent), String(p.failed)]), new Set([2, 3])));
  for (const p of r.probes.filter((x) => x.failed)) for (const e of p.examples) out.push(`  ${p.kind} ${p.family}: ${e}`);
  out.push('');
  out.push('churn done (API operations)');
  out.push(table(['object', 'created', 'updated', 'deleted', 'errors'], r.churn.map((c) => [c.kind, String(c.created), String(c.updated), String(c.deleted), String(c.errors)]), new Set([1, 2, 3, 4])));
  return out.join('\n');
}

/** The bench's rows: per agent RSS and fds (raw: after warm-up), owned objects summed over nodes (raw: baseline), failed probes, restarts. */
export function soakRows(r: SoakReport): BenchRow[] {
  const rows: BenchRow[] = [];
  const flat = flatness(r.samples, r.warmupMinutes * 60);
  const m = num(r.minutes, 2);
  for (const f of flat) {
    rows.push({
      benchmark: `soak ${m} min: agent ${f.metric === 'rss' ? 'RSS' : 'open fds'}, ${f.node}, last (raw: after warm-up)`,
      krouter: f.last,
      raw: f.afterWarmup,
      unit: f.metric === 'rss' ? 'MB' : 'fds',
      target: `<= ${FLAT_LIMIT.toFixed(2)}x`,
    });
  }
  const lk = leaks(r.baseline, r.after);
  for (const kind of OWNED_KINDS) {
    const of = lk.filter((l) => l.kind === kind);
    if (!of.length) continue;
    rows.push({
      benchmark: `soak: ${OWNED_TITLE[kind]}, all nodes, after clean-up (raw: before the churn)`,
      krouter: of.reduce((s, l) => s + l.after, 0),
      raw: of.reduce((s, l) => s + l.baseline, 0),
      unit: 'objects',
      target: '= 1.00x',
    });
  }
  const sent = r.probes.reduce((s, p) => s + p.sent, 0);
  const failed = r.probes.reduce((s, p) => s + p.failed, 0);
  rows.push({ benchmark: 'soak: probes failed (raw: probes sent)', krouter: failed, raw: sent, unit: 'probes', target: '0 failed' });
  rows.push({ benchmark: 'soak: agent restarts, all nodes (raw: agents)', krouter: restarts(r.samples).reduce((s, x) => s + x.restarts, 0), raw: r.baseline.length, unit: 'restarts', target: '0' });
  return rows;
}

/** Pure: the soak's length and cadence from the environment (minutes may be fractional). */
export function soakSettings(env: NodeJS.ProcessEnv): { minutes: number; warmupMinutes: number; sampleSeconds: number; tickSeconds: number } {
  const pos = (name: string, fallback: number): number => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}=${v}: want a positive number`);
    return n;
  };
  const minutes = pos('KROUTER_SOAK_MINUTES', 10);
  // Two minutes of a 10-minute soak; a fifth of a shorter one.
  const warmupMinutes = pos('KROUTER_SOAK_WARMUP_MINUTES', Math.min(2, minutes / 5));
  if (warmupMinutes >= minutes) throw new Error(`KROUTER_SOAK_WARMUP_MINUTES=${warmupMinutes} must be shorter than the soak (${minutes} min)`);
  return { minutes, warmupMinutes, sampleSeconds: pos('KROUTER_SOAK_SAMPLE_SECONDS', 10), tickSeconds: pos('KROUTER_SOAK_TICK_SECONDS', 3) };
}

/** The plot's panels: RSS and open fds per agent (dashed: 1.10x the value after warm-up), the owned objects summed over nodes. x in minutes. */
export function soakPanels(r: SoakReport): Panel[] {
  const nodes = r.baseline.map((a) => a.node);
  const series = (label: string, color: Rgb, pick: (s: Sample) => number | undefined, dashed = false): Series => ({
    label,
    color,
    dashed,
    points: r.samples.flatMap((s) => {
      const v = pick(s);
      return v === undefined || !Number.isFinite(v) ? [] : [[s.t / 60, v] as const];
    }),
  });
  const agent = (s: Sample, node: string) => s.agents.find((a) => a.node === node);
  const flat = flatness(r.samples, r.warmupMinutes * 60);
  const limitLine = (node: string, metric: 'rss' | 'fds', color: Rgb): Series[] => {
    const f = flat.find((x) => x.node === node && x.metric === metric);
    if (!f) return [];
    const x0 = r.warmupMinutes;
    const x1 = Math.max(x0, ...r.samples.filter((s) => s.phase === 'churn').map((s) => s.t / 60));
    return [{ label: '', color, dashed: true, points: [[x0, f.afterWarmup * FLAT_LIMIT], [x1, f.afterWarmup * FLAT_LIMIT]] }];
  };
  const perAgent = (metric: 'rss' | 'fds'): Series[] =>
    nodes.flatMap((node, i) => [
      series(node, PALETTE[i % PALETTE.length]!, (s) => {
        const a = agent(s, node);
        return a && (metric === 'rss' ? a.rssKb / 1024 : a.fds);
      }),
      ...limitLine(node, metric, PALETTE[i % PALETTE.length]!),
    ]);
  const sum = (s: Sample, k: keyof OwnedCounts) => s.agents.reduce((n, a) => n + a[k], 0);
  return [
    { title: 'agent RSS, MB (dashed: 1.10x after warm-up)', series: perAgent('rss') },
    { title: 'agent open file descriptors (dashed: 1.10x after warm-up)', series: perAgent('fds') },
    {
      title: 'owned by krouter, all nodes',
      series: (['chains', 'sets', 'routes', 'peers'] as const).map((k, i) => series(OWNED_TITLE[k], PALETTE[(i + 3) % PALETTE.length]!, (s) => sum(s, k))),
    },
    { title: 'nft set and map elements, all nodes', series: [series('elements', PALETTE[4]!, (s) => sum(s, 'elements'))] },
  ];
}

/** Vertical markers of the plot: the warm-up's end and the churn's end (minutes). */
export function soakMarkers(r: SoakReport): Marker[] {
  const churnEnd = Math.max(0, ...r.samples.filter((s) => s.phase === 'churn').map((s) => s.t / 60));
  return [
    { x: r.warmupMinutes, label: 'warm-up over' },
    { x: churnEnd, label: 'churn over' },
  ];
}
