/**
 * The example third-party plugin as its author would use it: built and
 * unit-tested on its own, then loaded into the single executable from the
 * config file.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildExamplePlugin, ensureExecutable } from '../../build/pipeline.ts';
import { paths, repoRoot } from '../../build/paths.ts';
import { exampleAgentSuite } from '../helpers/example-agent.ts';
import { exampleAgentConfig, metricValue, startAgent, waitForMetrics, waitForStatus } from '../helpers/krouter-process.ts';
import { stopProcess } from '../helpers/processes.ts';

function run(cmd: string, args: string[], cwd = repoRoot): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile(
      cmd,
      args,
      { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, PATH: `${path.join(repoRoot, 'node_modules', '.bin')}:${process.env.PATH}` } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
}

describe('example plugin sdk/examples/bgp-metrics', function () {
  const suite = exampleAgentSuite({ build: ensureExecutable, buildTimeoutMs: 600_000, tmpPrefix: 'krouter-sdkex-' });

  it('builds on its own into one CommonJS file that imports nothing from the host', function () {
    this.timeout(120_000);
    fs.rmSync(path.dirname(paths.exampleBundle), { recursive: true, force: true });
    assert.equal(buildExamplePlugin(), paths.exampleBundle);
    const code = fs.readFileSync(paths.exampleBundle, 'utf8');
    const requires = [...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!);
    const nonBuiltin = requires.filter((r) => !r.startsWith('node:') && !['fs', 'path', 'os', 'util', 'events', 'crypto'].includes(r));
    assert.deepEqual(nonBuiltin, [], 'everything but Node built-ins is bundled');
  });

  it('passes its own unit tests', async function () {
    this.timeout(120_000);
    const r = await run('npm', ['test', '--silent'], paths.exampleDir);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /passing/);
  });

  it('validate-config accepts it and names a bad key in its section', async function () {
    this.timeout(60_000);
    const good = exampleAgentConfig({ dir: suite.dir, pluginPath: suite.plugin });
    const ok = await run(paths.executable, ['validate-config', '--config', good]);
    assert.equal(ok.code, 0, ok.out);

    const badDir = fs.mkdtempSync(path.join(suite.dir, 'bad-'));
    const bad = exampleAgentConfig({ dir: badDir, pluginPath: suite.plugin, pluginConfig: { intervalSeconds: 0 } });
    const r = await run(paths.executable, ['validate-config', '--config', bad]);
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /externalPlugins.*0.*config.*intervalSeconds/);
  });

  it('the SDK package builds to JavaScript and declarations (npm run build -w @krouter/sdk)', async function () {
    this.timeout(180_000);
    const r = await run('npm', ['run', '--silent', 'build', '-w', '@krouter/sdk']);
    assert.equal(r.code, 0, r.out);
    const dist = path.join(repoRoot, 'sdk', 'dist');
    for (const f of ['index.js', 'index.d.ts', 'testing/index.js', 'testing/index.d.ts']) {
      assert.ok(fs.existsSync(path.join(dist, f)), `sdk/dist/${f} missing`);
    }
    const sdk = (await import(pathToFileURL(path.join(dist, 'index.js')).href)) as Record<string, unknown>;
    assert.equal(typeof sdk.definePlugin, 'function');
    assert.equal(sdk.Gobgp, Symbol.for('krouter/gobgp@2'), 'tokens are the same global symbols the host uses');
  });

  it('is loaded by dist/krouter from the config file and exports its metrics', async function () {
    this.timeout(120_000);
    // Without startBgp the plugin only reads: no BGP runs, so it reports bgp_running 0.
    const config = exampleAgentConfig({ dir: suite.dir, pluginPath: suite.plugin });
    const agent = await startAgent(paths.executable, ['run', '--config', config]);
    await waitForStatus(`${agent.healthUrl}/healthz`);
    const text = await waitForMetrics(agent.metricsUrl, (t) => metricValue(t, 'krouter_bgp_metrics_bgp_running') !== undefined);
    assert.equal(metricValue(text, 'krouter_bgp_metrics_bgp_running'), 0);
    assert.ok(agent.lines.some((l) => l.includes('exporting BGP metrics')), agent.output());
    await stopProcess(agent.child);
    assert.equal((await agent.exited).code, 0, agent.output());
  });
});
