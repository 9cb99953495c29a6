/**
 * Supervises one gobgpd process: starts it with its API on a unix socket,
 * waits until the API answers, restarts it with exponential backoff when it
 * exits unexpectedly, and stops it by PID.
 *
 * gobgpd outlives the agent on purpose: an agent killed or upgraded leaves
 * BGP running, and the next agent adopts that gobgpd instead of starting a
 * new one (sessions and advertised routes never drop). For that:
 * - gobgpd runs in its own session (not killed with the agent's process
 *   group) and logs into a file beside the socket, never into a pipe to the
 *   agent: a Go program writing to a closed stdout/stderr pipe dies of SIGPIPE.
 * - `<socket>.pid` names gobgpd's PID and the agent that supervises it; a
 *   live gobgpd on the socket is adopted only when that file names it, its
 *   command line names gobgpd and this socket, and its supervising agent is
 *   gone. Anything else on the socket is refused.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '@krouter/sdk';
import { restrictSocket, securePrivateDir, SOCKET_MODE } from './socket-dir.ts';

export interface SupervisorOptions {
  logger: Logger;
  socketPath: string;
  /** gobgpd binary; default `gobgpd` from PATH. */
  binary?: string;
  /** Run gobgpd inside this named network namespace (`ip netns exec`). */
  netns?: string;
  /** Probes the API; resolves when it answers (e.g. a GetBgp call with a short deadline). */
  probe: () => Promise<void>;
  /**
   * Called each time a gobgpd process is up and its API answers: first start,
   * adoption of a running gobgpd, and every restart. Resolving 'replace' (only
   * honoured for an adopted gobgpd) stops that gobgpd and starts a fresh one.
   */
  onReady: (info: ReadyInfo) => Promise<void | 'replace'>;
  /** Called when gobgpd exits unexpectedly, before the restart is scheduled. */
  onExit?: (info: { pid: number | undefined; code: number | null; signal: NodeJS.Signals | null }) => void;
  readyTimeoutMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  stopGraceMs?: number;
}

export interface ReadyInfo {
  pid: number;
  /** A restart after gobgpd died under this supervisor. */
  restart: boolean;
  /** gobgpd was already running (left by a previous agent) and is now supervised by PID. */
  adopted: boolean;
  /**
   * A fresh gobgpd while state of an earlier one may still be in use: it
   * died under us, it was replaced, or a previous run did not stop it
   * cleanly (its pid file is still there). Peers may hold our routes as
   * stale and the kernel may hold routes it taught us (graceful restart).
   */
  previousState: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A process that exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Kernel start time of a process (clock ticks since boot): with the PID it names one process for good. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name; starttime is field 22 overall, 20th after ")".
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** argv of a process, or undefined when it is gone. */
function processArgv(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

/** What `<socket>.pid` records. */
export interface PidFile {
  pid: number;
  owner?: { pid: number; startTime: string };
}

/** `<socket>.pid`: gobgpd's PID on the first line (as any pid file), then `owner PID STARTTIME`. */
export function parsePidFile(text: string): PidFile | undefined {
  const [first, ...rest] = text.split('\n');
  const pid = Number(first?.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const out: PidFile = { pid };
  for (const line of rest) {
    const m = /^owner (\d+) (\d+)$/.exec(line.trim());
    if (m) out.owner = { pid: Number(m[1]), startTime: m[2]! };
  }
  return out;
}

export function renderPidFile(f: PidFile): string {
  return `${f.pid}\n${f.owner ? `owner ${f.owner.pid} ${f.owner.startTime}\n` : ''}`;
}

/**
 * Why a live gobgpd on `socketPath` may not be adopted, or undefined when it
 * may: the pid file must name a live gobgpd serving exactly this socket, and
 * the agent that supervised it must be gone.
 */
export function adoptionRefusal(socketPath: string, file: PidFile | undefined, self: { pid: number; startTime?: string }): string | undefined {
  if (!file) return `no readable ${socketPath}.pid names the process serving it`;
  const argv = processArgv(file.pid);
  if (!argv || !processAlive(file.pid)) return `the gobgpd named by ${socketPath}.pid (PID ${file.pid}) is not running`;
  const isGobgpd = argv.length > 0 && path.basename(argv[0]!) === 'gobgpd';
  const api = argv.findIndex((a) => a === '--api-hosts' || a.startsWith('--api-hosts='));
  const hosts = api < 0 ? undefined : argv[api]!.includes('=') ? argv[api]!.split('=').slice(1).join('=') : argv[api + 1];
  if (!isGobgpd || hosts !== `unix://${socketPath}`) {
    return `PID ${file.pid} named by ${socketPath}.pid is not a gobgpd serving this socket (${argv.join(' ')})`;
  }
  const owner = file.owner;
  if (owner && processAlive(owner.pid) && processStartTime(owner.pid) === owner.startTime) {
    const who = owner.pid === self.pid && owner.startTime === self.startTime ? 'this process' : `PID ${owner.pid}`;
    return `its gobgpd (PID ${file.pid}) is still supervised by ${who}`;
  }
  return undefined;
}

/** Resolves true when something accepts connections on the unix socket. */
export function socketIsLive(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    const done = (live: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Backoff before restart number `attempt` (0-based): min * 2^attempt, capped. */
export function backoffMs(attempt: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
}

const LOG_POLL_MS = 250;
/** gobgpd's log file is cut back to empty beyond this size (its lines are also in the agent's log). */
const LOG_MAX_BYTES = 16 * 1024 * 1024;
/** How often an adopted gobgpd (not our child: no exit event) is checked. */
const ADOPTED_POLL_MS = 250;

export class GobgpdSupervisor {
  private child?: ChildProcess;
  /** PID of an adopted gobgpd (left by a previous agent); watched by polling. */
  private adoptedPid?: number;
  private adoptedTimer?: NodeJS.Timeout;
  private stopping = false;
  private started = false;
  private attempt = 0;
  private restartTimer?: NodeJS.Timeout;
  private exitWaiters: Array<() => void> = [];
  private readonly log: Logger;
  private readonly pidFile: string;
  private readonly logFile: string;
  private logTimer?: NodeJS.Timeout;
  private logOffset = 0;
  private logRest = '';
  private readonly self: { pid: number; startTime: string };

  constructor(private readonly opts: SupervisorOptions) {
    this.log = opts.logger;
    this.pidFile = `${opts.socketPath}.pid`;
    this.logFile = `${opts.socketPath}.log`;
    this.self = { pid: process.pid, startTime: processStartTime(process.pid) ?? '0' };
  }

  /** PID of the running gobgpd, spawned or adopted (with netns, `ip netns exec` execs gobgpd, so this is gobgpd itself). */
  get pid(): number | undefined {
    if (this.adoptedPid !== undefined) return processAlive(this.adoptedPid) ? this.adoptedPid : undefined;
    return this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** True when the running gobgpd was adopted rather than started by this supervisor. */
  get adopted(): boolean {
    return this.adoptedPid !== undefined;
  }

  private readPidFile(): PidFile | undefined {
    try {
      return parsePidFile(readFileSync(this.pidFile, 'utf8'));
    } catch {
      return undefined;
    }
  }

  private writePidFile(pid: number): void {
    const tmp = `${this.pidFile}.tmp`;
    writeFileSync(tmp, renderPidFile({ pid, owner: this.self }), { mode: SOCKET_MODE });
    chmodSync(tmp, SOCKET_MODE);
    renameSync(tmp, this.pidFile);
  }

  /**
   * Starts gobgpd, or adopts the one a previous agent left running on the
   * socket, and waits until its API answers and onReady has run. Throws on
   * the first failure, and when the socket is held by anything else.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.stopping = false;
    const socketPath = this.opts.socketPath;
    const dir = path.dirname(socketPath);
    // The socket is the whole control plane of BGP: its directory is the agent's alone (0700), or start stops here.
    const dirState = securePrivateDir(dir);
    if (dirState === 'tightened') this.log.warn('gobgp socket directory was open to others; set to 0700', { dir });
    let exists = false;
    try {
      exists = statSync(socketPath) !== undefined;
    } catch {
      exists = false;
    }
    const leftover = this.readPidFile();
    if (exists && (await socketIsLive(socketPath))) {
      const refusal = adoptionRefusal(socketPath, leftover, this.self);
      if (refusal) {
        throw new Error(
          `gobgp socket ${socketPath} is held by another live process (another gobgpd?): ${refusal}; ` +
            'stop it or choose another socket path',
        );
      }
      this.started = true;
      try {
        await this.adopt(leftover!.pid);
      } catch (e) {
        this.started = false;
        this.stopAdoptedWatch();
        this.adoptedPid = undefined;
        throw e;
      }
      return;
    }
    // A stale socket of a gobgpd that died: gobgpd cannot bind while it exists.
    if (exists) rmSync(socketPath, { force: true });
    this.started = true;
    try {
      await this.launch(false, leftover !== undefined);
    } catch (e) {
      this.started = false;
      await this.killChild();
      throw e;
    }
  }

  /** Takes over a running gobgpd: supervised by PID from now on; a dead one is restarted as ours. */
  private async adopt(pid: number): Promise<void> {
    this.adoptedPid = pid;
    this.writePidFile(pid);
    this.tailLog(true);
    this.watchAdopted(pid);
    await this.opts.probe();
    restrictSocket(this.opts.socketPath);
    this.log.info('gobgpd adopted', { pid, socket: this.opts.socketPath, netns: this.opts.netns });
    const verdict = await this.opts.onReady({ pid, restart: false, adopted: true, previousState: true });
    if (verdict === 'replace' && !this.stopping) {
      this.log.info('adopted gobgpd runs other global settings; replacing it', { pid });
      this.stopAdoptedWatch();
      await this.killPid(pid);
      this.adoptedPid = undefined;
      rmSync(this.opts.socketPath, { force: true });
      await this.launch(false, true);
    }
  }

  private watchAdopted(pid: number): void {
    this.stopAdoptedWatch();
    this.adoptedTimer = setInterval(() => {
      if (processAlive(pid)) return;
      this.stopAdoptedWatch();
      const waiters = this.exitWaiters;
      this.exitWaiters = [];
      for (const w of waiters) w();
      if (this.adoptedPid !== pid) return;
      this.adoptedPid = undefined;
      if (this.stopping || !this.started) return;
      this.log.warn('adopted gobgpd exited unexpectedly; restarting', { pid });
      this.opts.onExit?.({ pid, code: null, signal: null });
      this.scheduleRestart();
    }, ADOPTED_POLL_MS);
    this.adoptedTimer.unref?.();
  }

  private stopAdoptedWatch(): void {
    if (this.adoptedTimer) clearInterval(this.adoptedTimer);
    this.adoptedTimer = undefined;
  }

  private spawnChild(): ChildProcess {
    const binary = this.opts.binary ?? 'gobgpd';
    const args = ['--api-hosts', `unix://${this.opts.socketPath}`, '--pprof-disable'];
    const [cmd, argv] = this.opts.netns ? ['ip', ['netns', 'exec', this.opts.netns, binary, ...args]] : [binary, args];
    // A fresh log per gobgpd, opened for appending so cutting it back never leaves a hole.
    writeFileSync(this.logFile, '', { mode: SOCKET_MODE });
    chmodSync(this.logFile, SOCKET_MODE);
    const fd = openSync(this.logFile, 'a');
    try {
      // Own session: a signal to the agent's process group (Ctrl-C, a supervisor
      // stopping the agent) does not take BGP down with it.
      return spawn(cmd, argv, { stdio: ['ignore', fd, fd], detached: true });
    } finally {
      closeSync(fd);
    }
  }

  /** Follows gobgpd's log file and passes its lines on (from the end when adopting). */
  private tailLog(fromEnd: boolean): void {
    if (this.logTimer) clearInterval(this.logTimer);
    this.logRest = '';
    this.logOffset = 0;
    if (fromEnd) {
      try {
        this.logOffset = statSync(this.logFile).size;
      } catch {
        /* no log yet */
      }
    }
    this.logTimer = setInterval(() => this.readLog(), LOG_POLL_MS);
    this.logTimer.unref?.();
  }

  private readLog(): void {
    let size: number;
    try {
      size = statSync(this.logFile).size;
    } catch {
      return;
    }
    if (size < this.logOffset) this.logOffset = 0;
    if (size > this.logOffset) {
      const fd = openSync(this.logFile, 'r');
      try {
        const buf = Buffer.alloc(Math.min(size - this.logOffset, 1024 * 1024));
        const n = readSync(fd, buf, 0, buf.length, this.logOffset);
        this.logOffset += n;
        this.logRest += buf.subarray(0, n).toString('utf8');
      } finally {
        closeSync(fd);
      }
      let i: number;
      while ((i = this.logRest.indexOf('\n')) >= 0) {
        this.logLine(this.logRest.slice(0, i));
        this.logRest = this.logRest.slice(i + 1);
      }
    }
    if (this.logOffset >= LOG_MAX_BYTES) {
      truncateSync(this.logFile, 0);
      this.logOffset = 0;
    }
  }

  private stopTail(): void {
    if (this.logTimer) clearInterval(this.logTimer);
    this.logTimer = undefined;
    this.readLog();
  }

  /** gobgpd logs JSON lines; pass them on at debug (warnings and errors at warn). */
  private logLine(line: string): void {
    if (!line.trim()) return;
    let fields: Record<string, unknown> = { line };
    let level = 'info';
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      level = String(parsed.level ?? 'info');
      const { msg, level: _l, time: _t, ...rest } = parsed;
      fields = { gobgpd: String(msg ?? ''), ...rest };
    } catch {
      /* not JSON: keep the raw line */
    }
    // gobgpd's BMP feed breaks whenever the station it writes to goes: a previous agent's after an
    // adoption, ours while it restarts. The service sees a break of its own feed from its side
    // (the reconnect re-reads the best paths), so gobgpd's view of it is detail, not a warning.
    const bmpFeedBreak = fields.Topic === 'bmp';
    if (!bmpFeedBreak && (level === 'warning' || level === 'warn' || level === 'error' || level === 'fatal' || level === 'panic')) {
      this.log.warn('gobgpd', fields);
    } else {
      this.log.debug('gobgpd', fields);
    }
  }

  private async launch(restart: boolean, previousState: boolean): Promise<void> {
    const child = this.spawnChild();
    this.child = child;
    this.tailLog(false);
    const startedAt = Date.now();
    let spawnError: Error | undefined;
    child.once('error', (e) => {
      spawnError = e;
    });
    child.once('exit', (code, signal) => this.onChildExit(child, startedAt, code, signal));
    if (child.pid !== undefined) this.writePidFile(child.pid);

    const timeoutMs = this.opts.readyTimeoutMs ?? 20_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (spawnError) {
        const bin = this.opts.binary ?? 'gobgpd';
        throw new Error(`cannot start gobgpd (${bin}): ${spawnError.message}`);
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`gobgpd exited before its API answered on ${this.opts.socketPath} (code ${child.exitCode}, signal ${child.signalCode})`);
      }
      if (this.stopping) throw new Error('gobgpd supervisor stopped while starting');
      try {
        await this.opts.probe();
        break;
      } catch (e) {
        if (Date.now() > deadline) {
          throw new Error(`gobgpd API on ${this.opts.socketPath} did not answer within ${timeoutMs} ms: ${(e as Error).message}`);
        }
        await sleep(150);
      }
    }
    // gobgpd makes its socket with the umask's mode: only the agent's user may talk to BGP.
    restrictSocket(this.opts.socketPath);
    this.log.info('gobgpd running', { pid: child.pid, socket: this.opts.socketPath, netns: this.opts.netns, restart });
    await this.opts.onReady({ pid: child.pid!, restart, adopted: false, previousState: restart || previousState });
  }

  private onChildExit(child: ChildProcess, startedAt: number, code: number | null, signal: NodeJS.Signals | null): void {
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const w of waiters) w();
    if (child !== this.child) return;
    if (this.stopping || !this.started) return;
    this.log.warn('gobgpd exited unexpectedly; restarting', { pid: child.pid, code, signal });
    this.opts.onExit?.({ pid: child.pid, code, signal });
    // A process that ran a while earns a fresh backoff; a crash loop backs off.
    if (Date.now() - startedAt > 60_000) this.attempt = 0;
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    const delay = backoffMs(this.attempt++, this.opts.minBackoffMs ?? 500, this.opts.maxBackoffMs ?? 30_000);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      rmSync(this.opts.socketPath, { force: true });
      this.launch(true, true).catch(async (e: Error) => {
        if (this.stopping) return;
        this.log.error('gobgpd restart failed', { error: e.message });
        // The child may still be alive but unusable: kill it; its exit schedules the next try.
        const c = this.child;
        if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        else this.scheduleRestart();
      });
    }, delay);
  }

  private async killChild(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((r) => this.exitWaiters.push(r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), this.opts.stopGraceMs ?? 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops a process that is not our child: SIGTERM, SIGKILL after the grace period, polled until gone. */
  private async killPid(pid: number): Promise<void> {
    const signal = (s: NodeJS.Signals) => {
      try {
        process.kill(pid, s);
      } catch {
        /* already gone */
      }
    };
    signal('SIGTERM');
    const killAt = Date.now() + (this.opts.stopGraceMs ?? 5000);
    let killed = false;
    while (processAlive(pid)) {
      if (!killed && Date.now() >= killAt) {
        signal('SIGKILL');
        killed = true;
      }
      await sleep(50);
    }
  }

  /** Stops gobgpd (SIGTERM, then SIGKILL after the grace period) and any pending restart. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.started = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.stopAdoptedWatch();
    if (this.adoptedPid !== undefined) await this.killPid(this.adoptedPid);
    this.adoptedPid = undefined;
    await this.killChild();
    this.child = undefined;
    this.stopTail();
    rmSync(this.opts.socketPath, { force: true });
    // A clean stop leaves nothing to adopt and no state to recover.
    rmSync(this.pidFile, { force: true });
  }
}
