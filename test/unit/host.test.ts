import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { definePlugin, Exec, Netlink, serviceToken, type ServiceToken } from '@krouter/sdk';
import { FakeHealth, MemoryLogger, MemoryMetrics } from '@krouter/sdk/testing';
import { ConfigError, ConfigSource, configSchema, type ResolvedConfig } from '../../core/config/index.ts';
import { createAgentServices, type ServiceFactory } from '../../core/container.ts';
import { preparePlugins, type PreparedPlugin } from '../../core/host/prepare.ts';
import { PluginError, PluginRunner } from '../../core/host/runner.ts';
import { trustedFile } from '../helpers/trusted-dir.ts';

const source = new ConfigSource('/etc/krouter/test.yaml');

function config(raw: Record<string, unknown> = {}): ResolvedConfig {
  return { ...configSchema.parse(raw), nodeName: 'node-1' };
}

/** A plugin file where the external plugin path rules allow loading it. */
function tempFile(name: string, text: string): string {
  return trustedFile(name, text);
}

async function configProblems(fn: () => Promise<unknown>): Promise<readonly string[]> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  assert.fail('expected a ConfigError');
}

/** A plugin that records start/stop in `events`, optionally failing to start. */
function recorder(name: string, events: string[], opts: { fail?: boolean } = {}) {
  return definePlugin({
    name,
    apiVersion: 1,
    requires: {},
    async start() {
      events.push(`start ${name}`);
      if (opts.fail) throw new Error('no kernel support');
      return {
        async stop() {
          events.push(`stop ${name}`);
        },
      };
    },
  });
}

function setup(raw: Record<string, unknown>, overrides = new Map<symbol, ServiceFactory>()) {
  const cfg = config(raw);
  const logger = new MemoryLogger();
  const metrics = new MemoryMetrics();
  const health = new FakeHealth();
  const services = createAgentServices({ config: cfg, logger, metrics, health, overrides });
  const prepare = (builtins: unknown[]) => preparePlugins({ config: cfg, source, builtins, provides: (t) => services.has(t) });
  const runner = (plugins: PreparedPlugin[]) => new PluginRunner({ plugins, services, logger, metrics, health, nodeName: cfg.nodeName });
  return { cfg, logger, services, prepare, runner };
}

describe('plugin host', () => {
  it('starts enabled plugins in order and stops them in reverse', async () => {
    const events: string[] = [];
    const { prepare, runner } = setup({ plugins: { a: {}, b: { enabled: true }, c: { enabled: false }, d: {} } });
    const plugins = await prepare(['a', 'b', 'c', 'd'].map((n) => recorder(n, events)));
    assert.deepEqual(plugins.map((p) => p.definition.name), ['a', 'b', 'd']);
    const r = runner(plugins);
    await r.start();
    assert.deepEqual(r.runningPlugins(), ['a', 'b', 'd']);
    await r.stop();
    assert.deepEqual(events, ['start a', 'start b', 'start d', 'stop d', 'stop b', 'stop a']);
  });

  it('stops the started plugins in reverse when one fails, and names it', async () => {
    const events: string[] = [];
    const { prepare, runner, logger } = setup({ plugins: { a: {}, b: {}, bad: {}, c: {} } });
    const r = runner(await prepare([recorder('a', events), recorder('b', events), recorder('bad', events, { fail: true }), recorder('c', events)]));
    await assert.rejects(r.start(), (err: unknown) => {
      assert.ok(err instanceof PluginError);
      assert.equal(err.plugin, 'bad');
      assert.equal(err.message, 'plugin bad failed to start: no kernel support');
      return true;
    });
    assert.deepEqual(events, ['start a', 'start b', 'start bad', 'stop b', 'stop a']);
    assert.deepEqual(r.runningPlugins(), []);
    assert.equal(logger.find('plugin failed to start', 'error')[0]?.fields.plugin, 'bad');
  });

  it('aborts the signal before stopping plugins', async () => {
    let seen: boolean | undefined;
    const plugin = definePlugin({
      name: 'watcher',
      apiVersion: 1,
      requires: {},
      async start(ctx) {
        return { stop: async () => void (seen = ctx.signal.aborted) };
      },
    });
    const { prepare, runner } = setup({ plugins: { watcher: {} } });
    const r = runner(await prepare([plugin]));
    await r.start();
    await r.stop();
    assert.equal(seen, true);
  });

  it('refuses a plugin built for another SDK API version', async () => {
    const old = { ...recorder('old', []), apiVersion: 2 };
    const { prepare } = setup({ plugins: { old: {} } });
    assert.deepEqual(await configProblems(() => prepare([old])), [
      '/etc/krouter/test.yaml: plugins.old: plugin old was built for SDK API v2, this krouter provides v1',
    ]);
  });

  it('validates a plugin section with its zod schema, naming plugins.<name>.<key>', async () => {
    const configSchema = z.strictObject({ asn: z.number().int().min(1), mode: z.enum(['a', 'b']).default('a') });
    let got: unknown;
    const plugin = definePlugin({
      name: 'zoned',
      apiVersion: 1,
      configSchema,
      requires: {},
      async start(ctx) {
        got = ctx.config;
        return { stop: async () => undefined };
      },
    });
    const bad = setup({ plugins: { zoned: { asn: 'x', extra: 1 } } });
    const problems = await configProblems(() => bad.prepare([plugin]));
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.ok(problems.includes('/etc/krouter/test.yaml: plugins.zoned.asn: Invalid input: expected number, received string [plugin zoned]'));
    assert.ok(problems.some((p) => p.startsWith('/etc/krouter/test.yaml: plugins.zoned: Unrecognized key: "extra"')));

    const good = setup({ plugins: { zoned: { asn: 64512 } } });
    const r = good.runner(await good.prepare([plugin]));
    await r.start();
    assert.deepEqual(got, { asn: 64512, mode: 'a' }, 'the plugin gets the parsed config without the host key `enabled`');
    await r.stop();
  });

  it('refuses duplicate names and unknown service tokens, naming the plugin', async () => {
    const dupFile = tempFile('dup.cjs', `module.exports = { default: { [Symbol.for('krouter/plugin')]: true, name: 'a', apiVersion: 1, requires: {}, start: async () => ({ stop: async () => {} }) } };\n`);
    const weird = definePlugin({ name: 'weird', apiVersion: 1, requires: { x: serviceToken<unknown>('no-such-service', 1) }, start: async () => ({ stop: async () => undefined }) });
    const { prepare } = setup({ plugins: { a: {}, weird: {} }, externalPlugins: [{ path: dupFile }] });
    assert.deepEqual(await configProblems(() => prepare([recorder('a', []), weird])), [
      '/etc/krouter/test.yaml: plugins.weird: plugin weird: requires.x: unknown service krouter/no-such-service@1',
      `/etc/krouter/test.yaml: externalPlugins.0.path: plugin a: the name is already used by the built-in plugin`,
    ]);
  });

  it('refuses a module that is not a plugin and an external file that cannot load', async () => {
    const notPlugin = tempFile('x.cjs', 'module.exports = { hello: 1 };\n');
    const broken = tempFile('y.cjs', 'throw new Error("boom at load");\n');
    const { prepare } = setup({ externalPlugins: [{ path: notPlugin }, { path: broken }] });
    assert.deepEqual(await configProblems(() => prepare([])), [
      `/etc/krouter/test.yaml: externalPlugins.0.path: ${notPlugin}: not a krouter plugin (no definePlugin default export)`,
      `/etc/krouter/test.yaml: externalPlugins.1.path: ${broken}: cannot load: boom at load`,
    ]);
  });

  it('refuses a section for a plugin that does not exist', async () => {
    const { prepare } = setup({ plugins: { ghost: {} } });
    const problems = await configProblems(() => prepare([recorder('a', [])]));
    assert.deepEqual(problems, [
      '/etc/krouter/test.yaml: plugins.ghost: unknown plugin (built-in plugins: a; external plugins go under externalPlugins)',
    ]);
  });

  it('loads an external CommonJS plugin from a temp file and starts it after the built-ins', async () => {
    const events: string[] = [];
    const file = tempFile(
      'ext.cjs',
      `'use strict';
module.exports.default = {
  [Symbol.for('krouter/plugin')]: true,
  name: 'ext', apiVersion: 1, requires: { exec: Symbol.for('krouter/exec@1') },
  async start(ctx, deps) {
    globalThis.__krouterHostTest.push('start ext ' + ctx.config.greeting + ' ' + typeof deps.exec.run + ' ' + ctx.nodeName);
    ctx.logger.info('hello from ext');
    return { async stop() { globalThis.__krouterHostTest.push('stop ext'); }, status: () => ({ ok: true }) };
  },
};
`,
    );
    (globalThis as Record<string, unknown>).__krouterHostTest = events;
    const { prepare, runner, logger } = setup({ plugins: { a: {} }, externalPlugins: [{ path: file, config: { greeting: 'hi' } }] });
    const plugins = await prepare([recorder('a', events)]);
    assert.deepEqual(plugins.map((p) => [p.definition.name, p.origin]), [['a', 'built-in'], ['ext', file]]);
    const r = runner(plugins);
    await r.start();
    assert.deepEqual(await r.status(), { a: {}, ext: { ok: true } });
    await r.stop();
    assert.deepEqual(events, ['start a', 'start ext hi function node-1', 'stop ext', 'stop a']);
    assert.equal(logger.find('hello from ext')[0]?.fields.plugin, 'ext', 'the plugin logger is bound to the plugin name');
  });

  it('loads an external ES module plugin (.mjs) through dynamic import', async () => {
    const file = tempFile(
      'ext.mjs',
      `export default { [Symbol.for('krouter/plugin')]: true, name: 'esm', apiVersion: 1, requires: {}, async start() { return { async stop() {}, status: () => 'esm up' }; } };\n`,
    );
    const { prepare, runner } = setup({ externalPlugins: [{ path: file }] });
    const r = runner(await prepare([]));
    await r.start();
    assert.deepEqual(await r.status(), { esm: 'esm up' });
    await r.stop();
  });

  it('resolves requires from the container and calls cleanup with them', async () => {
    const calls: string[] = [];
    const fakeNetlink = { fake: 'netlink' };
    const plugin = definePlugin({
      name: 'cleaner',
      apiVersion: 1,
      requires: { netlink: Netlink },
      start: async () => ({ stop: async () => undefined }),
      async cleanup(_ctx, deps) {
        calls.push(deps.netlink === (fakeNetlink as never) ? 'cleanup with fake netlink' : 'wrong service');
      },
    });
    const { prepare, runner, services } = setup({ plugins: { cleaner: {} } }, new Map([[Netlink as symbol, () => fakeNetlink]]));
    await runner(await prepare([plugin])).cleanup();
    assert.deepEqual(calls, ['cleanup with fake netlink']);
    assert.deepEqual(services.createdServices(), ['netlink']);
  });
});

describe('service container', () => {
  it('creates nothing until a service is resolved, then one instance per agent', () => {
    const { services } = setup({});
    assert.deepEqual(services.createdServices(), []);
    const exec = services.resolve(Exec);
    assert.equal(services.resolve(Exec), exec);
    assert.deepEqual(services.createdServices(), ['exec']);
    const other = setup({}).services;
    assert.notEqual(other.resolve(Exec), exec, 'each agent has its own container');
  });

  it('registers every SDK service token', () => {
    const { services } = setup({});
    // gobgp@2: the declarative interface (apply) replaced the imperative one.
    for (const id of ['address-families@1', 'netlink@1', 'nftables@1', 'gobgp@2', 'informers@1', 'exec@1', 'logger@1', 'metrics@1', 'health@1']) {
      assert.ok(services.has(Symbol.for(`krouter/${id}`)), id);
    }
  });

  it('closes created services newest first and refuses use afterwards', async () => {
    const closed: string[] = [];
    const tokens = ['one', 'two', 'three'].map((n) => serviceToken<{ close(): Promise<void> }>(`host-test-${n}`, 1));
    const overrides = new Map<symbol, ServiceFactory>(
      tokens.map((t, i) => [t, () => ({ close: async () => void closed.push(`close ${i + 1}`) })]),
    );
    const { services } = setup({}, overrides);
    services.resolve(tokens[1] as ServiceToken<unknown>);
    services.resolve(tokens[0] as ServiceToken<unknown>);
    await services.close();
    assert.deepEqual(closed, ['close 1', 'close 2'], 'only created services close, in reverse creation order');
    assert.throws(() => services.resolve(tokens[2] as ServiceToken<unknown>), /after the agent stopped/);
  });
});
