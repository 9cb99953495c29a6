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
  /** Cumulative line number of lines[0]. */
  first: number;
  marker: number;
  failed: Map<number, string>;
  resolve(outcome: BatchOutcome): void;
  reject(error: Error): void;
}

/**
 * One long-lived `ip -force -batch -` child. Not re-entrant: the caller
 * serialises run() calls. A dead child is replaced on the next run().
 */
export class IpBatchProcess {
  private child: ChildProcess | undefined;
  private reader = new BatchStderrReader();
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
    this.reader = new BatchStderrReader();
    this.linesRead = 0;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => this.onStderr(chunk));
    child.stdin!.on('error', () => undefined); // EPIPE when the child died; reported by 'close'
    child.on('error', (e) => {
      if (this.child === child) this.child = undefined;
      const f = this.inFlight;
      this.inFlight = undefined;
      f?.reject(new Error(`${this.ipBinary} ${this.args.join(' ')} -batch: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      if (this.child === child) this.child = undefined;
      const reason = [signal ? `killed by ${signal}` : `exited with code ${code}`, this.reader.unfinished()]
        .filter(Boolean)
        .join(': ');
      this.logger.debug('ip batch process ended', { pid: child.pid, reason });
      const f = this.inFlight;
      this.inFlight = undefined;
      f?.resolve({ failed: f.failed, exited: { reason, bySignal: signal !== null } });
    });
    this.logger.debug('ip batch process started', { pid: child.pid, args: this.args });
    return child;
  }

  private onStderr(chunk: string): void {
    for (const failure of this.reader.feed(chunk)) {
      const f = this.inFlight;
      if (!f || failure.line < f.first) {
        this.logger.debug('ip batch: failure outside a batch', { ...failure });
        continue;
      }
      if (failure.line === f.marker) {
        this.inFlight = undefined;
        f.resolve({ failed: f.failed });
      } else if (failure.line < f.marker) {
        f.failed.set(failure.line - f.first, failure.message);
      }
    }
  }

  /** Writes all lines (none may contain a newline) plus the end marker in one write. */
  run(lines: readonly string[]): Promise<BatchOutcome> {
    if (this.inFlight) return Promise.reject(new Error('ip batch process is busy (run() calls must be serialised)'));
    const child = this.child ?? (this.child = this.start());
    const first = this.linesRead + 1;
    const marker = first + lines.length;
    this.linesRead = marker;
    return new Promise<BatchOutcome>((resolve, reject) => {
      this.inFlight = { first, marker, failed: new Map(), resolve, reject };
      const text = lines.length ? `${lines.join('\n')}\n${MARKER_LINE}\n` : `${MARKER_LINE}\n`;
      child.stdin!.write(text);
    });
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
