/**
 * Lab start-up per family mode with warm Kubernetes binaries: `lab up` of 3
 * nodes with BIRD, from the command to a converged cluster (agents Ready,
 * pod routes everywhere). Raw: the part of it that is Kubernetes' own, the
 * control plane's step (certificates, etcd, kube-apiserver to /readyz,
 * controller manager and scheduler started), read from `up`'s step times.
 */
import { withLab } from '../lab/testing.ts';
import type { BenchRow } from './run.ts';

/** Seconds at which each numbered step of `up` started, and the total. */
export function stepTimes(out: string): { steps: Map<number, number>; total: number } {
  const steps = new Map<number, number>();
  for (const m of out.matchAll(/^\[(\d+)\/\d+\] \+([\d.]+) s /gm)) steps.set(Number(m[1]), Number(m[2]));
  const total = Number(/done in ([\d.]+) s/.exec(out)?.[1] ?? NaN);
  return { steps, total };
}

async function mode(family: 'ipv4' | 'ipv6' | 'dual'): Promise<BenchRow> {
  return withLab(`krlab-bench-up-${family}-`, ['--family', family, '--nodes', '3', '--router', 'bird'], async (_dir, out) => {
    const { steps, total } = stepTimes(out);
    // Step 4 is the control plane, step 5 the kubelets.
    const controlPlane = (steps.get(5) ?? NaN) - (steps.get(4) ?? NaN);
    return { benchmark: `lab up, 3 nodes + BIRD, warm binaries (${family}); raw: its control-plane step`, krouter: total, raw: controlPlane, unit: 's' };
  });
}

export default async function labUp(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const family of ['ipv4', 'ipv6', 'dual'] as const) rows.push(await mode(family));
  return rows;
}
