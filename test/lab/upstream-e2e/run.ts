/**
 * Runs upstream's e2e.test (built by test/lab/k8s/e2e/build.sh) against the
 * lab that is up, through the ginkgo command so that specs run in parallel
 * processes as upstream's CI runs them ([Serial] specs alone at the end):
 * the lab's admin kubeconfig, its kubectl, the `local` provider (no cloud),
 * the chosen specs minus the lab's skips. The full output goes to a log
 * file; the outcome comes from ginkgo's JSON report.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { statePaths } from '../config.ts';
import type { LabState } from '../state.ts';
import { runPlan, type SpecSetName } from './plan.ts';
import { summarize, type Summary } from './report.ts';

const BUILD_SCRIPT = path.resolve(import.meta.dirname, '..', 'k8s', 'e2e', 'build.sh');

export interface UpstreamE2eOptions {
  focus?: string;
  sets?: readonly SpecSetName[];
  /** Where the report and the log go (default: the lab's log folder). */
  reportDir?: string;
  /** Parallel ginkgo processes (default DEFAULT_PROCS). */
  procs?: number;
  /** Ginkgo ends the suite after this many minutes, reporting what ran (default 240). */
  timeoutMinutes?: number;
  log: (line: string) => void;
  /** Where ginkgo's own output goes besides the log file (default: nowhere). */
  echo?: (chunk: string) => void;
}

export interface UpstreamE2eResult {
  summary: Summary;
  logFile: string;
  reportFile: string;
  exitCode: number | null;
}

/**
 * Specs run in this many processes at once. Upstream's network specs spend
 * most of their time waiting (for pods, for probes to time out), so more
 * processes than the machine's 2 cores still shorten a run.
 */
export const DEFAULT_PROCS = 4;

/** Builds e2e.test and ginkgo when the cache lacks them; returns their folder. */
export function ensureE2eBinaries(log: (line: string) => void): string {
  const r = spawnSync('bash', [BUILD_SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  for (const line of (r.stderr ?? '').split('\n').filter(Boolean)) log(line);
  if (r.status !== 0) throw new Error(`building e2e.test failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return r.stdout.trim();
}

/** The command line (after the ginkgo command) that runs e2e.test against this lab. */
export function ginkgoArgs(
  state: Pick<LabState, 'spec' | 'k8sBinDir'>,
  plan: { focus: string; skip: string },
  run: { reportDir: string; binDir: string; procs: number; timeoutMinutes: number },
): string[] {
  const { reportDir, binDir, procs } = run;
  const kubectl = state.k8sBinDir ? path.join(state.k8sBinDir, 'kubectl') : 'kubectl';
  return [
    `--procs=${procs}`,
    `--focus=${plan.focus}`,
    ...(plan.skip ? [`--skip=${plan.skip}`] : []),
    `--json-report=${path.join(reportDir, 'report.json')}`,
    '--no-color',
    '--silence-skips',
    `--timeout=${run.timeoutMinutes}m`,
    path.join(binDir, 'e2e.test'),
    '--',
    '--provider=local',
    `--kubeconfig=${statePaths.kubeconfig(state.spec.stateDir)}`,
    `--kubectl-path=${kubectl}`,
    `--num-nodes=${state.spec.nodes.length}`,
    `--report-dir=${reportDir}`,
    '--dump-logs-on-failure=false',
  ];
}

export async function runUpstreamE2e(state: LabState, opts: UpstreamE2eOptions): Promise<UpstreamE2eResult> {
  const plan = runPlan(state.spec.family, opts);
  const binDir = ensureE2eBinaries(opts.log);
  const procs = opts.procs ?? DEFAULT_PROCS;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const reportDir = opts.reportDir ?? path.join(statePaths.logs(state.spec.stateDir), `upstream-e2e-${stamp}`);
  mkdirSync(reportDir, { recursive: true });
  const logFile = path.join(reportDir, 'e2e.log');
  const reportFile = path.join(reportDir, 'report.json');
  opts.log(`upstream-e2e: ${state.spec.family} lab, focus ${plan.focus}`);
  opts.log(`upstream-e2e: ${plan.skips.length} lab skips, ${procs} parallel processes; output in ${logFile}`);
  const out = createWriteStream(logFile);
  // A process group of its own: ginkgo and its e2e.test processes are stopped together.
  const child = spawn(path.join(binDir, 'ginkgo'), ginkgoArgs(state, plan, { reportDir, binDir, procs, timeoutMinutes: opts.timeoutMinutes ?? 240 }), {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KUBECONFIG: statePaths.kubeconfig(state.spec.stateDir) },
  });
  const forward = (chunk: Buffer) => {
    out.write(chunk);
    opts.echo?.(chunk.toString('utf8'));
  };
  child.stdout.on('data', forward);
  child.stderr.on('data', (chunk: Buffer) => out.write(chunk));
  // Interrupted once: the specs run their cleanup (ginkgo on SIGINT), which
  // may take minutes; twice: everything stops at once.
  let interrupts = 0;
  const stop = () => {
    const signal = ++interrupts === 1 ? 'SIGINT' : 'SIGKILL';
    opts.log(`upstream-e2e: interrupted, sending ${signal} to the suite${signal === 'SIGINT' ? ' (again to stop at once)' : ''}`);
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  process.on('SIGINT', stop);
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  process.off('SIGINT', stop);
  await new Promise<void>((r) => out.end(() => r()));
  let report: string;
  try {
    report = readFileSync(reportFile, 'utf8');
  } catch {
    throw new Error(`e2e.test wrote no report (exit ${exitCode}); see ${logFile}`);
  }
  return { summary: summarize(report, plan.focus, plan.skips), logFile, reportFile, exitCode };
}
