/**
 * Start-up cost of the agent with no plugins: spawn -> /healthz 200, against
 * spawn -> exit of the same Node binary running nothing; and the agent's
 * idle RSS against an idle Node process, per runtime (the single executable
 * and `node dist/krouter.cjs`).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureExecutable } from '../../build/pipeline.ts';
import { paths } from '../../build/paths.ts';
import { rssKb, startAgent, waitForStatus, writeConfig } from '../helpers/krouter-process.ts';
import { startProcess, stopProcess } from '../helpers/processes.ts';
import type { BenchRow } from './run.ts';

const RUNS = 5;
/** Let lazy start-up work (GC, timers, JIT) settle before reading RSS. */
const SETTLE_MS = 2000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How the agent is run: the single executable, or the bundle on the same Node binary. */
const RUNTIMES = [
  { name: 'executable', command: paths.executable, args: [] as string[] },
  { name: 'node dist/krouter.cjs', command: paths.nodeBinary, args: [paths.bundle] },
];

async function agentRun(config: string, runtime: (typeof RUNTIMES)[number]): Promise<{ ms: number; rssKb: number }> {
  const t0 = performance.now();
  const agent = await startAgent(runtime.command, [...runtime.args, 'run', '--config', config]);
  await waitForStatus(`${agent.healthUrl}/healthz`, { intervalMs: 2 });
  const ms = performance.now() - t0;
  await sleep(SETTLE_MS);
  const rss = rssKb(agent.pid);
  await stopProcess(agent.child);
  return { ms, rssKb: rss };
}

async function nodeRun(): Promise<{ ms: number; rssKb: number }> {
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const c = spawn(paths.nodeBinary, ['-e', '0'], { stdio: 'ignore' });
    c.once('error', reject);
    c.once('exit', () => resolve());
  });
  const ms = performance.now() - t0;
  const idle = startProcess(paths.nodeBinary, ['-e', 'setTimeout(()=>{},1e9)']);
  await sleep(SETTLE_MS);
  const rss = rssKb(idle.pid!);
  await stopProcess(idle);
  return { ms, rssKb: rss };
}

export default async function startupBench(): Promise<BenchRow[]> {
  await ensureExecutable();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krouter-bench-startup-'));
  try {
    const config = writeConfig(
      {
        nodeName: 'bench-node',
        families: 'dual',
        metrics: { address: '127.0.0.1', port: 0 },
        health: { address: '127.0.0.1', port: 0 },
        gobgp: { socket: path.join(dir, 'gobgp.sock') },
      },
      dir,
    );
    const agent: Array<Array<{ ms: number; rssKb: number }>> = RUNTIMES.map(() => []);
    const raw: Array<{ ms: number; rssKb: number }> = [];
    // Interleaved, so all see the same machine load.
    for (let i = 0; i < RUNS; i++) {
      for (const [j, runtime] of RUNTIMES.entries()) agent[j]!.push(await agentRun(config, runtime));
      raw.push(await nodeRun());
    }
    return RUNTIMES.flatMap((runtime, j) => [
      {
        benchmark: `startup, ${runtime.name}: spawn -> /healthz 200 (raw: node -e 0)`,
        krouter: median(agent[j]!.map((r) => r.ms)),
        raw: median(raw.map((r) => r.ms)),
        unit: 'ms',
        target: '<= 400 ms',
      },
      {
        benchmark: `idle RSS after start, ${runtime.name}, no plugins (raw: idle node)`,
        krouter: median(agent[j]!.map((r) => r.rssKb)) / 1024,
        raw: median(raw.map((r) => r.rssKb)) / 1024,
        unit: 'MB',
        target: '<= 60 MB',
      },
    ]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
