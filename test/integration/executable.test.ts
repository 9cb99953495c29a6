/**
 * The single executable dist/krouter: CLI basics, and a real run inside a
 * network namespace with the example third-party plugin and its gobgpd.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureExamplePlugin, ensureExecutable } from '../../build/pipeline.ts';
import { paths } from '../../build/paths.ts';
import { createNetns, requireRoot } from '../helpers/netns.ts';
import {
  descendants,
  exampleAgentConfig,
  isAlive,
  metricValue,
  startAgent,
  waitForMetrics,
  waitForStatus,
  writeConfig,
} from '../helpers/krouter-process.ts';

function runExe(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(paths.executable, args, { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

describe('single executable (dist/krouter)', function () {
  let dir: string;
  let plugin: string;

  before(async function () {
    this.timeout(600_000);
    requireRoot();
    await ensureExecutable();
    plugin = ensureExamplePlugin();
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krouter-exe-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is an ELF binary that prints its version', async () => {
    const head = fs.readFileSync(paths.executable).subarray(0, 4);
    assert.deepEqual([...head], [0x7f, 0x45, 0x4c, 0x46]);
    const r = await runExe(['version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\d+\.\d+\.\d+/);
    assert.doesNotMatch(r.stderr, /ExperimentalWarning|single executable/i, 'no SEA warning on stderr');
  });

  it('validate-config exits 2 and names the bad key', async () => {
    const config = writeConfig({ health: { port: 70000 }, metrics: { port: 0 } }, dir);
    const r = await runExe(['validate-config', '--config', config]);
    assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr + r.stdout, /health\.port/);
  });

  it('validate-config exits 2 naming an unknown key', async () => {
    const config = writeConfig({ metrics: { port: 0, bogusKey: 1 } }, dir);
    const r = await runExe(['validate-config', '--config', config]);
    assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr + r.stdout, /bogusKey/);
  });

  it('runs the example plugin in a network namespace: healthz, BGP metrics from gobgpd, clean SIGTERM', async function () {
    const ns = createNetns('exe');
    const config = exampleAgentConfig({ dir, pluginPath: plugin, startBgp: true });
    const socket = path.join(dir, 'gobgp.sock');
    const agent = await startAgent('ip', ['netns', 'exec', ns, paths.executable, 'run', '--config', config]);

    await waitForStatus(`${agent.healthUrl}/healthz`, { netns: ns });
    // BGP runs: the plugin reports it once gobgpd is up.
    await waitForMetrics(agent.metricsUrl, (t) => metricValue(t, 'krouter_bgp_metrics_bgp_running') === 1, { netns: ns });
    const gobgpd = descendants(agent.pid).filter((p) => p.comm === 'gobgpd');
    assert.equal(gobgpd.length, 1, `one gobgpd child; children: ${JSON.stringify(descendants(agent.pid))}`);

    // Paths only gobgpd knows about: added with gobgp's own CLI, counted by the plugin per family.
    const gobgp = (...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, 'gobgp', '--target', `unix://${socket}`, ...args]);
    gobgp('global', 'rib', '-a', 'ipv4', 'add', '198.18.100.0/24', 'nexthop', '198.18.0.1');
    gobgp('global', 'rib', '-a', 'ipv4', 'add', '198.18.101.0/24', 'nexthop', '198.18.0.1');
    gobgp('global', 'rib', '-a', 'ipv6', 'add', 'fd00:100::/64', 'nexthop', 'fd00::1');
    const text = await waitForMetrics(
      agent.metricsUrl,
      (t) =>
        metricValue(t, 'krouter_bgp_metrics_rib_routes', { family: 'ipv4' }) === 2 &&
        metricValue(t, 'krouter_bgp_metrics_rib_routes', { family: 'ipv6' }) === 1,
      { netns: ns },
    );
    assert.ok(text.includes('krouter_sync_duration_seconds'), 'the reconciler reports its sync durations');
    assert.ok(
      agent.lines.some((l) => l.includes('"plugin":"bgp-metrics"') && l.includes('exporting BGP metrics')),
      `plugin log line missing:\n${agent.output()}`,
    );

    agent.child.kill('SIGTERM');
    const exit = await agent.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, agent.output());
    for (const p of gobgpd) assert.equal(isAlive(p.pid), false, `gobgpd ${p.pid} still running after the agent exited`);
  });
});
