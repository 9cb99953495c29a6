/**
 * `npm run bench [name ...]`: runs every test/bench/*.bench.ts (or only the
 * named ones, e.g. `npm run bench startup`) and prints one table. Each bench
 * measures krouter and the raw tool doing the same work in the same run; the
 * ratio krouter/raw is what to compare across machines.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stopAllTestProcesses } from '../helpers/processes.ts';
import { deleteAllTestNetns } from '../helpers/netns.ts';

export interface BenchRow {
  benchmark: string;
  krouter: number;
  raw: number;
  unit: string;
  target?: string;
}

export type Bench = () => Promise<BenchRow[]>;

const benchDir = path.dirname(fileURLToPath(import.meta.url));

/** Bench files in this folder, optionally only those whose name is given. */
export function selectBenches(names: readonly string[]): string[] {
  const all = fs
    .readdirSync(benchDir)
    .filter((f) => f.endsWith('.bench.ts'))
    .sort();
  if (names.length === 0) return all;
  const unknown = names.filter((n) => !all.includes(`${n.replace(/\.bench\.ts$/, '')}.bench.ts`));
  if (unknown.length) {
    throw new Error(`unknown benchmark ${unknown.join(', ')}; have: ${all.map((f) => f.replace(/\.bench\.ts$/, '')).join(', ')}`);
  }
  return all.filter((f) => names.some((n) => `${n.replace(/\.bench\.ts$/, '')}.bench.ts` === f));
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  return abs >= 100 ? n.toFixed(0) : abs >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/** Pure: rows -> an aligned text table with the ratio column. */
export function formatTable(rows: readonly BenchRow[]): string {
  const header = ['benchmark', 'krouter', 'raw', 'unit', 'ratio', 'target'];
  const body = rows.map((r) => [
    r.benchmark,
    fmt(r.krouter),
    fmt(r.raw),
    r.unit,
    r.raw > 0 ? `${(r.krouter / r.raw).toFixed(2)}x` : '-',
    r.target ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const numeric = new Set([1, 2, 4]);
  const line = (cells: string[]) =>
    cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const files = selectBenches(process.argv.slice(2));
  const rows: BenchRow[] = [];
  let failed = 0;
  for (const file of files) {
    process.stderr.write(`running ${file} ...\n`);
    try {
      const mod = (await import(pathToFileURL(path.join(benchDir, file)).href)) as { default?: Bench };
      if (typeof mod.default !== 'function') throw new Error('has no default-exported bench function');
      rows.push(...(await mod.default()));
    } catch (err) {
      failed++;
      process.stderr.write(`${file} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    } finally {
      // Benches share the test helpers: nothing they started may outlive them.
      await stopAllTestProcesses();
      deleteAllTestNetns();
    }
  }
  process.stdout.write(`${formatTable(rows)}\n`);
  if (failed) {
    process.stderr.write(`${failed} benchmark file(s) failed\n`);
    process.exitCode = 1;
  }
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  main().then(
    () => process.exit(),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
