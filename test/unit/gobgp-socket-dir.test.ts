import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '@krouter/sdk';
import { realDirOps, restrictSocket, securePrivateDir, SocketDirError } from '../../core/services/gobgp/socket-dir.ts';
import { GobgpdSupervisor } from '../../core/services/gobgp/supervisor.ts';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
const isRoot = process.geteuid?.() === 0;
const modeOf = (p: string) => statSync(p).mode & 0o7777;

describe('gobgp socket directory: 0700, the agent user\'s, or refused', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'krouter-sockdir-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a missing directory (and its parents) 0700', () => {
    const d = path.join(dir, 'run', 'krouter');
    assert.equal(securePrivateDir(d), 'created');
    assert.equal(modeOf(d), 0o700);
    assert.equal(securePrivateDir(d), 'ok', 'a second time: nothing to do');
  });

  it('tightens a directory open to group or others to 0700', () => {
    for (const mode of [0o755, 0o777, 0o750, 0o710]) {
      const d = path.join(dir, `m${mode.toString(8)}`);
      mkdirSync(d);
      chmodSync(d, mode);
      assert.equal(securePrivateDir(d), 'tightened', mode.toString(8));
      assert.equal(modeOf(d), 0o700, mode.toString(8));
    }
  });

  it("refuses a directory owned by another user, naming it and the owner, and leaves it as it was", function () {
    if (!isRoot) this.skip();
    const d = path.join(dir, 'theirs');
    mkdirSync(d);
    chmodSync(d, 0o777);
    chownSync(d, 65534, 65534);
    assert.throws(
      () => securePrivateDir(d),
      (e: unknown) => e instanceof SocketDirError && e.message === `gobgp socket directory ${d}: is owned by uid 65534, not by the agent's user (uid 0); remove it or give it to uid 0 with mode 0700`,
    );
    assert.equal(modeOf(d), 0o777, 'not touched');
  });

  it('refuses a group/world-writable directory that cannot be tightened', () => {
    const d = path.join(dir, 'stuck');
    mkdirSync(d);
    chmodSync(d, 0o777);
    const ops = { ...realDirOps, chmod: () => { throw Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' }); } };
    assert.throws(() => securePrivateDir(d, ops), new RegExp(`^SocketDirError: gobgp socket directory ${d}: has mode 0777 \\(group or others may enter it\\) and cannot be set to 0700: EROFS`));
    const ignored = { ...realDirOps, chmod: () => undefined };
    assert.throws(() => securePrivateDir(d, ignored), /has mode 0777 after chmod 0700/);
  });

  it('refuses shared directories: system ones, sticky ones, and what is not a directory', () => {
    assert.throws(() => securePrivateDir('/run'), /gobgp socket directory \/run: is a shared system directory/);
    assert.throws(() => securePrivateDir('/tmp'), /gobgp socket directory \/tmp: is a shared system directory/);
    const sticky = path.join(dir, 'sticky');
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    assert.throws(() => securePrivateDir(sticky), /is a shared sticky directory \(mode 01777\)/);
    assert.equal(modeOf(sticky), 0o1777, 'not touched');
    const file = path.join(dir, 'file');
    writeFileSync(file, '');
    assert.throws(() => securePrivateDir(file), /: is not a directory$/);
    const mkdirFails = { ...realDirOps, mkdir: () => { throw new Error('EACCES: permission denied'); } };
    assert.throws(() => securePrivateDir(path.join(dir, 'new'), mkdirFails), /cannot be created: EACCES/);
  });

  it('sets a socket gobgpd made to 0600; a missing one is nothing to do', async () => {
    const sock = path.join(dir, 's.sock');
    const server = net.createServer().listen(sock);
    await new Promise((r) => server.once('listening', r));
    try {
      chmodSync(sock, 0o777);
      restrictSocket(sock);
      assert.equal(modeOf(sock), 0o600);
    } finally {
      await new Promise((r) => server.close(r));
    }
    assert.doesNotThrow(() => restrictSocket(path.join(dir, 'none.sock')));
    const failing = { stat: realDirOps.stat, chmod: () => { throw new Error('EPERM'); } };
    writeFileSync(sock, '');
    chmodSync(sock, 0o644);
    assert.throws(() => restrictSocket(sock, failing), new RegExp(`cannot set ${sock} to 0600: EPERM`));
  });

  it('the supervisor tightens the directory before gobgpd starts, and its socket, pid and log files are 0600', async () => {
    const run = path.join(dir, 'run');
    mkdirSync(run, { mode: 0o755 });
    chmodSync(run, 0o755);
    const socketPath = path.join(run, 'gobgp.sock');
    // Stands in for gobgpd: makes its socket world-accessible, as a umask of 0 would.
    const fake = path.join(dir, 'fake-gobgpd');
    writeFileSync(fake, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} -e "const s=require('net').createServer().listen(process.argv[1].slice(7),()=>require('fs').chmodSync(process.argv[1].slice(7),0o777))" "$2"\n`);
    chmodSync(fake, 0o755);
    const warnings: string[] = [];
    const logger: Logger = { ...silent, warn: (m) => void warnings.push(m), child: () => logger };
    const sup = new GobgpdSupervisor({
      logger,
      socketPath,
      binary: fake,
      probe: () => new Promise((resolve, reject) => {
        const c = net.connect(socketPath);
        c.once('connect', () => { c.destroy(); resolve(); });
        c.once('error', reject);
      }),
      onReady: async () => undefined,
    });
    try {
      await sup.start();
      assert.equal(modeOf(run), 0o700);
      assert.equal(modeOf(socketPath), 0o600);
      assert.equal(modeOf(`${socketPath}.pid`), 0o600);
      assert.equal(modeOf(`${socketPath}.log`), 0o600);
      assert.deepEqual(warnings, ['gobgp socket directory was open to others; set to 0700']);
    } finally {
      await sup.stop();
    }
  });

  it('the supervisor refuses to start gobgpd in a directory of another user', async function () {
    if (!isRoot) this.skip();
    const theirs = path.join(dir, 'theirs');
    mkdirSync(theirs);
    chownSync(theirs, 65534, 65534);
    let probed = false;
    const sup = new GobgpdSupervisor({ logger: silent, socketPath: path.join(theirs, 'gobgp.sock'), binary: '/bin/false', probe: async () => void (probed = true), onReady: async () => undefined });
    await assert.rejects(sup.start(), /gobgp socket directory .*theirs: is owned by uid 65534/);
    assert.equal(probed, false);
    assert.equal(sup.pid, undefined);
  });
});
