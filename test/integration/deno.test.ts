/**
 * The same bundle the executable is made of, dist/krouter.cjs, under Deno 2
 * (`deno run -A`): starts, loads the external example plugin, and talks to
 * its gobgpd over gRPC on a unix socket.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { ensureBundle } from '../../build/pipeline.ts';
import { paths } from '../../build/paths.ts';
import { assertStopsCleanly, exampleAgentSuite, startExampleAgentWithBgp } from '../helpers/example-agent.ts';
import { metricValue, waitForMetrics } from '../helpers/krouter-process.ts';

/** Deno with no prompts, no update check and its cache kept out of $HOME. */
const denoEnv = (dir: string) => ({ DENO_NO_UPDATE_CHECK: '1', DENO_NO_PROMPT: '1', DENO_DIR: path.join(dir, 'deno-cache') });

describe('the bundle under Deno (deno run -A dist/krouter.cjs)', function () {
  const suite = exampleAgentSuite({ build: ensureBundle, buildTimeoutMs: 300_000, tmpPrefix: 'krouter-deno-' });

  it('prints its version', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        paths.deno,
        ['run', '-A', paths.bundle, 'version'],
        { encoding: 'utf8', env: { ...process.env, ...denoEnv(suite.dir) } },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    assert.match(out, /\d+\.\d+\.\d+/);
  });

  it('runs the example plugin against gobgpd in a network namespace and stops cleanly', async function () {
    const run = await startExampleAgentWithBgp({
      tag: 'deno',
      dir: suite.dir,
      pluginPath: suite.plugin,
      agentArgv: [paths.deno, 'run', '-A', paths.bundle],
      env: denoEnv(suite.dir),
    });

    // A value only gobgpd can give: a path added with its own CLI, read back over gRPC by the plugin.
    run.gobgp('global', 'rib', '-a', 'ipv6', 'add', 'fd00:200::/64', 'nexthop', 'fd00::1');
    await waitForMetrics(run.agent.metricsUrl, (t) => metricValue(t, 'krouter_bgp_metrics_rib_routes', { family: 'ipv6' }) === 1, {
      netns: run.ns,
    });

    await assertStopsCleanly(run);
  });
});
