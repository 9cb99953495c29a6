/**
 * Time to enforce a NetworkPolicy, seen from a client that probes one
 * target in a tight loop (one TCP connection per probe, each a new flow, so
 * an implementation that judges only a connection's first packet, as
 * kube-network-policies does, judges every probe). The loop records when
 * each probe started and whether it reached the target; the pure functions
 * below turn that timeline into figures. A probe's start is when its first
 * packet left, so the first denied probe's start bounds the moment the
 * policy took hold from above, within one probe's duration.
 */
import { controlRequest } from '../lab/kubelet/control.ts';
import type { Probe, ProbeResult } from '../lab/prober.ts';

export interface ProbeSample {
  /** ms (Date.now()) when the probe was sent. */
  start: number;
  /** ms when its answer or its timeout came. */
  end: number;
  ok: boolean;
}

/**
 * ms from `t0` to the start of the first probe sent at or after `t0` that did
 * not reach the target; undefined when every such probe reached it.
 */
export function firstDeniedAfter(samples: readonly ProbeSample[], t0: number): number | undefined {
  const s = samples.find((x) => x.start >= t0 && !x.ok);
  return s === undefined ? undefined : s.start - t0;
}

export interface PodEnforcement {
  /** ms from the pod's creation to the start of the first probe that was denied and stayed denied. */
  enforcedMs: number;
  /** Probes that reached the pod although its policy isolates it. */
  leaked: number;
  /** ms between the first and the last probe that reached it (0 when none did). */
  openMs: number;
}

/**
 * A pod created at `t0` under a policy that isolates it, probed from the
 * moment its address existed until well after it was serving: it counts as
 * enforced from the first denied probe after the last probe that reached it
 * (from the first probe at all when none did: it was never reachable).
 * Undefined when the last probe still reached it (never enforced).
 */
export function podEnforcement(samples: readonly ProbeSample[], t0: number): PodEnforcement | undefined {
  if (samples.length === 0) return undefined;
  let lastOk = -1;
  let firstOk = -1;
  samples.forEach((s, i) => {
    if (!s.ok) return;
    if (firstOk < 0) firstOk = i;
    lastOk = i;
  });
  const denied = samples[lastOk + 1];
  if (denied === undefined) return undefined;
  return {
    enforcedMs: denied.start - t0,
    leaked: samples.filter((s) => s.ok).length,
    openMs: firstOk < 0 ? 0 : samples[lastOk]!.start - samples[firstOk]!.start,
  };
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * Probes `probe` from the pod (or prober) behind control socket `socket`,
 * one at a time, until `done(samples)` says so; `onSample` sees each sample
 * as it lands (to act between probes, e.g. create a policy).
 */
export async function probeLoop(socket: string, probe: Probe, done: (samples: readonly ProbeSample[]) => boolean, onSample?: (s: ProbeSample, all: readonly ProbeSample[]) => Promise<void> | void): Promise<ProbeSample[]> {
  const samples: ProbeSample[] = [];
  while (!done(samples)) {
    const start = Date.now();
    const res = (await controlRequest(socket, { probe }, (probe.timeoutMs ?? 1000) + 5000)) as ProbeResult;
    const s = { start, end: Date.now(), ok: res.ok };
    samples.push(s);
    await onSample?.(s, samples);
  }
  return samples;
}
