import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, ConfigSource, configSchema } from '../../core/config/index.ts';
import { pluginPathProblem, realPathOps } from '../../core/host/plugin-path.ts';
import { preparePlugins } from '../../core/host/prepare.ts';
import { trustedDir, trustedFile } from '../helpers/trusted-dir.ts';

const isRoot = process.geteuid?.() === 0;
const PLUGIN = `module.exports = { default: { [Symbol.for('krouter/plugin')]: true, name: 'ext', apiVersion: 1, requires: {}, start: async () => ({ stop: async () => {} }) } };\n`;

describe('external plugins: only from paths owned by root and writable by nobody else', () => {
  before(function () {
    // The rules check ownership by root: run as root (as the agent does) for the chown cases.
    if (!isRoot) this.skip();
  });

  it('accepts a root-owned 0644 file in root-owned 0755/0700 directories up to /', () => {
    const file = trustedFile('ok.cjs', PLUGIN);
    assert.equal(pluginPathProblem(file), undefined);
    fs.chmodSync(file, 0o444);
    assert.equal(pluginPathProblem(file), undefined);
  });

  it('refuses a relative path', () => {
    assert.equal(pluginPathProblem('plugins/x.cjs'), 'plugins/x.cjs: must be an absolute path');
  });

  it('refuses a file writable by group or by others, naming it and its mode', () => {
    for (const mode of [0o664, 0o646, 0o666]) {
      const file = trustedFile('w.cjs', PLUGIN);
      fs.chmodSync(file, mode);
      assert.equal(pluginPathProblem(file), `${file}: is writable by group or others (mode 0${mode.toString(8)})`);
    }
  });

  it('refuses a file owned by another user', () => {
    const file = trustedFile('theirs.cjs', PLUGIN);
    fs.chownSync(file, 65534, 65534);
    assert.equal(pluginPathProblem(file), `${file}: is owned by uid 65534, not by root`);
  });

  it('refuses when any directory on the way is writable by others or owned by another user', () => {
    const top = trustedDir();
    const mid = path.join(top, 'mid');
    fs.mkdirSync(mid);
    const file = trustedFile('p.cjs', PLUGIN, mid);
    fs.chmodSync(mid, 0o775);
    assert.equal(pluginPathProblem(file), `${mid}: is writable by group or others (mode 0775)`);
    fs.chmodSync(mid, 0o755);
    assert.equal(pluginPathProblem(file), undefined);
    fs.chownSync(mid, 65534, 0);
    assert.equal(pluginPathProblem(file), `${mid}: is owned by uid 65534, not by root`);
    fs.chownSync(mid, 0, 0);
    fs.chmodSync(top, 0o777);
    assert.equal(pluginPathProblem(file), `${top}: is writable by group or others (mode 0777)`);
  });

  it('refuses a file under the shared temp directory (mode 1777)', () => {
    const dir = fs.mkdtempSync('/tmp/krouter-plugin-path-');
    try {
      const file = path.join(dir, 'p.cjs');
      fs.writeFileSync(file, PLUGIN, { mode: 0o644 });
      assert.equal(pluginPathProblem(file), '/tmp: is writable by group or others (mode 01777)');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("follows a symbolic link and checks its target's path too", () => {
    const safe = trustedFile('real.cjs', PLUGIN);
    const links = trustedDir();
    const link = path.join(links, 'link.cjs');
    fs.symlinkSync(safe, link);
    assert.equal(pluginPathProblem(link), undefined);
    const unsafeDir = fs.mkdtempSync('/tmp/krouter-plugin-link-');
    try {
      const target = path.join(unsafeDir, 'x.cjs');
      fs.writeFileSync(target, PLUGIN, { mode: 0o644 });
      const bad = path.join(links, 'bad.cjs');
      fs.symlinkSync(target, bad);
      assert.equal(pluginPathProblem(bad), '/tmp: is writable by group or others (mode 01777)');
    } finally {
      fs.rmSync(unsafeDir, { recursive: true, force: true });
    }
    const loop = path.join(links, 'loop');
    fs.symlinkSync(loop, loop);
    assert.equal(pluginPathProblem(path.join(loop, 'x.cjs')), `${path.join(loop, 'x.cjs')}: too many symbolic links`);
  });

  it('refuses what is missing or not a regular file', () => {
    const dir = trustedDir();
    assert.equal(pluginPathProblem(path.join(dir, 'none.cjs')), `${path.join(dir, 'none.cjs')}: no such file or directory`);
    assert.equal(pluginPathProblem(dir), `${dir}: is not a regular file`);
    const file = trustedFile('f.cjs', PLUGIN);
    assert.equal(pluginPathProblem(path.join(file, 'x.cjs')), `${file}: is not a directory`);
  });

  it("a non-root agent also trusts its own user's files", () => {
    const file = trustedFile('mine.cjs', PLUGIN);
    fs.chownSync(file, 4242, 4242);
    assert.equal(pluginPathProblem(file, { ...realPathOps, uid: () => 4242 }), undefined);
    assert.equal(pluginPathProblem(file, { ...realPathOps, uid: () => 4243 }), `${file}: is owned by uid 4242, not by root or the agent's user (uid 4243)`);
  });

  it('the host refuses such a plugin before loading it, with the config key, the path and the reason', async () => {
    const file = trustedFile('loaded.cjs', PLUGIN);
    fs.chmodSync(file, 0o666);
    const config = { ...configSchema.parse({ externalPlugins: [{ path: file }] }), nodeName: 'n' };
    let loaded = false;
    await assert.rejects(
      preparePlugins({ config, source: new ConfigSource('/etc/krouter/config.yaml'), builtins: [], provides: () => false, loadModule: async () => void (loaded = true) }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.problems.length === 1 &&
        e.problems[0] ===
          `/etc/krouter/config.yaml: externalPlugins.0.path: ${file}: refused: ${file}: is writable by group or others (mode 0666) (an external plugin and every directory above it must be owned by root and not writable by group or others)`,
    );
    assert.equal(loaded, false, 'the file was never read');
    fs.chmodSync(file, 0o644);
    const prepared = await preparePlugins({ config, source: new ConfigSource('/etc/krouter/config.yaml'), builtins: [], provides: () => false });
    assert.deepEqual(prepared.map((p) => p.definition.name), ['ext']);
  });
});
