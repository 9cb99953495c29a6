/**
 * Soak: `KROUTER_SOAK_MINUTES` (default 10) of steady churn on a lab
 * (dual-stack, 3 nodes, BIRD, every plugin) under continuous probes, with
 * every agent sampled all along. Churn, one operation per kind every
 * `KROUTER_SOAK_TICK_SECONDS` (3): pods created, relabelled (moving
 * endpoints and policy selection) and deleted; Services (ClusterIP and
 * NodePort, dual-stack) created, re-pointed and deleted; NetworkPolicies
 * created, changed and deleted; simulated Nodes (Node objects with underlay
 * addresses nobody answers on: BGP peers that never come up) added,
 * re-addressed and removed. Probes, a round a second, none retried: every
 * probe pod to the probe pods on the other nodes, each to a ClusterIP
 * served by them, the external router to a NodePort on every node; TCP and
 * UDP, both families. Samples every `KROUTER_SOAK_SAMPLE_SECONDS` (10), per
 * agent: RSS, open fds, and what krouter owns on its node (nft chains, sets
 * and elements in its tables, routes of protocol 201, gobgpd's peers).
 *
 * Judged: RSS and fds of each agent, last sample against the first after
 * the warm-up (`KROUTER_SOAK_WARMUP_MINUTES`, 2, or a fifth of a shorter
 * soak), within 10 %; the owned objects after the churn's objects are all
 * deleted, against the baseline taken before the churn; failed probes and
 * agent restarts, none. The report and the samples (JSON) and a plot of
 * the curves (PNG) go to `KROUTER_BENCH_OUT` (default bench-results/).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { tryFamilyOf } from '../../sdk/src/families.ts';
import { rssKb } from '../helpers/krouter-process.ts';
import { agentPodRecord } from '../lab/agents.ts';
import { labClient, podIPsByFamily, podReady } from '../lab/api.ts';
import { families, loadLabState, nodeNetns, nodePaths, nodeUnderlayByName, podNetnsName, ROUTER_NETNS, type Family, type LabSpec } from '../lab/config.ts';
import { R, type KubeClient, type Obj } from '../lab/kube.ts';
import { controlRequest } from '../lab/kubelet/control.ts';
import { podSocketPath } from '../lab/kubelet/runtime.ts';
import { startProber, type Probe, type Prober, type ProbeResult } from '../lab/prober.ts';
import { until, withLab } from '../lab/testing.ts';
import { testPod } from '../lab/workloads.ts';
import type { BenchRow } from './run.ts';
import { atBaseline, countNft, formatReport, Pool, type ChurnKind, soakMarkers, soakPanels, soakRows, soakSettings, tally, type AgentSample, type ProbeTally, type Sample, type SoakReport } from './soak-report.ts';
import { renderPlot } from './plot.ts';
import { NP } from './throughput-policies.ts';

const execFileP = promisify(execFile);
const REPO = path.resolve(import.meta.dirname, '..', '..');
const PROBE_NS = 'soak-probe';
const CHURN_NS = 'soak-churn';
const TCP = 8080;
const UDP = 8081;
const PROBE_TIMEOUT_MS = 3000;
/** How long the owned objects may take to return to the baseline after clean-up. */
const SETTLE_LIMIT_MS = 180_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`  soak: ${s}\n`);

async function out(argv: string[]): Promise<string> {
  return (await execFileP(argv[0]!, argv.slice(1), { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 60_000 })).stdout;
}

/** Open fds of a process: the least of five reads over a second (pipes to a child in flight, such as nft's, are not a leak). */
async function openFds(pid: number): Promise<number> {
  let least = Infinity;
  for (let i = 0; i < 5; i++) {
    try {
      least = Math.min(least, readdirSync(`/proc/${pid}/fd`).length);
    } catch {
      return NaN;
    }
    if (i < 4) await sleep(250);
  }
  return least;
}

async function sampleAgent(spec: LabSpec, node: string): Promise<AgentSample> {
  const rec = agentPodRecord(spec, node);
  const pid = rec?.container.pid ?? 0;
  const ns = nodeNetns(node);
  const [nft, r4, r6, peers] = await Promise.all([
    out(['ip', 'netns', 'exec', ns, 'nft', '-j', 'list', 'ruleset']).then(countNft),
    out(['ip', '-n', ns, '-j', '-4', 'route', 'show', 'table', 'all', 'proto', '201']),
    out(['ip', '-n', ns, '-j', '-6', 'route', 'show', 'table', 'all', 'proto', '201']),
    out(['gobgp', '--target', `unix://${nodePaths(spec, node).gobgpSocket}`, 'neighbor', '-j']).then((s) => (JSON.parse(s || 'null') as unknown[] | null)?.length ?? 0),
  ]);
  let rss = NaN;
  try {
    rss = rssKb(pid);
  } catch {
    // gone: the sample says so with NaN
  }
  return {
    node,
    pid,
    restarts: rec?.container.restarts ?? 0,
    rssKb: rss,
    fds: pid ? await openFds(pid) : NaN,
    ...nft,
    routes: (JSON.parse(r4 || '[]') as unknown[]).length + (JSON.parse(r6 || '[]') as unknown[]).length,
    peers,
  };
}

const sampleAll = (spec: LabSpec) => Promise.all(spec.nodes.map((n) => sampleAgent(spec, n)));

// ---------------------------------------------------------------- probes

interface Target {
  kind: string;
  family: Family;
  probe: Probe;
  /** Names any of which may answer. */
  answers: string[];
}

const answered = (r: ProbeResult) => (r.ok ? (r.reply ?? '').trim().split(/\s+/)[0]! : '');

function probePlan(spec: LabSpec, pods: Obj[], svc: Obj, np: Obj): { fromPods: Map<string, Target[]>; fromRouter: Target[] } {
  const fams = families(spec);
  const names = pods.map((p) => p.metadata.name as string);
  const clusterIP = (f: Family) => (svc.spec.clusterIPs as string[]).find((ip) => tryFamilyOf(ip) === f)!;
  const nodePort = (proto: 'TCP' | 'UDP') => (np.spec.ports as Array<{ protocol: string; nodePort: number }>).find((p) => p.protocol === proto)!.nodePort;
  const fromPods = new Map<string, Target[]>();
  for (const src of pods) {
    const list: Target[] = [];
    for (const f of fams) {
      for (const [proto, port, svcPort] of [['tcp', TCP, 80], ['udp', UDP, 53]] as const) {
        for (const dst of pods.filter((p) => p.spec.nodeName !== src.spec.nodeName)) {
          list.push({ kind: `pod -> pod, other node, ${proto.toUpperCase()}`, family: f, probe: { host: podIPsByFamily(dst)[f]!, port, proto, timeoutMs: PROBE_TIMEOUT_MS }, answers: [dst.metadata.name] });
        }
        list.push({ kind: `pod -> ClusterIP, ${proto.toUpperCase()}`, family: f, probe: { host: clusterIP(f), port: svcPort, proto, timeoutMs: PROBE_TIMEOUT_MS }, answers: names });
      }
    }
    fromPods.set(src.metadata.name, list);
  }
  const fromRouter: Target[] = [];
  for (const f of fams) {
    for (const proto of ['tcp', 'udp'] as const) {
      for (const node of spec.nodes) {
        fromRouter.push({ kind: `router -> NodePort, ${proto.toUpperCase()}`, family: f, probe: { host: nodeUnderlayByName(spec, node)[f]!, port: nodePort(proto === 'tcp' ? 'TCP' : 'UDP'), proto, timeoutMs: PROBE_TIMEOUT_MS }, answers: names });
      }
    }
  }
  return { fromPods, fromRouter };
}

/** One round of every probe; the outcomes go into `tallies` (or, with `tallies` undefined, only the count of failures is returned). */
async function probeRound(spec: LabSpec, plan: ReturnType<typeof probePlan>, router: Prober, tallies?: ProbeTally[]): Promise<number> {
  let failed = 0;
  const judge = (targets: Target[], results: ProbeResult[] | Error) => {
    targets.forEach((t, i) => {
      const r = results instanceof Error ? { ok: false, error: results.message } : (results[i] ?? { ok: false, error: 'no answer' });
      const ok = r.ok && t.answers.includes(answered(r));
      if (!ok) failed++;
      if (tallies) tally(tallies, t.kind, t.family, ok, `${t.probe.host} port ${t.probe.port}: ${r.ok ? `answered ${JSON.stringify((r.reply ?? '').slice(0, 40))}` : r.error} at ${new Date().toISOString()}`);
    });
  };
  await Promise.all([
    ...[...plan.fromPods].map(async ([name, targets]) => {
      const socket = podSocketPath(spec, podNetnsName(PROBE_NS, name));
      try {
        judge(targets, (await controlRequest(socket, { probes: targets.map((t) => t.probe) }, PROBE_TIMEOUT_MS + 10_000)).results as ProbeResult[]);
      } catch (e) {
        judge(targets, e as Error);
      }
    }),
    router.probes(plan.fromRouter.map((t) => t.probe)).then(
      (rs) => judge(plan.fromRouter, rs),
      (e: Error) => judge(plan.fromRouter, e),
    ),
  ]);
  return failed;
}

// ---------------------------------------------------------------- churn

const grp = (i: number) => (i % 2 ? 'a' : 'b');

function churnKinds(spec: LabSpec, client: KubeClient): ChurnKind[] {
  const fams = families(spec);
  const dual = fams.length === 2 ? { ipFamilyPolicy: 'RequireDualStack' } : {};
  const simAddress = (k: number): Partial<Record<Family, string>> => {
    const host = 100 + (k % 100);
    return { ipv4: `198.18.0.${host}`, ipv6: `fd00:18::${host.toString(16)}` };
  };
  const simAddresses = (k: number) => fams.map((f) => ({ type: 'InternalIP', address: simAddress(k)[f]! }));
  const podCidr: Record<Family, string> = { ipv4: '198.19.0.0/16', ipv6: 'fd00:19::/48' };
  const policySpec = (i: number) => {
    const sel = { matchLabels: { app: 'churn', grp: grp(i) } };
    switch (i % 3) {
      case 0:
        return { podSelector: sel, ingress: [{ from: [{ podSelector: { matchLabels: { grp: grp(i + 1) } } }], ports: [{ port: TCP, protocol: 'TCP' }] }] };
      case 1:
        return { podSelector: sel, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: fams.map((f) => ({ ipBlock: { cidr: podCidr[f] } })) }], egress: [{ to: [{ podSelector: {} }], ports: [{ port: UDP, protocol: 'UDP' }] }] };
      default:
        return { podSelector: sel, policyTypes: ['Ingress'] };
    }
  };
  return [
    {
      name: 'pods',
      max: 2 * spec.nodes.length,
      create: async (i) => {
        const name = `c-${i}`;
        await client.create(R.pods, testPod({ name, namespace: CHURN_NS, nodeName: spec.nodes[i % spec.nodes.length], labels: { app: 'churn', grp: grp(i) }, tcp: [TCP], udp: [UDP] }) as Obj);
        return name;
      },
      // A relabelled pod moves between the services' endpoints and the policies' selections.
      update: async (name, i) => void (await client.patch(R.pods, CHURN_NS, name, { metadata: { labels: { grp: grp(i + 1) } } })),
      remove: (name) => client.delete(R.pods, CHURN_NS, name),
    },
    {
      name: 'services',
      max: 4,
      create: async (i) => {
        const name = `s-${i}`;
        await client.create(R.services, {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name, namespace: CHURN_NS },
          spec: {
            ...dual,
            type: i % 2 ? 'NodePort' : 'ClusterIP',
            selector: { app: 'churn', grp: grp(i) },
            ports: [
              { name: 'tcp', port: 80, targetPort: TCP, protocol: 'TCP' },
              { name: 'udp', port: 53, targetPort: UDP, protocol: 'UDP' },
            ],
          },
        });
        return name;
      },
      // Endpoints move to the other group; the TCP port changes.
      update: async (name, i) =>
        void (await client.patch(R.services, CHURN_NS, name, {
          spec: { selector: { app: 'churn', grp: grp(i + 1) }, ports: [{ name: 'tcp', port: 80 + (i % 7), targetPort: TCP, protocol: 'TCP' }, { name: 'udp', port: 53, targetPort: UDP, protocol: 'UDP' }] },
        })),
      remove: (name) => client.delete(R.services, CHURN_NS, name),
    },
    {
      name: 'networkpolicies',
      max: 4,
      create: async (i) => {
        const name = `np-${i}`;
        await client.create(NP, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: CHURN_NS }, spec: policySpec(i) } as Obj);
        return name;
      },
      update: async (name, i) => {
        const cur = await client.get(NP, CHURN_NS, name);
        await client.update(NP, { ...cur, spec: policySpec(i + 1) });
      },
      remove: (name) => client.delete(NP, CHURN_NS, name),
    },
    {
      name: 'nodes (simulated)',
      max: 3,
      create: async (i) => {
        const name = `soak-sim-${i}`;
        await client.create(R.nodes, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'krouter.bench/soak': 'sim' } } });
        await client.patch(R.nodes, undefined, name, { status: { addresses: simAddresses(i) } }, 'status');
        return name;
      },
      // The node's address changes: its BGP peer moves.
      update: async (name, i) => void (await client.patch(R.nodes, undefined, name, { status: { addresses: simAddresses(i + 50) } }, 'status')),
      remove: (name) => client.delete(R.nodes, undefined, name),
    },
  ];
}

// ---------------------------------------------------------------- the bench

function stamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
}

async function soak(stateDir: string): Promise<BenchRow[]> {
  const settings = soakSettings(process.env);
  const spec = loadLabState(stateDir)!.spec;
  const client = labClient(spec);
  const stops: Array<() => void> = [];
  try {
    // The probes' workload: one pod per node, a dual-stack ClusterIP and NodePort served by them.
    await client.create(R.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: PROBE_NS } });
    for (const node of spec.nodes) await client.create(R.pods, testPod({ name: `probe-${node}`, namespace: PROBE_NS, nodeName: node, labels: { app: 'probe' }, tcp: [TCP], udp: [UDP] }) as Obj);
    const ports = [
      { name: 'tcp', port: 80, targetPort: TCP, protocol: 'TCP' },
      { name: 'udp', port: 53, targetPort: UDP, protocol: 'UDP' },
    ];
    const dual = families(spec).length === 2 ? { ipFamilyPolicy: 'RequireDualStack' } : {};
    const svc = await client.create(R.services, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: PROBE_NS }, spec: { ...dual, selector: { app: 'probe' }, ports } });
    const np = await client.create(R.services, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-np', namespace: PROBE_NS }, spec: { ...dual, type: 'NodePort', selector: { app: 'probe' }, ports } });
    const pods = await until('the probe pods Ready', async () => {
      const items = (await client.list(R.pods, { namespace: PROBE_NS })).items;
      return items.length === spec.nodes.length && items.every((p) => podReady(p)) ? items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)) : undefined;
    }, 180_000, 500);
    const router = await startProber(ROUTER_NETNS, stateDir, 'soak-router');
    stops.push(() => router.stop());
    const plan = probePlan(spec, pods, svc, np);
    await until('every probe answered once', async () => ((await probeRound(spec, plan, router)) === 0 ? true : undefined), 120_000, 1000);
    await client.create(R.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CHURN_NS } });

    // Baseline: the owned objects, once two samples 3 s apart agree.
    let prev = await sampleAll(spec);
    const baseline = await until('the owned objects steady before the churn', async () => {
      await sleep(3000);
      const now = await sampleAll(spec);
      const same = atBaseline(prev, now);
      prev = now;
      return same ? now : undefined;
    }, 120_000, 0);
    log(`baseline: ${baseline.map((a) => `${a.node} ${a.chains} chains, ${a.sets} sets, ${a.elements} elements, ${a.routes} routes, ${a.peers} peers, RSS ${(a.rssKb / 1024).toFixed(1)} MB, ${a.fds} fds`).join('; ')}`);

    const samples: Sample[] = [{ t: 0, phase: 'baseline', agents: baseline }];
    const tallies: ProbeTally[] = [];
    let phase: Sample['phase'] = 'churn';
    const t0 = Date.now();
    const elapsed = () => (Date.now() - t0) / 1000;
    let probing = true;
    let sampling = true;

    const probeLoop = (async () => {
      while (probing) {
        const start = Date.now();
        await probeRound(spec, plan, router, tallies);
        await sleep(Math.max(0, 1000 - (Date.now() - start)));
      }
    })();
    const sampleLoop = (async () => {
      for (let k = 0; sampling; k++) {
        const s = { t: elapsed(), phase, agents: await sampleAll(spec) };
        samples.push(s);
        if (k % 6 === 0) log(`${(s.t / 60).toFixed(1)} min (${s.phase}): ${s.agents.map((a) => `${a.node} ${(a.rssKb / 1024).toFixed(1)} MB ${a.fds} fds`).join(', ')}; probes failed ${tallies.reduce((n, t) => n + t.failed, 0)}/${tallies.reduce((n, t) => n + t.sent, 0)}`);
        const next = t0 + (k + 1) * settings.sampleSeconds * 1000;
        while (sampling && Date.now() < next) await sleep(Math.min(500, next - Date.now()));
      }
    })();
    const pools = churnKinds(spec, client).map((k) => new Pool(k, log));
    let settledS: number | undefined;
    let after: AgentSample[];
    try {
      const end = t0 + settings.minutes * 60_000;
      for (let k = 0; Date.now() < end; k++) {
        await Promise.all(pools.map((p) => p.tick()));
        const next = t0 + (k + 1) * settings.tickSeconds * 1000;
        if (next > Date.now()) await sleep(Math.min(next, end) - Date.now());
      }
      // Clean-up: everything the churn made is deleted; probes and samples go on.
      phase = 'cleanup';
      // A sample exactly at the churn's end, so the last churn sample is its end.
      samples.push({ t: elapsed(), phase: 'churn', agents: await sampleAll(spec) });
      log(`churn over after ${(elapsed() / 60).toFixed(2)} min; deleting what it made`);
      await client.delete(R.namespaces, undefined, CHURN_NS);
      for (const n of (await client.list(R.nodes, { labelSelector: 'krouter.bench/soak=sim' })).items) await client.delete(R.nodes, undefined, n.metadata.name);
      await until('the churn namespace and simulated nodes gone', async () => {
        const ns = await client.tryGet(R.namespaces, undefined, CHURN_NS);
        const sims = (await client.list(R.nodes, { labelSelector: 'krouter.bench/soak=sim' })).items;
        return !ns && sims.length === 0 ? true : undefined;
      }, 300_000, 1000);
      const cleaned = Date.now();
      // The owned objects back where they were (or the limit).
      after = await sampleAll(spec);
      while (!atBaseline(baseline, after) && Date.now() - cleaned < SETTLE_LIMIT_MS) {
        await sleep(2000);
        after = await sampleAll(spec);
      }
      if (atBaseline(baseline, after)) settledS = (Date.now() - cleaned) / 1000;
      // A few more probe rounds on the settled node.
      await sleep(3000);
    } finally {
      probing = false;
      sampling = false;
      await Promise.all([probeLoop, sampleLoop]);
    }
    samples.push({ t: elapsed(), phase: 'cleanup', agents: after });

    const report: SoakReport = { ...settings, samples, baseline, after, settledS, probes: tallies, churn: pools.map((p) => p.count) };
    const text = formatReport(report);
    process.stdout.write(`${text}\n\n`);
    const dir = process.env.KROUTER_BENCH_OUT ?? path.join(REPO, 'bench-results');
    mkdirSync(dir, { recursive: true });
    const base = path.join(dir, `soak-${stamp()}`);
    writeFileSync(`${base}.txt`, `${text}\n`);
    writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 1)}\n`);
    writeFileSync(`${base}.png`, renderPlot(`krouter soak: ${settings.minutes} min churn, dual-stack, ${spec.nodes.length} nodes`, soakPanels(report), { xLabel: 'minutes since the churn started', markers: soakMarkers(report) }));
    log(`report, samples and plot: ${base}.{txt,json,png}`);
    return soakRows(report);
  } finally {
    for (const s of stops) s();
    await client.close();
  }
}

export default async function soakBench(): Promise<BenchRow[]> {
  return withLab('krlab-bench-soak-', ['--family', 'dual', '--nodes', '3', '--router', 'bird'], (stateDir) => soak(stateDir));
}
