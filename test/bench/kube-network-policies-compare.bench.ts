/**
 * Side by side with kube-network-policies v0.8.0 (NetworkPolicy enforced in
 * user space through NFQUEUE; built from the Go module proxy by
 * anchors/kube-network-policies/build.sh on first use). Each side gets a
 * lab of its own, one after the other, alike but for the enforcer: IPv4, 3
 * nodes, the real API server; the krouter side runs the agents' cni,
 * router, service-proxy and firewall plugins, the other side the same
 * agents without the firewall plus kube-network-policies in every node's
 * namespace. Measured per side, raw = kube-network-policies:
 *
 *  - NetworkPolicy created -> first denied probe: a client pod on node-2
 *    probes a pod on node-1 over TCP in a tight loop (one new connection per
 *    probe); a deny-all-ingress policy selecting the target is created; the
 *    time to the first probe that does not get through. Median of ROUNDS.
 *  - pod created under a deny-all policy -> enforced: the client probes the
 *    new pod from the moment its address exists until 2 s after it is Ready;
 *    enforced from the first denied probe after the last one that got
 *    through (see enforcement.ts). Median of ROUNDS; the probes that got
 *    through (the policy says none may) and for how long a pod answered.
 *  - iperf3 (TCP, 5 s) between pods on node-2 and node-1 with 1,000
 *    policies selecting the server (firewall-throughput's generator; the one
 *    admitting the client created last, so it is in force only once all
 *    are), as a share of the unpoliced figure of the same lab.
 *
 * On a kernel without the nftables queue expression kube-network-policies
 * cannot enforce anything (its rules do not load): the bench says so,
 * measures the krouter side alone and leaves the raw column NaN.
 * KROUTER_BENCH_KNP_ROUNDS (default 5) sets the rounds;
 * KROUTER_BENCH_KNP_IGNORE_KERNEL=1 runs it on such a kernel anyway: its
 * failure (its own log) is printed, and krouter is still measured.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { labClient, podIPsByFamily, podReady } from '../lab/api.ts';
import { nodeNetns, nodePaths, podNetnsName, type LabSpec } from '../lab/config.ts';
import { R, type KubeClient, type Obj } from '../lab/kube.ts';
import { podSocketPath } from '../lab/kubelet/runtime.ts';
import { loadLabState } from '../lab/state.ts';
import { until, withLab } from '../lab/testing.ts';
import { DEMO_TCP_PORT, testPod } from '../lab/workloads.ts';
import { startProcess, stopProcess } from '../helpers/processes.ts';
import { requireRoot } from '../helpers/netns.ts';
import { KNP_TABLE, knpBinary, knpKernelBlocker, startKnp, type KnpRun } from './anchors/kube-network-policies/anchor.ts';
import { firstDeniedAfter, median, podEnforcement, probeLoop, type ProbeSample } from './enforcement.ts';
import type { BenchRow } from './run.ts';
import { NP, throughputPolicies } from './throughput-policies.ts';

const ROUNDS = Number(process.env.KROUTER_BENCH_KNP_ROUNDS ?? 5);
const POLICIES = 1000;
const IPERF_PORT = 5201;
/** Pods of the enforcement rounds: the client, the target of policy creation. */
const NS_ENF = 'enf';
/** New pods are created here, under a deny-all policy. */
const NS_NEW = 'enf-new';
/** The throughput pods and their policies. */
const NS_TP = 'tp';
/** A denied probe waits this long; an allowed one answers within a few ms. */
const PROBE_TIMEOUT_MS = 250;
/** A round that sees no denial within this long counts as never enforced. */
const ENFORCE_LIMIT_MS = 30_000;

type SideName = 'krouter' | 'kube-network-policies';

interface SideResult {
  /** Per round; NaN = not enforced within ENFORCE_LIMIT_MS. */
  policyMs: number[];
  podMs: number[];
  leaked: number;
  /** Per round: ms between the first and the last probe that reached the new pod. */
  openMs: number[];
  unpoliced: number[];
  policed: number[];
}

const deny = (ns: string, name: string, podSelector: Record<string, unknown>): Obj =>
  ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec: { podSelector, policyTypes: ['Ingress'] } }) as Obj;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Each phase's figures as they come, so a later failure does not lose them. */
const say = (line: string) => process.stderr.write(`${line}\n`);
const gbit = (bps: number) => (bps / 1e9).toFixed(2);

/** The client pod's control socket: probes run from inside it. */
const socketOf = (spec: LabSpec, ns: string, name: string) => podSocketPath(spec, podNetnsName(ns, name));

async function podIP(client: KubeClient, ns: string, name: string): Promise<string> {
  return until(`${ns}/${name} Ready`, async () => {
    const p = await client.tryGet(R.pods, ns, name);
    return p && podReady(p) ? podIPsByFamily(p).ipv4 : undefined;
  }, 120_000, 250);
}

/** Until `host` answers a probe from the client (after a round, the target is open again). */
async function untilReachable(spec: LabSpec, host: string): Promise<void> {
  await probeLoop(socketOf(spec, NS_ENF, 'client'), { host, port: DEMO_TCP_PORT, proto: 'tcp', timeoutMs: PROBE_TIMEOUT_MS }, (s) => {
    if (s.length > 0 && s[s.length - 1]!.ok) return true;
    if (s.length > 0 && Date.now() - s[0]!.start > 60_000) throw new Error(`${host} not reachable again within 60 s`);
    return false;
  });
}

/** One round: the target probed, a deny-all policy for it created after a few answered probes; ms to the first denied probe. */
async function policyRound(spec: LabSpec, client: KubeClient, targetIP: string, round: number): Promise<number> {
  await untilReachable(spec, targetIP);
  let t0 = 0;
  let created: Promise<unknown> | undefined;
  const samples = await probeLoop(
    socketOf(spec, NS_ENF, 'client'),
    { host: targetIP, port: DEMO_TCP_PORT, proto: 'tcp', timeoutMs: PROBE_TIMEOUT_MS },
    (s) => t0 > 0 && (firstDeniedAfter(s, t0) !== undefined || Date.now() - t0 > ENFORCE_LIMIT_MS),
    (_s, all) => {
      // Five answered probes in a row, then the policy: not awaited, the loop goes on probing meanwhile.
      if (t0 === 0 && all.length >= 5 && all.slice(-5).every((x) => x.ok)) {
        t0 = Date.now();
        created = client.create(NP, deny(NS_ENF, `deny-${round}`, { matchLabels: { app: 'target' } }));
      }
    },
  );
  await created;
  await client.delete(NP, NS_ENF, `deny-${round}`);
  return firstDeniedAfter(samples, t0) ?? NaN;
}

/** The kubelet writes a pod's addresses to its record right after CNI ADD, before the pod is Ready. */
function recordedIP(spec: LabSpec, node: string, ns: string, name: string): string | undefined {
  const record = path.join(nodePaths(spec, node).podsDir, `${podNetnsName(ns, name)}.json`);
  if (!existsSync(record)) return undefined;
  try {
    return (JSON.parse(readFileSync(record, 'utf8')) as { ips?: { ipv4?: string } }).ips?.ipv4;
  } catch {
    return undefined;
  }
}

/** One round: a pod created under deny-all on node-1 and probed from its first address on; enforcement time and probes that got through. */
async function podRound(spec: LabSpec, client: KubeClient, round: number): Promise<{ ms: number; leaked: number; openMs: number }> {
  const node = spec.nodes[0]!;
  const name = `new-${round}`;
  const t0 = Date.now();
  await client.create(R.pods, testPod({ name, namespace: NS_NEW, nodeName: node, labels: { app: 'new' } }) as Obj);
  const ip = await until(`${NS_NEW}/${name}'s address`, () => recordedIP(spec, node, NS_NEW, name), 60_000, 5);
  let readyAt = 0;
  const watch = until(`${NS_NEW}/${name} Ready`, async () => (podReady(await client.get(R.pods, NS_NEW, name)) ? true : undefined), 60_000, 100).then(() => (readyAt = Date.now()));
  let samples: ProbeSample[];
  try {
    samples = await probeLoop(socketOf(spec, NS_ENF, 'client'), { host: ip, port: DEMO_TCP_PORT, proto: 'tcp', timeoutMs: PROBE_TIMEOUT_MS }, () => readyAt > 0 && Date.now() - readyAt > 2000);
  } finally {
    await watch.catch(() => undefined);
    await client.delete(R.pods, NS_NEW, name, { gracePeriodSeconds: 0 });
  }
  await until(`${NS_NEW}/${name} gone`, async () => ((await client.tryGet(R.pods, NS_NEW, name)) ? undefined : true), 60_000, 200);
  const e = podEnforcement(samples, t0);
  return { ms: e?.enforcedMs ?? NaN, leaked: samples.filter((s) => s.ok).length, openMs: e?.openMs ?? NaN };
}

function iperf(spec: LabSpec, serverIP: string, seconds = 5): number {
  const out = execFileSync('ip', ['netns', 'exec', podNetnsName(NS_TP, 'client'), 'iperf3', '-c', serverIP, '-p', String(IPERF_PORT), '-t', String(seconds), '--connect-timeout', '1000', '-J'], { encoding: 'utf8', timeout: 60_000 });
  return (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
}

const reachable = (spec: LabSpec, serverIP: string) => {
  try {
    return iperf(spec, serverIP, 1) > 0;
  } catch {
    return false;
  }
};

/** Whether a side still holds any policy's state for the server's node (after the policies were deleted). */
function policyStateLeft(side: SideName, node: string): boolean {
  const ns = nodeNetns(node);
  if (side === 'krouter') return /chain ing-/.test(execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'chains', 'inet'], { encoding: 'utf8' }));
  try {
    return /elements = /.test(execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'set', KNP_TABLE.family, KNP_TABLE.name, 'podips-v4'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    return false;
  }
}

async function throughput(spec: LabSpec, client: KubeClient, side: SideName): Promise<{ unpoliced: number[]; policed: number[] }> {
  const serverIP = await podIP(client, NS_TP, 'server');
  const srv: ChildProcess = startProcess('ip', ['netns', 'exec', podNetnsName(NS_TP, 'server'), 'iperf3', '-s', '-p', String(IPERF_PORT)], { stdio: 'ignore' });
  try {
    await until('iperf3 server up', () => (reachable(spec, serverIP) ? true : undefined), 30_000, 500);
    // Unpoliced before and after the policed runs, so a change in the machine's load shows in both.
    const unpoliced = [iperf(spec, serverIP), iperf(spec, serverIP)];
    const policies = throughputPolicies(NS_TP, POLICIES, IPERF_PORT, POLICIES - 1);
    for (const p of policies.slice(0, -1)) await client.create(NP, p);
    // Isolated by the first ones, then admitted by the last: every policy is in force.
    await until('the server isolated', () => (reachable(spec, serverIP) ? undefined : true), 300_000, 1000);
    await client.create(NP, policies[policies.length - 1]!);
    await until('the client admitted by the last policy', () => (reachable(spec, serverIP) ? true : undefined), 300_000, 1000);
    const policed = [iperf(spec, serverIP), iperf(spec, serverIP), iperf(spec, serverIP)];
    for (const p of policies) await client.delete(NP, NS_TP, p.metadata.name);
    await until('no policy state left', () => (policyStateLeft(side, spec.nodes[0]!) ? undefined : true), 300_000, 1000);
    unpoliced.push(iperf(spec, serverIP));
    return { unpoliced, policed };
  } finally {
    await stopProcess(srv);
  }
}

async function measureSide(side: SideName, knpBin?: string): Promise<SideResult> {
  const plugins = side === 'krouter' ? 'cni,router,service-proxy,firewall' : 'cni,router,service-proxy';
  return withLab(`krlab-bench-knp-${side === 'krouter' ? 'kr' : 'knp'}-`, ['--family', 'ipv4', '--nodes', '3', '--router', 'none', '--plugins', plugins], async (stateDir) => {
    const spec = loadLabState(stateDir)!.spec;
    const client = labClient(spec);
    let knp: KnpRun | undefined;
    try {
      for (const ns of [NS_ENF, NS_NEW, NS_TP]) await client.create(R.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      const [n1, n2] = spec.nodes;
      await client.create(R.pods, testPod({ name: 'target', namespace: NS_ENF, nodeName: n1, labels: { app: 'target' } }) as Obj);
      await client.create(R.pods, testPod({ name: 'client', namespace: NS_ENF, nodeName: n2, labels: { app: 'client' } }) as Obj);
      await client.create(R.pods, testPod({ name: 'server', namespace: NS_TP, nodeName: n1, labels: { app: 'server' } }) as Obj);
      await client.create(R.pods, testPod({ name: 'client', namespace: NS_TP, nodeName: n2, labels: { app: 'client' } }) as Obj);
      const targetIP = await podIP(client, NS_ENF, 'target');
      await podIP(client, NS_ENF, 'client');
      await podIP(client, NS_TP, 'client');
      if (side === 'kube-network-policies') knp = await startKnp(client, spec, knpBin!);

      const policyMs: number[] = [];
      for (let r = 0; r < ROUNDS; r++) policyMs.push(await policyRound(spec, client, targetIP, r));

      await client.create(NP, deny(NS_NEW, 'deny-all', {}));
      // The policy reaches the enforcer through its watch; give that a moment before the first pod.
      await sleep(2000);
      const podMs: number[] = [];
      const openMs: number[] = [];
      let leaked = 0;
      for (let r = 0; r < ROUNDS; r++) {
        const res = await podRound(spec, client, r);
        podMs.push(res.ms);
        openMs.push(res.openMs);
        leaked += res.leaked;
      }
      // The throughput phase starts from no policy at all.
      await client.delete(NP, NS_NEW, 'deny-all');
      say(`${side}: policy created -> denied ${policyMs.map((x) => x.toFixed(0)).join(', ')} ms; pod created -> enforced ${podMs.map((x) => x.toFixed(0)).join(', ')} ms, ${leaked} probes got through`);

      const tp = await throughput(spec, client, side);
      say(`${side}: iperf3 unpoliced ${tp.unpoliced.map(gbit).join(', ')}, with ${POLICIES} policies ${tp.policed.map(gbit).join(', ')} Gbit/s`);
      return { policyMs, podMs, leaked, openMs, ...tp };
    } finally {
      if (knp) {
        const { leftTables } = await knp.stop();
        if (leftTables.length) process.stderr.write(`kube-network-policies left its table on ${leftTables.join(', ')} after SIGINT; removed\n`);
      }
      await client.close();
    }
  });
}

/** Pure: the table rows from both sides' results (`knp` undefined: blocked for `blocked`). */
export function compareRows(kr: SideResult, knp: SideResult | undefined, blocked?: string): BenchRow[] {
  const raw = (f: (r: SideResult) => number) => (knp ? f(knp) : NaN);
  const share = (r: SideResult) => median(r.policed) / median(r.unpoliced);
  // The reason once, on the first row; the table stays readable.
  const note = (target: string, first = false) => (knp ? target : first ? `kube-network-policies blocked: ${blocked ?? 'not run'}` : 'blocked');
  const p = 'kube-network-policies compare:';
  return [
    { benchmark: `${p} NetworkPolicy created -> first denied probe (median of ${ROUNDS})`, krouter: median(kr.policyMs), raw: raw((r) => median(r.policyMs)), unit: 'ms', target: note('krouter faster', true) },
    { benchmark: `${p} pod created under deny-all -> enforced (median of ${ROUNDS})`, krouter: median(kr.podMs), raw: raw((r) => median(r.podMs)), unit: 'ms', target: note('krouter faster') },
    { benchmark: `${p}   probes that reached those ${ROUNDS} isolated pods`, krouter: kr.leaked, raw: raw((r) => r.leaked), unit: 'probes', target: note('0') },
    { benchmark: `${p}   time one of them answered probes (median)`, krouter: median(kr.openMs), raw: raw((r) => median(r.openMs)), unit: 'ms', target: note('0') },
    { benchmark: `${p} pod-to-pod TCP with ${POLICIES} policies, share of unpoliced (iperf3)`, krouter: share(kr), raw: raw(share), unit: 'x', target: note('krouter higher') },
    { benchmark: `${p}   policed throughput (median of 3)`, krouter: median(kr.policed) / 1e9, raw: raw((r) => median(r.policed) / 1e9), unit: 'Gbit/s' },
    { benchmark: `${p}   unpoliced throughput, same lab (median of 3)`, krouter: median(kr.unpoliced) / 1e9, raw: raw((r) => median(r.unpoliced) / 1e9), unit: 'Gbit/s' },
  ];
}

export default async function kubeNetworkPoliciesCompare(): Promise<BenchRow[]> {
  requireRoot();
  const blocker = knpKernelBlocker();
  if (blocker) process.stderr.write(`kube-network-policies cannot enforce here: ${blocker}; every rule it writes hands packets to NFQUEUE with that expression\n`);
  let knp: SideResult | undefined;
  if (!blocker || process.env.KROUTER_BENCH_KNP_IGNORE_KERNEL === '1') {
    // Built (minutes, once per machine) before any lab is up.
    const bin = knpBinary();
    try {
      knp = await measureSide('kube-network-policies', bin);
    } catch (e) {
      // Where the kernel check said it cannot run, its own failure is the evidence: shown, and krouter still measured.
      if (!blocker) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      process.stderr.write(`kube-network-policies, run anyway, failed: ${msg}\n`);
    }
  }
  const kr = await measureSide('krouter');
  return compareRows(kr, knp, blocker);
}
