/**
 * Driving a lab from tests: one lab per suite (up before, down after), the
 * lab CLI against one state directory (sync and async), a bounded wait, and
 * the lab's Nodes as the router sees them (pod CIDRs and underlay addresses
 * per family).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tryFamilyOf } from '../../sdk/src/families.ts';
import { requireRoot } from '../helpers/netns.ts';
import { listNodes } from './api.ts';
import { families, loadLabState, type Family, type FamilyMap, type LabSpec } from './config.ts';
import { runDemoWorkloads } from './demo.ts';

const execFileP = promisify(execFile);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(REPO, 'test', 'lab', 'cli.ts');

function cliArgv(args: string[]): string[] {
  return ['--import', 'tsx', CLI, ...args];
}

/** Runs `npm run lab -- ARGS` against `stateDir`; returns stdout, throws with stdout+stderr on a non-zero exit. */
export function labCli(stateDir: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
  try {
    return execFileSync(process.execPath, cliArgv(args), {
      cwd: REPO,
      env: { ...process.env, KROUTER_LAB_DIR: stateDir },
      encoding: 'utf8',
      input: opts.input,
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
      timeout: opts.timeoutMs ?? 300_000,
    });
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string; message: string };
    throw new Error(`lab ${args.join(' ')}: exit ${err.status ?? '?'}\n--- stdout\n${err.stdout ?? ''}\n--- stderr\n${err.stderr ?? err.message}`);
  }
}

/** labCli without blocking the event loop (for commands that run while the test keeps probing). */
export async function labCliAsync(stateDir: string, args: string[], timeoutMs = 300_000): Promise<string> {
  try {
    const r = await execFileP(process.execPath, cliArgv(args), {
      cwd: REPO,
      env: { ...process.env, KROUTER_LAB_DIR: stateDir },
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      timeout: timeoutMs,
    });
    return r.stdout;
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string; message: string };
    throw new Error(`lab ${args.join(' ')}: exit ${err.code ?? '?'}\n--- stdout\n${err.stdout ?? ''}\n--- stderr\n${err.stderr ?? err.message}`);
  }
}

/**
 * Polls `fn` until it returns something other than undefined. `limitMs` bounds
 * waiting for a broken lab; it is not a performance assertion.
 */
export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, limitMs = 60_000, intervalMs = 200): Promise<T> {
  const end = Date.now() + limitMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface LabNodeInfo {
  name: string;
  podCidrs: FamilyMap<string>;
  addresses: FamilyMap<string>;
}

/** The lab's Nodes from the API: pod CIDR and InternalIP per family. */
export async function labNodes(spec: LabSpec): Promise<LabNodeInfo[]> {
  const nodes = await listNodes(spec);
  return nodes
    .map((n) => {
      const podCidrs: FamilyMap<string> = {};
      for (const c of n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : [])) {
        const f = tryFamilyOf(c.split('/')[0]!) as Family | undefined;
        if (f) podCidrs[f] = c;
      }
      const addresses: FamilyMap<string> = {};
      for (const a of n.status?.addresses ?? []) {
        const f = a.type === 'InternalIP' ? (tryFamilyOf(a.address) as Family | undefined) : undefined;
        if (f && !addresses[f]) addresses[f] = a.address;
      }
      return { name: n.metadata.name, podCidrs, addresses };
    })
    .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

/**
 * Runs `fn` against a lab of its own (benchmarks): `lab up UP_ARGS` in a
 * fresh state directory, then `lab down` and the directory's removal, also
 * when `up` or `fn` failed.
 */
export async function withLab<T>(dirPrefix: string, upArgs: string[], fn: (stateDir: string, upOutput: string) => Promise<T>): Promise<T> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), dirPrefix));
  try {
    return await fn(stateDir, labCli(stateDir, ['up', ...upArgs]));
  } finally {
    try {
      labCli(stateDir, ['down']);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  }
}

/** The lab of one suite; the fields are set once the suite's `before` hook has brought it up. */
export interface SuiteLab {
  stateDir: string;
  spec: LabSpec;
  fams: Family[];
  /** The lab's Nodes; read only with `demoWorkloads` (after the workloads run), else empty. */
  nodes: LabNodeInfo[];
}

/**
 * Gives the enclosing mocha suite its own lab: `before` (root required)
 * runs `lab up UP_ARGS` in a fresh state directory under the temp dir whose
 * name starts with `dirPrefix`, then with `demoWorkloads` starts the demo
 * workloads and reads the Nodes; `after` runs `lab down` and removes the
 * state directory, also when `up` or a test failed. Register it before the
 * suite's own hooks so those see a running lab.
 */
export function labForSuite(dirPrefix: string, upArgs: string[], opts: { demoWorkloads?: boolean } = {}): SuiteLab {
  const lab = { nodes: [] as LabNodeInfo[] } as SuiteLab;
  let stateDir: string | undefined;
  // The suite's wall time and its lab's share, printed at its end: where the e2e tier's time goes.
  let startedAt = 0;
  let upSeconds = 0;

  before(async function () {
    requireRoot();
    startedAt = performance.now();
    stateDir = mkdtempSync(path.join(os.tmpdir(), dirPrefix));
    lab.stateDir = stateDir;
    labCli(stateDir, ['up', ...upArgs]);
    upSeconds = (performance.now() - startedAt) / 1000;
    const state = loadLabState(stateDir)!;
    lab.spec = state.spec;
    lab.fams = families(state.spec);
    if (opts.demoWorkloads) {
      await runDemoWorkloads(state, () => undefined);
      lab.nodes = await labNodes(state.spec);
    }
  });

  after(function () {
    if (!stateDir) return;
    const downFrom = performance.now();
    try {
      labCli(stateDir, ['down']);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
      const s = (t: number) => t.toFixed(1);
      console.log(`    (suite ${s((performance.now() - startedAt) / 1000)} s: lab up ${s(upSeconds)} s, down ${s((performance.now() - downFrom) / 1000)} s)`);
    }
  });

  return lab;
}
