import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '@krouter/sdk';
import { BatchStderrReader, MARKER_LINE } from './batch-output.ts';

export interface BatchOutcome {
  /** Index (into the lines given to run()) -> ip's message, for each line that failed. */
  failed: Map<number, string>;
  /** Set when the process ended before the end marker was reached. */
  exited?: { reason: string; bySignal: boolean };
}

interface InFlight {
  child: ChildProcess;
  /** Cumulative line number of the run's first line. */
  first: number;
  /** Cumulative line number of the end marker; Infinity until finish(). */
  marker: number;
  failed: Map<number, string>;
  /** The outcome is known (marker seen, or the child ended); later output is ignored. */
  settled: boolean;
  outcome: Promise<BatchOutcome>;
  resolve(outcome: BatchOutcome): void;
  reject(error: Error): void;
}

/**
 * One long-lived `ip -force -batch -` child. Not re-entrant: the caller
 * serialises run() calls. A dead child is replaced on the next run().
 */
export class IpBatchProcess {
  private child: ChildProcess | undefined;
  private linesRead = 0;
  private inFlight: InFlight | undefined;

  constructor(
    private readonly ipBinary: string,
    private readonly args: readonly string[],
    private readonly logger: Logger,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private start(): ChildProcess {
    const child = spawn(this.ipBinary, [...this.args, '-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    const reader = new BatchStderrReader();
    this.linesRead = 0;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => this.onStderr(child, reader, chunk));
    child.stdin!.on('error', () => undefined); // EPIPE when the child died; reported by 'close'
    child.on('error', (e) => {
      if (this.child === child) this.child = undefined;
      const f = this.inFlight;
      if (f?.child !== child || f.settled) return;
      f.settled = true;
      f.reject(new Error(`${this.ipBinary} ${this.args.join(' ')} -batch: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (this.child === child) this.child = undefined;
      const reason = [signal ? `killed by ${signal}` : `exited with code ${code}`, reader.unfinished()]
        .filter(Boolean)
        .join(': ');
      this.logger.debug('ip batch process ended', { pid: child.pid, reason });
      const f = this.inFlight;
      if (f?.child !== child || f.settled) return;
      f.settled = true;
      f.resolve({ failed: f.failed, exited: { reason, bySignal: signal !== null } });
    });
    this.logger.debug('ip batch process started', { pid: child.pid, args: this.args });
    return child;
  }

  private onStderr(child: ChildProcess, reader: BatchStderrReader, chunk: string): void {
    for (const failure of reader.feed(chunk)) {
      const f = this.inFlight;
      if (!f || f.child !== child || f.settled || failure.line < f.first) {
        this.logger.debug('ip batch: failure outside a batch', { ...failure });
        continue;
      }
      if (failure.line === f.marker) {
        f.settled = true;
        f.resolve({ failed: f.failed });
      } else if (failure.line < f.marker) {
        f.failed.set(failure.line - f.first, failure.message);
      }
    }
  }

  /**
   * Starts a run: lines given to write() until finish() form one unit whose
   * failures are reported by index. Writes do not wait: ip works on the first
   * lines while the caller renders the next ones.
   */
  begin(): void {
    if (this.inFlight) throw new Error('ip batch process is busy (runs must be serialised)');
    const child = this.child ?? (this.child = this.start());
    let resolve!: (o: BatchOutcome) => void;
    let reject!: (e: Error) => void;
    const outcome = new Promise<BatchOutcome>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    outcome.catch(() => undefined); // observed by finish()
    this.inFlight = { child, first: this.linesRead + 1, marker: Infinity, failed: new Map(), settled: false, outcome, resolve, reject };
  }

  /** Writes lines (none may contain a newline) of the current run. */
  write(lines: readonly string[]): void {
    const f = this.inFlight;
    if (!f) throw new Error('ip batch process: write() outside begin()/finish()');
    if (lines.length === 0) return;
    this.linesRead += lines.length;
    f.child.stdin!.write(`${lines.join('\n')}\n`);
  }

  /** Writes the end marker and waits until ip has processed every line of the run (or exited). */
  finish(): Promise<BatchOutcome> {
    const f = this.inFlight;
    if (!f) return Promise.reject(new Error('ip batch process: finish() without begin()'));
    f.marker = ++this.linesRead;
    f.child.stdin!.write(`${MARKER_LINE}\n`);
    const clear = () => {
      if (this.inFlight === f) this.inFlight = undefined;
    };
    return f.outcome.then(
      (o) => (clear(), o),
      (e: unknown) => {
        clear();
        throw e;
      },
    );
  }

  /** One run of the given lines. */
  run(lines: readonly string[]): Promise<BatchOutcome> {
    this.begin();
    this.write(lines);
    return this.finish();
  }

  /** Ends the child: closes its input (ip exits at EOF), SIGKILL after a grace period. */
  async close(graceMs = 2000): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await closed;
    clearTimeout(timer);
  }
}
