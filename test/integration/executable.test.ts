/**
 * The single executable dist/krouter: CLI basics, and a real run inside a
 * network namespace with the example third-party plugin and its gobgpd.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { ensureExecutable } from '../../build/pipeline.ts';
import { paths } from '../../build/paths.ts';
import { assertStopsCleanly, exampleAgentSuite, startExampleAgentWithBgp } from '../helpers/example-agent.ts';
import { metricValue, waitForMetrics, writeConfig } from '../helpers/krouter-process.ts';

function runExe(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(paths.executable, args, { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

describe('single executable (dist/krouter)', function () {
  const suite = exampleAgentSuite({ build: ensureExecutable, buildTimeoutMs: 600_000, tmpPrefix: 'krouter-exe-' });

  it('is an ELF binary that prints its version', async () => {
    const head = fs.readFileSync(paths.executable).subarray(0, 4);
    assert.deepEqual([...head], [0x7f, 0x45, 0x4c, 0x46]);
    const r = await runExe(['version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\d+\.\d+\.\d+/);
    assert.doesNotMatch(r.stderr, /ExperimentalWarning|single executable/i, 'no SEA warning on stderr');
  });

  it('validate-config exits 2 and names the bad key', async () => {
    const config = writeConfig({ health: { port: 70000 }, metrics: { port: 0 } }, suite.dir);
    const r = await runExe(['validate-config', '--config', config]);
    assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr + r.stdout, /health\.port/);
  });

  it('validate-config exits 2 naming an unknown key', async () => {
    const config = writeConfig({ metrics: { port: 0, bogusKey: 1 } }, suite.dir);
    const r = await runExe(['validate-config', '--config', config]);
    assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr + r.stdout, /bogusKey/);
  });

  it('runs the example plugin in a network namespace: healthz, BGP metrics from gobgpd, clean SIGTERM', async function () {
    const run = await startExampleAgentWithBgp({ tag: 'exe', dir: suite.dir, pluginPath: suite.plugin, agentArgv: [paths.executable] });
    const { agent, gobgp } = run;

    // Paths only gobgpd knows about: added with gobgp's own CLI, counted by the plugin per family.
    gobgp('global', 'rib', '-a', 'ipv4', 'add', '198.18.100.0/24', 'nexthop', '198.18.0.1');
    gobgp('global', 'rib', '-a', 'ipv4', 'add', '198.18.101.0/24', 'nexthop', '198.18.0.1');
    gobgp('global', 'rib', '-a', 'ipv6', 'add', 'fd00:100::/64', 'nexthop', 'fd00::1');
    const text = await waitForMetrics(
      agent.metricsUrl,
      (t) =>
        metricValue(t, 'krouter_bgp_metrics_rib_routes', { family: 'ipv4' }) === 2 &&
        metricValue(t, 'krouter_bgp_metrics_rib_routes', { family: 'ipv6' }) === 1,
      { netns: run.ns },
    );
    assert.ok(text.includes('krouter_sync_duration_seconds'), 'the reconciler reports its sync durations');
    assert.ok(
      agent.lines.some((l) => l.includes('"plugin":"bgp-metrics"') && l.includes('exporting BGP metrics')),
      `plugin log line missing:\n${agent.output()}`,
    );

    await assertStopsCleanly(run);
  });
});
