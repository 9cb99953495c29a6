import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, mergeConfig, resolveNodeName } from '../../core/config/index.ts';
import { parseKubeRouterFlags } from '../../core/config/flags.ts';
import { preparePlugins } from '../../core/host/prepare.ts';
import { trustedCopy } from '../helpers/trusted-dir.ts';

const fixtures = path.resolve('test/fixtures/config');
const fixture = (name: string) => path.join(fixtures, name);
/** The fixture plugin, copied where the external plugin path rules allow loading it. */
const cidrPlugin = trustedCopy(path.join(fixtures, 'plugins', 'cidr-plugin.cjs'));

function tempConfig(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'krouter-config-test-'));
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, text);
  return file;
}

/** The problem lines of a ConfigError thrown by fn. */
async function problemsOf(fn: () => unknown): Promise<readonly string[]> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  assert.fail('expected a ConfigError');
}

/** Loads and prepares plugins as `validate-config` does (no built-ins). */
async function validate(file: string) {
  const loaded = loadConfig({ file });
  await preparePlugins({ ...loaded, builtins: [], provides: () => true });
  return loaded;
}

/** Runs `krouter validate-config` from source; resolves with exit code and output. */
function validateCli(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'core/main.ts', 'validate-config', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('config file', () => {
  it('fills every default for an empty file', () => {
    const { config } = loadConfig({ file: tempConfig(''), env: {}, hostname: () => 'host-1' });
    assert.equal(config.nodeName, 'host-1');
    assert.equal(config.families, 'auto');
    assert.deepEqual(config.metrics, { enabled: true, address: '::', port: 20241, path: '/metrics' });
    assert.deepEqual(config.health, { enabled: true, address: '::', port: 20244 });
    assert.deepEqual(config.kubernetes, { cacheSyncTimeoutSeconds: 60 });
    assert.deepEqual(config.gobgp, { binary: 'gobgpd', socket: '/run/krouter/gobgp.sock' });
    assert.equal(config.log.level, 'info');
    assert.deepEqual(config.plugins, {});
    assert.deepEqual(config.externalPlugins, []);
  });

  it('reads a valid file', () => {
    const { config } = loadConfig({ file: fixture('valid.yaml') });
    assert.equal(config.nodeName, 'node-a');
    assert.equal(config.families, 'dual');
    assert.deepEqual(config.health, { enabled: true, address: '::1', port: 0 });
    assert.equal(config.gobgp.socket, '/run/krouter/test.sock');
  });

  it('uses the default path only when it exists, and a given path must exist', async () => {
    const missing = path.join(os.tmpdir(), `krouter-no-such-${process.pid}.yaml`);
    assert.deepEqual(await problemsOf(() => loadConfig({ file: missing })), [`${missing}: cannot read config file: no such file`]);
  });

  const cases: Array<[string, string]> = [
    ['unknown-key.yaml', 'metrics.prot: unknown key (line 4)'],
    ['wrong-type.yaml', 'health.port: Invalid input: expected number, received string (line 2)'],
    ['bad-address.yaml', 'metrics.address: "198.18.0.300": not an IP address (line 2)'],
    ['bad-families.yaml', 'families: Invalid option'],
    ['relative-plugin.yaml', 'externalPlugins.0.path: must be an absolute path (line 2)'],
    ['missing-plugin.yaml', 'externalPlugins.0.path: /nonexistent/krouter-test/example.cjs: no such file (line 2)'],
    ['unknown-plugin.yaml', 'plugins.no-such-plugin: unknown plugin'],
  ];
  for (const [name, expected] of cases) {
    it(`${name}: one error line naming the file and the key`, async () => {
      const file = fixture(name);
      const problems = await problemsOf(() => validate(file));
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.ok(problems[0]!.startsWith(`${file}: ${expected}`), problems[0]);
    });
  }

  it('reports every problem of a file, one line each', async () => {
    const file = tempConfig('metrics:\n  port: 70000\nhealth:\n  bogus: 1\nlog:\n  level: loud\n');
    const problems = await problemsOf(() => loadConfig({ file }));
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith(`${file}: metrics.port: must be 0..65535 (line 2)`)));
    assert.ok(problems.some((p) => p.startsWith(`${file}: health.bogus: unknown key (line 4)`)));
    assert.ok(problems.some((p) => p.startsWith(`${file}: log.level: "loud" must be a verbosity 0..10`)), problems.join('\n'));
  });

  it("log.level takes kube-router's verbosity numbers as -v does, and the flag overrides the file", () => {
    const levelOf = (text: string, flags?: Record<string, unknown>) => loadConfig({ file: tempConfig(text), env: {}, hostname: () => 'h', overlay: flags }).config.log.level;
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 9, 10].map((v) => levelOf(`log:\n  level: ${v}\n`)),
      ['info', 'info', 'debug', 'debug', 'trace', 'trace', 'trace', 'trace'],
    );
    assert.equal(levelOf("log:\n  level: '2'\n"), 'debug');
    assert.equal(levelOf('log:\n  level: warn\n'), 'warn');
    assert.equal(levelOf(''), 'info');
    assert.equal(levelOf('log:\n  level: error\n', parseKubeRouterFlags(['--v=4']).overlay), 'trace');
    assert.equal(levelOf('log:\n  level: 5\n', parseKubeRouterFlags(['-v', '2']).overlay), 'debug');
  });

  it('reports a YAML syntax error with its line', async () => {
    const file = tempConfig('metrics:\n  port: [1, 2\n');
    const problems = await problemsOf(() => loadConfig({ file }));
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, new RegExp(`^${file.replace(/[.]/g, '\\.')}: line \\d+, column \\d+: `));
  });

  it('refuses a top level that is not a mapping', async () => {
    const file = tempConfig('- a\n- b\n');
    assert.deepEqual(await problemsOf(() => loadConfig({ file })), [`${file}: (top level): must be a mapping of keys to values`]);
  });

  it('validates an external plugin section with the plugin schema: bad CIDR named by key', async () => {
    const file = tempConfig(fs.readFileSync(fixture('plugin-section.yaml.tmpl'), 'utf8').replace('__PLUGIN__', cidrPlugin));
    const problems = await problemsOf(() => validate(file));
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.equal(
      problems[0],
      `${file}: externalPlugins.0.config.cidr: "198.18.0.0/33": prefix length must be 0..32 (line 5) [plugin cidr-fixture]`,
    );
  });

  it('accepts a good external plugin section and hands the plugin its validated config', async () => {
    const file = tempConfig(`externalPlugins:\n  - path: ${cidrPlugin}\n    config:\n      cidr: fd00:1::/64\n`);
    const loaded = loadConfig({ file });
    const plugins = await preparePlugins({ ...loaded, builtins: [], provides: () => true });
    assert.equal(plugins.length, 1);
    assert.equal(plugins[0]!.definition.name, 'cidr-fixture');
    assert.deepEqual(plugins[0]!.config, { cidr: 'fd00:1::/64', label: 'none' });
  });

  it('skips a disabled external plugin without loading it', async () => {
    const file = tempConfig(`externalPlugins:\n  - path: /nonexistent/krouter-test/x.cjs\n    enabled: false\n`);
    const loaded = loadConfig({ file });
    assert.deepEqual(await preparePlugins({ ...loaded, builtins: [], provides: () => true }), []);
  });

  it('names flag-set keys as the command line, not the file', async () => {
    const file = tempConfig('metrics:\n  port: 1\n');
    const problems = await problemsOf(() => loadConfig({ file, overlay: { health: { port: 'x' } } }));
    assert.deepEqual(problems, ['command line: health.port: Invalid input: expected number, received string']);
  });

  it('lets flags override the file', () => {
    const file = tempConfig('nodeName: from-file\nmetrics:\n  address: 127.0.0.1\n  port: 1\nplugins:\n  router:\n    clusterAsn: 1\n    x: 2\n');
    const { config } = loadConfig({ file, overlay: { nodeName: 'from-flag', metrics: { port: 2 }, plugins: { router: { clusterAsn: 3 } } } });
    assert.equal(config.nodeName, 'from-flag');
    assert.deepEqual(config.metrics, { enabled: true, address: '127.0.0.1', port: 2, path: '/metrics' });
    assert.deepEqual(config.plugins.router, { enabled: true, clusterAsn: 3, x: 2 });
  });

  it('accepts the documented example config in deploy/', () => {
    const { config } = loadConfig({ file: path.resolve('deploy/config.yaml') });
    assert.equal(config.metrics.port, 20241);
    assert.equal(config.health.port, 20244);
    assert.ok(Object.keys(config.plugins).length > 0);
  });

  it('merges objects deeply and replaces arrays', () => {
    assert.deepEqual(mergeConfig({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, e: 2 }), { a: { b: 1, c: [3] }, d: 1, e: 2 });
  });

  it('settles the node name: config, then NODE_NAME, then the host name', () => {
    const base = loadConfig({ file: tempConfig('') }).config;
    assert.equal(resolveNodeName({ ...base, nodeName: 'cfg' }, { env: { NODE_NAME: 'env' }, hostname: () => 'h' }), 'cfg');
    assert.equal(resolveNodeName({ ...base, nodeName: undefined }, { env: { NODE_NAME: 'env' }, hostname: () => 'h' }), 'env');
    assert.equal(resolveNodeName({ ...base, nodeName: undefined }, { env: {}, hostname: () => 'h' }), 'h');
  });
});

describe('krouter validate-config', function () {
  this.timeout(30_000);

  for (const name of ['unknown-key.yaml', 'wrong-type.yaml', 'bad-address.yaml', 'relative-plugin.yaml', 'missing-plugin.yaml']) {
    it(`exits 2 with one error line for ${name}`, async () => {
      const file = fixture(name);
      const r = await validateCli(file);
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(lines[0]!.startsWith(`${file}: `), r.stderr);
    });
  }

  it('exits 2 for a bad plugin section', async () => {
    const file = tempConfig(fs.readFileSync(fixture('plugin-section.yaml.tmpl'), 'utf8').replace('__PLUGIN__', cidrPlugin));
    const r = await validateCli(file);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim(), `${file}: externalPlugins.0.config.cidr: "198.18.0.0/33": prefix length must be 0..32 (line 5) [plugin cidr-fixture]`);
  });

  it('prints "config OK" and exits 0 for a valid file', async () => {
    const r = await validateCli(fixture('valid.yaml'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^config OK/);
  });
});
