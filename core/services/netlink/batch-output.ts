/**
 * Pure reading of an `ip -force -batch -` process's stderr.
 *
 * ip reports a failed line as one or more message lines followed by
 * `Command failed -:N`, where N counts every line the process has read since
 * it started (1-based). Successful lines print nothing on stderr. A line
 * that can never succeed (showing a device whose name is longer than the
 * kernel allows) is used as a marker: its `Command failed` line tells that
 * everything written before it has been processed, and because both come
 * through the same stream no error of an earlier line can arrive after it.
 */

/** A device name longer than IFNAMSIZ-1, so `link show dev` of it always fails. */
export const MARKER_LINE = 'link show dev krouter-end-of-batch';

const FAILED_RE = /^Command failed -:(\d+)\s*$/;

export interface LineFailure {
  /** Cumulative 1-based input line number. */
  line: number;
  /** The message lines ip printed before `Command failed`, joined. */
  message: string;
}

/** Splits stderr chunks into failures; keeps unterminated text for the next chunk. */
export class BatchStderrReader {
  private partial = '';
  private pending: string[] = [];

  /** Feeds a chunk; returns the failures completed by it, in order. */
  feed(chunk: string): LineFailure[] {
    const text = this.partial + chunk;
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    const out: LineFailure[] = [];
    for (const raw of lines) {
      const line = raw.trimEnd();
      if (!line) continue;
      const m = FAILED_RE.exec(line);
      if (m) {
        out.push({ line: Number(m[1]), message: this.pending.join('; ') || 'failed (no message from ip)' });
        this.pending = [];
      } else {
        this.pending.push(line);
      }
    }
    return out;
  }

  /** Message lines not (yet) followed by `Command failed`: what ip said before exiting. */
  unfinished(): string {
    return [...this.pending, this.partial.trim()].filter(Boolean).join('; ');
  }
}
