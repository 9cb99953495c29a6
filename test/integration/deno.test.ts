/**
 * The same bundle the executable is made of, dist/krouter.cjs, under Deno 2
 * (`deno run -A`): starts, loads the external example plugin, and talks to
 * its gobgpd over gRPC on a unix socket.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureBundle, ensureExamplePlugin } from '../../build/pipeline.ts';
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
} from '../helpers/krouter-process.ts';

/** Deno with no prompts, no update check and its cache kept out of $HOME. */
const denoEnv = (dir: string) => ({ DENO_NO_UPDATE_CHECK: '1', DENO_NO_PROMPT: '1', DENO_DIR: path.join(dir, 'deno-cache') });

describe('the bundle under Deno (deno run -A dist/krouter.cjs)', function () {
  let dir: string;
  let plugin: string;

  before(async function () {
    this.timeout(300_000);
    requireRoot();
    await ensureBundle();
    plugin = ensureExamplePlugin();
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krouter-deno-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prints its version', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        paths.deno,
        ['run', '-A', paths.bundle, 'version'],
        { encoding: 'utf8', env: { ...process.env, ...denoEnv(dir) } },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    assert.match(out, /\d+\.\d+\.\d+/);
  });

  it('runs the example plugin against gobgpd in a network namespace and stops cleanly', async function () {
    const ns = createNetns('deno');
    const config = exampleAgentConfig({ dir, pluginPath: plugin, startBgp: true });
    const socket = path.join(dir, 'gobgp.sock');
    const agent = await startAgent('ip', ['netns', 'exec', ns, paths.deno, 'run', '-A', paths.bundle, 'run', '--config', config], {
      env: denoEnv(dir),
    });

    await waitForStatus(`${agent.healthUrl}/healthz`, { netns: ns });
    await waitForMetrics(agent.metricsUrl, (t) => metricValue(t, 'krouter_bgp_metrics_bgp_running') === 1, { netns: ns });
    const gobgpd = descendants(agent.pid).filter((p) => p.comm === 'gobgpd');
    assert.equal(gobgpd.length, 1, `one gobgpd child; children: ${JSON.stringify(descendants(agent.pid))}`);

    // A value only gobgpd can give: a path added with its own CLI, read back over gRPC by the plugin.
    execFileSync('ip', ['netns', 'exec', ns, 'gobgp', '--target', `unix://${socket}`, 'global', 'rib', '-a', 'ipv6', 'add', 'fd00:200::/64', 'nexthop', 'fd00::1']);
    await waitForMetrics(agent.metricsUrl, (t) => metricValue(t, 'krouter_bgp_metrics_rib_routes', { family: 'ipv6' }) === 1, {
      netns: ns,
    });

    agent.child.kill('SIGTERM');
    const exit = await agent.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, agent.output());
    for (const p of gobgpd) assert.equal(isAlive(p.pid), false, `gobgpd ${p.pid} still running after the agent exited`);
  });
});
