/**
 * Lab pod start-up: time from `kubectl create` of 50 pods (no nodeName: the
 * scheduler spreads them over 3 nodes) to all Ready, per family mode, as
 * pods per second. Raw: the same number of `ip netns add` + bare CNI ADD
 * chains (the same conflist, the same plugins, the same parallelism) in the
 * same lab's node namespaces, without API server, kubelet or test servers.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadLabState, nodeNetns, nodePaths, type LabSpec } from '../lab/config.ts';
import { labClient, podReady } from '../lab/api.ts';
import { R } from '../lab/kube.ts';
import { cniAdd, cniDel, parseConflist } from '../lab/kubelet/cni.ts';
import { nodeCniMounts } from '../lab/kubelet/runtime.ts';
import { labCli, withLab } from '../lab/testing.ts';
import { testPod } from '../lab/workloads.ts';
import type { BenchRow } from './run.ts';

const PODS = 50;
const NODES = 3;
/** The kubelet's default per-node parallelism, used for raw too. */
const PER_NODE = 6;


async function until(what: string, fn: () => Promise<boolean>, limitMs = 300_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function pool<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

/** 50 × (ip netns add + CNI ADD chain), PER_NODE at a time on each node; then cleaned up (not timed). */
async function raw(spec: LabSpec): Promise<number> {
  const lists = spec.nodes.map((n) => parseConflist(readFileSync(nodePaths(spec, n).cniConfPath, 'utf8'), n));
  const jobs = Array.from({ length: PODS }, (_, i) => ({ i, node: i % spec.nodes.length }));
  // Named like kubelet pod namespaces and recorded where the kubelet records them, so `lab down` removes them after a crash.
  const netns = (i: number) => `krlab-p-${(0xbe000000 + i).toString(16)}`;
  writeFileSync(path.join(nodePaths(spec, spec.nodes[0]!).podsDir, 'bench-raw.json'), JSON.stringify(jobs.map((j) => netns(j.i))));
  const inv = (i: number) => ({ containerId: `bench-${i}`, netnsPath: `/var/run/netns/${netns(i)}`, ifName: 'eth0', args: {}, runtimeConfig: {} });
  const t0 = performance.now();
  await Promise.all(spec.nodes.map((_, n) => pool(jobs.filter((j) => j.node === n), PER_NODE, async ({ i }) => {
    execFileSync('ip', ['netns', 'add', netns(i)]);
    await cniAdd(nodeNetns(spec.nodes[n]!), lists[n]!, inv(i), nodeCniMounts(spec.stateDir, nodePaths(spec, spec.nodes[n]!).root));
  })));
  const secs = (performance.now() - t0) / 1000;
  // Cleanup is not timed.
  await Promise.all(spec.nodes.map((_, n) => pool(jobs.filter((j) => j.node === n), PER_NODE, async ({ i }) => {
    await cniDel(nodeNetns(spec.nodes[n]!), lists[n]!, inv(i), undefined, nodeCniMounts(spec.stateDir, nodePaths(spec, spec.nodes[n]!).root));
    execFileSync('ip', ['netns', 'delete', netns(i)]);
  })));
  return PODS / secs;
}

export async function mode(family: LabSpec['family']): Promise<BenchRow> {
  return withLab(`krlab-bench-${family}-`, ['--family', family, '--nodes', String(NODES), '--router', 'none'], async (stateDir) => {
    const spec = loadLabState(stateDir)!.spec;
    const client = labClient(spec);
    await until('Ready nodes', async () => (await client.list(R.nodes)).items.filter((n) => n.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True')).length === NODES, 60_000);
    await client.create(R.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
    const file = path.join(stateDir, 'bench-pods.json');
    const pods = Array.from({ length: PODS }, (_, i) => testPod({ name: `bench-${i}`, namespace: 'bench' }));
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }));
    const t0 = performance.now();
    labCli(stateDir, ['kubectl', '--', 'create', '--validate=false', '-f', file]);
    await until('all pods Ready', async () => {
      const items = (await client.list(R.pods, { namespace: 'bench' })).items;
      return items.length === PODS && items.every((p) => podReady(p as never));
    });
    const labRate = PODS / ((performance.now() - t0) / 1000);
    labCli(stateDir, ['kubectl', '--', 'delete', 'namespace', 'bench']);
    // The agents' pods stay: only the bench pods' records must be gone.
    await until('pod records gone', async () => spec.nodes.every((n) => readdirSync(nodePaths(spec, n).podsDir).length === 1));
    const rawRate = await raw(spec);
    return { benchmark: `lab: ${PODS} pods on ${NODES} nodes to Ready (${family})`, krouter: labRate, raw: rawRate, unit: 'pods/s', target: 'higher is better' };
  });
}

export default async function labPods(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const family of ['ipv4', 'ipv6', 'dual'] as const) rows.push(await mode(family));
  return rows;
}
