import type { NetlinkOp, OpError } from '@krouter/sdk';
import { MARKER_LINE } from './batch-output.ts';
import type { BatchOutcome } from './batch-process.ts';
import { renderOp, type Channel } from './render.ts';

/**
 * Pure planning of an apply(): ops -> batch lines per process, and the
 * mapping of ip's per-line results back to op indexes.
 */

export interface PlannedLine {
  text: string;
  /** Index of the op in apply()'s array; -1 for a checkpoint marker. */
  opIndex: number;
}

export interface Segment {
  channel: Channel;
  /** Every line may run alongside the other channel's concurrent lines (see RenderedOp.concurrent). */
  concurrent: boolean;
  lines: PlannedLine[];
}

export interface Plan {
  segments: Segment[];
  /** Ops refused before reaching ip (validation). */
  errors: OpError[];
}

const checkpoint = (): PlannedLine => ({ text: MARKER_LINE, opIndex: -1 });

/**
 * Renders ops[from..to) (indexes stay those of `ops`); consecutive ops for
 * the same process and of the same concurrency form one segment.
 */
export function planBatch(ops: readonly NetlinkOp[], from = 0, to = ops.length): Plan {
  const segments: Segment[] = [];
  const errors: OpError[] = [];
  for (let index = from; index < to; index++) {
    const op = ops[index]!;
    let rendered;
    try {
      rendered = renderOp(op);
    } catch (e) {
      errors.push({ index, op, message: (e as Error).message });
      continue;
    }
    let seg = segments.at(-1);
    const concurrent = rendered.concurrent === true;
    if (!seg || seg.channel !== rendered.channel || seg.concurrent !== concurrent) {
      segments.push((seg = { channel: rendered.channel, concurrent, lines: [] }));
    }
    if (rendered.fatalOnError) {
      // Fenced by markers on both sides, so if ip exits here we know it was this op.
      seg.lines.push(checkpoint(), { text: rendered.line, opIndex: index }, checkpoint());
    } else {
      seg.lines.push({ text: rendered.line, opIndex: index });
    }
  }
  return { segments, errors };
}

export interface Interpretation {
  errors: OpError[];
  /** Continue with lines.slice(resumeFrom) on a new process (ip exited on one identified op). */
  resumeFrom?: number;
  /** ip exited where the failing op cannot be identified: the rest of the batch has an unknown outcome. */
  fatal?: { reason: string; firstUnconfirmedOp: number; lastOp: number };
}

function describeOp(op: NetlinkOp, line: string): string {
  return `${op.op} (ip: ${line})`;
}

/** Maps one run's outcome back to ops. */
export function interpretOutcome(lines: readonly PlannedLine[], outcome: BatchOutcome, ops: readonly NetlinkOp[]): Interpretation {
  const errors: OpError[] = [];
  let progress = -1;
  for (const [i, message] of outcome.failed) {
    progress = Math.max(progress, i);
    const l = lines[i];
    if (!l || l.opIndex < 0) continue;
    errors.push({ index: l.opIndex, op: ops[l.opIndex]!, message: `${describeOp(ops[l.opIndex]!, l.text)}: ${message}` });
  }
  if (!outcome.exited) return { errors };

  // Everything up to the last reported failure was processed; successful
  // lines leave no trace, so ip stopped somewhere between there and the next
  // marker. When exactly one op lies in that gap, it is the one ip stopped on.
  const next = progress + 1;
  let gapEnd = next;
  while (gapEnd < lines.length && lines[gapEnd]!.opIndex >= 0) gapEnd++;
  if (!outcome.exited.bySignal && gapEnd - next === 1) {
    const l = lines[next]!;
    errors.push({
      index: l.opIndex,
      op: ops[l.opIndex]!,
      message: `${describeOp(ops[l.opIndex]!, l.text)}: ${outcome.exited.reason}`,
    });
    return { errors, resumeFrom: gapEnd };
  }
  const unconfirmed = lines.slice(next).filter((l) => l.opIndex >= 0);
  if (unconfirmed.length === 0) return { errors }; // everything was processed; only the end marker was lost
  return {
    errors,
    fatal: { reason: outcome.exited.reason, firstUnconfirmedOp: unconfirmed[0]!.opIndex, lastOp: unconfirmed.at(-1)!.opIndex },
  };
}
