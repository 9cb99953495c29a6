import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main, type CliIO } from '../../core/cli.ts';
import { startAgent, writeConfig } from '../helpers/krouter-process.ts';
import { stopProcess } from '../helpers/processes.ts';
import { trustedCopy, trustedFile } from '../helpers/trusted-dir.ts';

/** The fixture plugin, copied where the external plugin path rules allow loading it. */
const cidrPlugin = trustedCopy(path.resolve('test/fixtures/config/plugins/cidr-plugin.cjs'));
const krouter = [process.execPath, '--import', 'tsx', 'core/main.ts'];

function capture(): CliIO & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => void (out += t), err: (t) => void (err += t), stdout: () => out, stderr: () => err };
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(krouter[0]!, [...krouter.slice(1), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Messages of the agent's JSON log lines, in order. */
function messages(lines: string[]): string[] {
  return lines.filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { msg: string }).msg);
}

function tempPlugin(text: string): string {
  return trustedFile('plugin.cjs', text);
}

const agentConfig = (extra: Record<string, unknown> = {}) => ({
  nodeName: 'cli-node',
  families: 'dual',
  metrics: { address: '127.0.0.1', port: 0 },
  health: { address: '127.0.0.1', port: 0 },
  externalPlugins: [{ path: cidrPlugin, config: { cidr: 'fd00:42::/64', label: 'cli' } }],
  ...extra,
});

describe('krouter CLI', function () {
  this.timeout(60_000);

  it('version prints krouter, SDK API and runtime versions', async () => {
    const io = capture();
    assert.equal(await main(['version'], io), 0);
    const lines = io.stdout().trim().split('\n');
    assert.match(lines[0]!, /^krouter \d+\.\d+\.\d+/);
    assert.equal(lines[1], 'sdk api v1');
    assert.match(lines[2]!, /^runtime node v24\./);
    assert.match(lines[3]!, /^gobgpd /);
  });

  it('refuses an unknown subcommand and kube-router flag with exit 2', async () => {
    let io = capture();
    assert.equal(await main(['frobnicate'], io), 2);
    assert.match(io.stderr(), /unknown command 'frobnicate'/);
    io = capture();
    assert.equal(await main(['validate-config', '--config', path.resolve('test/fixtures/config/valid.yaml'), '--enable-overlays'], io), 2);
    assert.equal(io.stderr(), 'command line: --enable-overlays: unknown flag\n');
  });

  it('a kube-router flag with no effect here is accepted with one warning naming it', async () => {
    const io = capture();
    assert.equal(await main(['validate-config', '--config', path.resolve('test/fixtures/config/valid.yaml'), '--enable-overlay', '--overlay-type=full'], io), 0);
    assert.deepEqual(
      io.stderr().trim().split('\n').map((l) => l.split(': has no effect')[0]),
      ['warning: --enable-overlay', 'warning: --overlay-type'],
    );
  });

  it('validate-config takes kube-router flags over the file', async () => {
    const io = capture();
    assert.equal(await main(['validate-config', '--config', path.resolve('test/fixtures/config/valid.yaml'), '--health-port=70000'], io), 2);
    assert.equal(io.stderr(), 'command line: --health-port: "70000" must be an integer 0..65535\n');
  });

  it('runs the agent with an external plugin, serves status, and stops cleanly on SIGTERM', async () => {
    const config = writeConfig(agentConfig());
    const agent = await startAgent(krouter[0]!, [...krouter.slice(1), 'run', '--config', config, '-v=0']);
    try {
      const status = (await (await fetch(`${agent.healthUrl}/status`)).json()) as Record<string, unknown>;
      assert.equal(status.node, 'cli-node');
      assert.deepEqual(status.families, 'dual');
      assert.deepEqual(status.plugins, { 'cidr-fixture': { cidr: 'fd00:42::/64', label: 'cli', node: 'cli-node' } });
      assert.equal((await fetch(`${agent.healthUrl}/healthz`)).status, 200);
      assert.match(await (await fetch(`${agent.metricsUrl}/metrics`)).text(), /^krouter_process_cpu_seconds_total/m);

      const port = new URL(agent.healthUrl).port;
      const text = await run(['status', '--port', port]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^node cli-node  krouter \S+  families dual$/m);
      assert.match(text.stdout, /^cidr-fixture\n {2}cidr {3}fd00:42::\/64\n {2}label  cli\n {2}node {3}cli-node$/m);
      const json = await run(['status', '--port', port, '--json']);
      assert.equal((JSON.parse(json.stdout) as { node: string }).node, 'cli-node');

      agent.child.kill('SIGTERM');
      const exit = await agent.exited;
      assert.deepEqual(exit, { code: 0, signal: null }, agent.output());
      const running = agent.lines.map((l) => (l.startsWith('{') ? (JSON.parse(l) as Record<string, unknown>) : {})).find((e) => e.msg === 'krouter running');
      assert.deepEqual(running?.services, [], 'a plugin that requires nothing makes the agent start no service (no gobgpd, no ip, no watch)');
      const msgs = messages(agent.lines);
      const order = ['krouter starting', 'listening', 'plugin starting', 'fixture plugin started', 'krouter running', 'signal received, stopping', 'plugin stopping', 'fixture plugin stopped', 'krouter stopped'];
      let at = -1;
      for (const m of order) {
        const i = msgs.indexOf(m, at + 1);
        assert.ok(i > at, `log "${m}" missing or out of order:\n${msgs.join('\n')}`);
        at = i;
      }
    } finally {
      await stopProcess(agent.child);
    }
  });

  it('exits non-zero naming the plugin when one fails to start, after stopping the ones started', async () => {
    const failing = tempPlugin(
      `module.exports = { default: { [Symbol.for('krouter/plugin')]: true, name: 'broken', apiVersion: 1, requires: {},
        async start() { throw new Error('cannot open the frobnicator'); } } };\n`,
    );
    const config = writeConfig(agentConfig({ externalPlugins: [{ path: cidrPlugin, config: { cidr: '198.18.0.0/24' } }, { path: failing }] }));
    const r = await run(['run', '--config', config]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^krouter: plugin broken failed to start: cannot open the frobnicator$/m);
    const msgs = messages(r.stderr.split('\n'));
    assert.ok(msgs.indexOf('fixture plugin stopped') > msgs.indexOf('plugin failed to start'), msgs.join('\n'));
  });

  it('refuses a plugin built for another SDK API version with exit 2', async () => {
    const future = tempPlugin(
      `module.exports = { default: { [Symbol.for('krouter/plugin')]: true, name: 'future', apiVersion: 2, requires: {}, async start() {} } };\n`,
    );
    const config = writeConfig(agentConfig({ externalPlugins: [{ path: future }] }));
    const r = await run(['run', '--config', config]);
    assert.equal(r.code, 2, r.stderr);
    const last = r.stderr.trim().split('\n').at(-1)!;
    assert.equal(last, `${config}: externalPlugins.0.path: plugin future was built for SDK API v2, this krouter provides v1 (line 14)`);
    assert.ok(!r.stderr.includes('listening'), 'nothing was started');
  });

  it('cleanup calls each enabled plugin cleanup', async () => {
    const config = writeConfig(agentConfig());
    const r = await run(['cleanup', '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'cleanup done\n');
    assert.ok(messages(r.stderr.split('\n')).includes('fixture plugin cleanup'), r.stderr);
  });
});
