/**
 * Tests of a built agent (the executable, the bundle under Deno) running the
 * example plugin sdk/examples/bgp-metrics: the suite's build and temp dirs,
 * and a run of the plugin with its own gobgpd inside a network namespace.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureExamplePlugin } from '../../build/pipeline.ts';
import { trustedCopy } from './trusted-dir.ts';
import { descendants, exampleAgentConfig, isAlive, metricValue, startAgent, waitForMetrics, waitForStatus, type AgentProcess } from './krouter-process.ts';
import { createNetns, requireRoot } from './netns.ts';

/** What the suite's hooks provide: set in `before` (plugin) and `beforeEach` (dir). */
export interface ExampleAgentSuite {
  /** The built example plugin. */
  plugin: string;
  /** A fresh temp dir per test, removed after it. */
  dir: string;
}

/**
 * Registers the suite's hooks: `before` (root required) runs `build` (the
 * agent artifact under test) and builds the example plugin, within
 * `buildTimeoutMs`; every test gets its own temp dir named `tmpPrefix…`.
 */
export function exampleAgentSuite(opts: { build: () => Promise<unknown>; buildTimeoutMs: number; tmpPrefix: string }): ExampleAgentSuite {
  const suite = {} as ExampleAgentSuite;
  before(async function () {
    this.timeout(opts.buildTimeoutMs);
    requireRoot();
    await opts.build();
    // Copied where the external plugin path rules allow loading it (a checkout may sit under /tmp).
    suite.plugin = trustedCopy(ensureExamplePlugin());
  });
  beforeEach(() => {
    suite.dir = fs.mkdtempSync(path.join(os.tmpdir(), opts.tmpPrefix));
  });
  afterEach(() => fs.rmSync(suite.dir, { recursive: true, force: true }));
  return suite;
}

export interface ExampleAgentWithBgp {
  ns: string;
  agent: AgentProcess;
  /** The agent's gobgpd child (exactly one). */
  gobgpd: Array<{ pid: number; comm: string }>;
  /** gobgp's CLI against that gobgpd, inside the namespace. */
  gobgp(...args: string[]): Buffer;
}

/**
 * Starts `agentArgv run --config FILE` with the example plugin running its
 * own BGP, in a fresh network namespace tagged `tag` (files in `dir`);
 * resolves once healthz answers and the plugin reports BGP running, after
 * checking the agent has exactly one gobgpd child.
 */
export async function startExampleAgentWithBgp(opts: {
  tag: string;
  dir: string;
  pluginPath: string;
  agentArgv: string[];
  env?: Record<string, string>;
}): Promise<ExampleAgentWithBgp> {
  const ns = createNetns(opts.tag);
  const config = exampleAgentConfig({ dir: opts.dir, pluginPath: opts.pluginPath, startBgp: true });
  const socket = path.join(opts.dir, 'gobgp.sock');
  const agent = await startAgent('ip', ['netns', 'exec', ns, ...opts.agentArgv, 'run', '--config', config], { env: opts.env });

  await waitForStatus(`${agent.healthUrl}/healthz`, { netns: ns });
  // BGP runs: the plugin reports it once gobgpd is up.
  await waitForMetrics(agent.metricsUrl, (t) => metricValue(t, 'krouter_bgp_metrics_bgp_running') === 1, { netns: ns });
  const gobgpd = descendants(agent.pid).filter((p) => p.comm === 'gobgpd');
  assert.equal(gobgpd.length, 1, `one gobgpd child; children: ${JSON.stringify(descendants(agent.pid))}`);
  const gobgp = (...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, 'gobgp', '--target', `unix://${socket}`, ...args]);
  return { ns, agent, gobgpd, gobgp };
}

/** SIGTERM: the agent exits with code 0 and its gobgpd is gone with it. */
export async function assertStopsCleanly({ agent, gobgpd }: ExampleAgentWithBgp): Promise<void> {
  agent.child.kill('SIGTERM');
  const exit = await agent.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, agent.output());
  for (const p of gobgpd) assert.equal(isAlive(p.pid), false, `gobgpd ${p.pid} still running after the agent exited`);
}
