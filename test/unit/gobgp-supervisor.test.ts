import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '@krouter/sdk';
import { spawn, type ChildProcess } from 'node:child_process';
import { GobgpdSupervisor, backoffMs, parsePidFile, renderPidFile, socketIsLive, type ReadyInfo } from '../../core/services/gobgp/supervisor.ts';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
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

  /** A supervisor of the fake gobgpd whose API always answers; `opts` overrides any option. */
  const supervisor = (socketPath: string, opts: Partial<ConstructorParameters<typeof GobgpdSupervisor>[0]> = {}) =>
    new GobgpdSupervisor({ logger: silent, socketPath, binary: fakeGobgpd, probe: async () => undefined, onReady: async () => undefined, ...opts });

  it('computes an exponential, capped backoff', () => {
    assert.deepEqual([0, 1, 2, 3, 10].map((a) => backoffMs(a, 500, 30_000)), [500, 1000, 2000, 4000, 30_000]);
  });

  it('starts, restarts after an unexpected exit (onReady again with restart), and stops by PID', async () => {
    const socketPath = path.join(dir, 'run', 'gobgp.sock');
    const ready: ReadyInfo[] = [];
    let exits = 0;
    const sup = supervisor(socketPath, {
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
      const sup = supervisor(socketPath);
      await assert.rejects(sup.start(), /held by another live process/);
      assert.equal(sup.pid, undefined, 'nothing was started');
    } finally {
      await new Promise((r) => server.close(r));
    }
    // A socket file nobody listens on is stale: it is removed and start goes ahead.
    writeFileSync(socketPath, '');
    assert.equal(await socketIsLive(socketPath), false);
    const sup = supervisor(socketPath);
    await sup.start();
    assert.ok(sup.pid);
    assert.equal(existsSync(socketPath), false, 'stale socket removed');
    await sup.stop();
  });

  it('reads and writes its pid file: gobgpd PID first, then the supervising process', () => {
    const f = { pid: 123, owner: { pid: 45, startTime: '6789' } };
    assert.equal(renderPidFile(f), '123\nowner 45 6789\n');
    assert.deepEqual(parsePidFile(renderPidFile(f)), f);
    assert.deepEqual(parsePidFile('77\n'), { pid: 77 });
    assert.equal(parsePidFile('nonsense'), undefined);
  });

  describe('adoption of a gobgpd left running', () => {
    /**
     * Stands in for a gobgpd a previous agent left behind: argv[0] is "gobgpd"
     * and it serves the unix socket named after --api-hosts. Wait for it with
     * `socketIsLive`: the socket file exists from bind(), before listen(), and a
     * supervisor looking then finds a dead socket and replaces it.
     */
    const orphans: ChildProcess[] = [];
    // A test that fails or times out before its own `finally` leaves no stand-in running.
    afterEach(() => {
      for (const o of orphans.splice(0)) if (o.exitCode === null && o.signalCode === null) o.kill('SIGKILL');
    });

    function orphanGobgpd(socketPath: string) {
      const script = path.join(dir, 'serve.py');
      writeFileSync(
        script,
        'import socket, sys, time\ns = socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[2][len("unix://"):])\ns.listen(8)\n' +
          'while True:\n    c, _ = s.accept()\n    c.close()\n',
      );
      const child = spawn('bash', ['-c', `exec -a gobgpd /usr/bin/python3 "$0" "$@"`, script, '--api-hosts', `unix://${socketPath}`, '--pprof-disable'], {
        stdio: 'ignore',
      });
      orphans.push(child);
      return child;
    }

    it('adopts a live gobgpd named by the pid file whose supervisor is gone, restarts it as its own when it dies', async () => {
      const socketPath = path.join(dir, 'adopt.sock');
      const orphan = orphanGobgpd(socketPath);
      try {
        await until('orphan listening', () => socketIsLive(socketPath));
        // Its previous supervisor: a process that has exited.
        writeFileSync(`${socketPath}.pid`, renderPidFile({ pid: orphan.pid!, owner: { pid: 999_999_999, startTime: '1' } }));
        const ready: ReadyInfo[] = [];
        const sup = supervisor(socketPath, {
          onReady: async (info) => {
            ready.push(info);
          },
          minBackoffMs: 10,
        });
        await sup.start();
        assert.deepEqual(ready, [{ pid: orphan.pid, restart: false, adopted: true, previousState: true }]);
        assert.equal(sup.pid, orphan.pid);
        assert.equal(sup.adopted, true);
        assert.equal(parsePidFile(readFileSync(`${socketPath}.pid`, 'utf8'))?.owner?.pid, process.pid, 'the pid file names the new supervisor');

        // A second supervisor on the same socket is refused while this one lives.
        const second = supervisor(socketPath);
        await assert.rejects(second.start(), /held by another live process.*still supervised by this process/);

        orphan.kill('SIGKILL');
        await until('restart after the adopted gobgpd died', () => ready.length === 2);
        assert.deepEqual({ ...ready[1], pid: 0 }, { pid: 0, restart: true, adopted: false, previousState: true });
        assert.notEqual(sup.pid, orphan.pid);
        assert.equal(sup.adopted, false);
        await sup.stop();
        assert.equal(existsSync(`${socketPath}.pid`), false, 'a clean stop leaves no pid file');
      } finally {
        orphan.kill('SIGKILL');
      }
    });

    it('replaces an adopted gobgpd when onReady asks for it', async () => {
      const socketPath = path.join(dir, 'replace.sock');
      const orphan = orphanGobgpd(socketPath);
      const exited = new Promise((r) => orphan.once('exit', r));
      try {
        await until('orphan listening', () => socketIsLive(socketPath));
        writeFileSync(`${socketPath}.pid`, renderPidFile({ pid: orphan.pid! }));
        const ready: ReadyInfo[] = [];
        const sup = supervisor(socketPath, {
          onReady: async (info) => {
            ready.push(info);
            return info.adopted ? 'replace' : undefined;
          },
        });
        await sup.start();
        await exited;
        assert.deepEqual(
          ready.map((r) => [r.adopted, r.previousState]),
          [
            [true, true],
            [false, true],
          ],
        );
        assert.notEqual(sup.pid, orphan.pid);
        await sup.stop();
      } finally {
        orphan.kill('SIGKILL');
      }
    });

    it('refuses a live socket whose pid file is missing or names another program', async () => {
      const socketPath = path.join(dir, 'foreign.sock');
      const server = net.createServer().listen(socketPath);
      await new Promise((r) => server.once('listening', r));
      try {
        const sup = () => supervisor(socketPath);
        await assert.rejects(sup().start(), /held by another live process.*no readable .*\.pid/);
        // This test process is alive but is not a gobgpd serving the socket.
        writeFileSync(`${socketPath}.pid`, renderPidFile({ pid: process.pid }));
        await assert.rejects(sup().start(), /held by another live process.*is not a gobgpd serving this socket/);
      } finally {
        await new Promise((r) => server.close(r));
      }
    });
  });
});
