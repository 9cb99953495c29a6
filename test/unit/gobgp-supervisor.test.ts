import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '@krouter/sdk';
import { GobgpdSupervisor, backoffMs, socketIsLive, type ReadyInfo } from '../../core/services/gobgp/supervisor.ts';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, fn: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('gobgpd supervisor', function () {
  this.timeout(30_000);
  let dir: string;
  let fakeGobgpd: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'krouter-gobgp-sup-'));
    // Stands in for gobgpd: checks its arguments, logs a JSON line, then runs until killed.
    fakeGobgpd = path.join(dir, 'fake-gobgpd');
    writeFileSync(
      fakeGobgpd,
      '#!/bin/sh\n[ "$1" = "--api-hosts" ] && [ "$3" = "--pprof-disable" ] || exit 3\n' +
        'echo \'{"level":"info","msg":"gobgpd started"}\'\nexec sleep 600\n',
    );
    chmodSync(fakeGobgpd, 0o755);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('computes an exponential, capped backoff', () => {
    assert.deepEqual([0, 1, 2, 3, 10].map((a) => backoffMs(a, 500, 30_000)), [500, 1000, 2000, 4000, 30_000]);
  });

  it('starts, restarts after an unexpected exit (onReady again with restart), and stops by PID', async () => {
    const socketPath = path.join(dir, 'run', 'gobgp.sock');
    const ready: ReadyInfo[] = [];
    let exits = 0;
    const sup = new GobgpdSupervisor({
      logger: silent,
      socketPath,
      binary: fakeGobgpd,
      probe: async () => undefined,
      onReady: async (info) => {
        ready.push(info);
      },
      onExit: () => exits++,
      minBackoffMs: 10,
    });
    await sup.start();
    assert.equal(statSync(path.dirname(socketPath)).mode & 0o777, 0o700, 'socket directory is private');
    const first = sup.pid!;
    assert.ok(first && isAlive(first));
    assert.deepEqual(ready, [{ pid: first, restart: false, adopted: false, previousState: false }]);

    process.kill(first, 'SIGKILL');
    await until('restart', () => ready.length === 2);
    assert.equal(exits, 1);
    assert.equal(ready[1]!.restart, true);
    assert.equal(ready[1]!.previousState, true, 'a restart follows a gobgpd whose routes may still be in use');
    const second = sup.pid!;
    assert.notEqual(second, first);
    assert.ok(isAlive(second));

    await sup.stop();
    assert.equal(sup.pid, undefined);
    await until('process gone', () => !isAlive(second));
    assert.equal(exits, 1, 'a requested stop is not an unexpected exit');
  });

  it('fails start clearly when the binary is missing or exits at once', async () => {
    const missing = new GobgpdSupervisor({
      logger: silent,
      socketPath: path.join(dir, 'a.sock'),
      binary: path.join(dir, 'no-such-gobgpd'),
      probe: () => Promise.reject(new Error('down')),
      onReady: async () => undefined,
    });
    await assert.rejects(missing.start(), /cannot start gobgpd.*no-such-gobgpd|exited before its API answered/);
    const failing = new GobgpdSupervisor({
      logger: silent,
      socketPath: path.join(dir, 'b.sock'),
      binary: '/bin/false',
      probe: () => Promise.reject(new Error('down')),
      onReady: async () => undefined,
    });
    await assert.rejects(failing.start(), /exited before its API answered/);
  });

  it('refuses a socket held by a live process, and replaces a stale one', async () => {
    const socketPath = path.join(dir, 'held.sock');
    const server = net.createServer().listen(socketPath);
    await new Promise((r) => server.once('listening', r));
    try {
      assert.equal(await socketIsLive(socketPath), true);
      const sup = new GobgpdSupervisor({ logger: silent, socketPath, binary: fakeGobgpd, probe: async () => undefined, onReady: async () => undefined });
      await assert.rejects(sup.start(), /held by another live process/);
      assert.equal(sup.pid, undefined, 'nothing was started');
    } finally {
      await new Promise((r) => server.close(r));
    }
    // A socket file nobody listens on is stale: it is removed and start goes ahead.
    writeFileSync(socketPath, '');
    assert.equal(await socketIsLive(socketPath), false);
    const sup = new GobgpdSupervisor({ logger: silent, socketPath, binary: fakeGobgpd, probe: async () => undefined, onReady: async () => undefined });
    await sup.start();
    assert.ok(sup.pid);
    assert.equal(existsSync(socketPath), false, 'stale socket removed');
    await sup.stop();
  });
});
