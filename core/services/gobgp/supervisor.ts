/**
 * Supervises one gobgpd child process: starts it with its API on a unix
 * socket, waits until the API answers, restarts it with exponential backoff
 * when it exits unexpectedly, and stops it by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '@krouter/sdk';

export interface SupervisorOptions {
  logger: Logger;
  socketPath: string;
  /** gobgpd binary; default `gobgpd` from PATH. */
  binary?: string;
  /** Run gobgpd inside this named network namespace (`ip netns exec`). */
  netns?: string;
  /** Probes the API; resolves when it answers (e.g. a GetBgp call with a short deadline). */
  probe: () => Promise<void>;
  /** Called each time a gobgpd process is up and its API answers (first start and every restart). */
  onReady: (info: { pid: number; restart: boolean }) => Promise<void>;
  /** Called when gobgpd exits unexpectedly, before the restart is scheduled. */
  onExit?: (info: { pid: number | undefined; code: number | null; signal: NodeJS.Signals | null }) => void;
  readyTimeoutMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  stopGraceMs?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

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

export class GobgpdSupervisor {
  private child?: ChildProcess;
  private stopping = false;
  private started = false;
  private attempt = 0;
  private restartTimer?: NodeJS.Timeout;
  private exitWaiters: Array<() => void> = [];
  private readonly log: Logger;

  constructor(private readonly opts: SupervisorOptions) {
    this.log = opts.logger;
  }

  /** PID of the running gobgpd (with netns, `ip netns exec` execs gobgpd, so this is gobgpd itself). */
  get pid(): number | undefined {
    return this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** Starts gobgpd and waits until its API answers and onReady has run. Throws on the first failure. */
  async start(): Promise<void> {
    if (this.started) return;
    this.stopping = false;
    const socketPath = this.opts.socketPath;
    const dir = path.dirname(socketPath);
    // The socket is the whole control plane of BGP: keep its directory private.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    let exists = false;
    try {
      exists = statSync(socketPath) !== undefined;
    } catch {
      exists = false;
    }
    if (exists) {
      if (await socketIsLive(socketPath)) {
        throw new Error(
          `gobgp socket ${socketPath} is held by another live process (another gobgpd?); ` +
            'stop it or choose another socket path',
        );
      }
      // A stale socket of a gobgpd that died: gobgpd cannot bind while it exists.
      rmSync(socketPath, { force: true });
    }
    this.started = true;
    try {
      await this.launch(false);
    } catch (e) {
      this.started = false;
      await this.killChild();
      throw e;
    }
  }

  private spawnChild(): ChildProcess {
    const binary = this.opts.binary ?? 'gobgpd';
    const args = ['--api-hosts', `unix://${this.opts.socketPath}`, '--pprof-disable'];
    const [cmd, argv] = this.opts.netns ? ['ip', ['netns', 'exec', this.opts.netns, binary, ...args]] : [binary, args];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [child.stdout, child.stderr]) {
      let buf = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          this.logLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    }
    return child;
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
    if (level === 'warning' || level === 'warn' || level === 'error' || level === 'fatal' || level === 'panic') {
      this.log.warn('gobgpd', fields);
    } else {
      this.log.debug('gobgpd', fields);
    }
  }

  private async launch(restart: boolean): Promise<void> {
    const child = this.spawnChild();
    this.child = child;
    const startedAt = Date.now();
    let spawnError: Error | undefined;
    child.once('error', (e) => {
      spawnError = e;
    });
    child.once('exit', (code, signal) => this.onChildExit(child, startedAt, code, signal));

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
    this.log.info('gobgpd running', { pid: child.pid, socket: this.opts.socketPath, netns: this.opts.netns, restart });
    await this.opts.onReady({ pid: child.pid!, restart });
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
      this.launch(true).catch(async (e: Error) => {
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

  /** Stops gobgpd (SIGTERM, then SIGKILL after the grace period) and any pending restart. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.started = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    await this.killChild();
    this.child = undefined;
    rmSync(this.opts.socketPath, { force: true });
  }
}
