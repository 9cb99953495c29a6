/**
 * Reliability: faults under continuous probes, on one lab for the whole
 * suite (dual-stack, 3 nodes, BIRD installing what it learns, every
 * built-in plugin: cni, router advertising LoadBalancer IPs, service-proxy,
 * firewall, loadbalancer; BGP graceful restart on, the proxy's, the
 * firewall's and the kernel routes' resync lowered to 5 s). Every case runs
 * while probes go on every 250 ms, in both families: a pod to a pod on
 * another node, a pod to a ClusterIP, the external router to a NodePort and
 * to a LoadBalancer IP, and one path a NetworkPolicy allows and one it
 * denies (denied: the probe must not connect). Each case prints what it
 * measured.
 *
 * - drift: krouter's nftables table (the proxy's), one of its routes and a
 *   policy's peer set changed by hand are repaired by the next resync and
 *   counted in krouter_drift_repairs_total; no path the change does not
 *   touch fails meanwhile, and every path works again after;
 * - gobgpd killed (SIGKILL) on a node: the agent starts a new one and
 *   replays its paths; peers keep the node's routes throughout; no probe fails;
 * - kube-apiserver down for 60 s: no probe fails, no route, address, rule or
 *   nftables rule of any node changes meanwhile, and a Service made after it
 *   is back is served (the agents watch again);
 * - etcd compacted to its latest revision and the API server restarted:
 *   every agent's watch gets 410 Gone and relists; nothing changes, no probe fails;
 * - a storm of 1,000 malformed or hostile objects the API server admits
 *   (reliability/storm.ts; a few it refuses are checked to be refused): no
 *   agent restarts, every valid object is programmed on every node, every
 *   bad one gets a Warning event naming it (at most one per agent), no probe
 *   fails; all of it is deleted and unprogrammed after;
 * - a node rebooted (`lab reboot-node`: kubelet, pods and agent stopped, the
 *   namespace made again empty, everything started again): it converges and
 *   rejoins; the other nodes' routes, rules and addresses do not change
 *   (its pod CIDRs stay through graceful restart); the paths that do not go
 *   through it lose nothing, and every path works after (the firewall
 *   learns the client's new address);
 * - 10,000 more Services, then a node's agent SIGKILLed while its `nft`
 *   transaction of a full sync of them runs (the periodic resync's), and its
 *   restart SIGKILLed again in the middle of its first full sync: the node
 *   converges on the same table, and no probe of the existing Services fails;
 * - other tools' state made in every node's namespace before the cluster
 *   starts (an nftables table, iptables rules through both backends, a
 *   static route per family, a bridge) is byte for byte the same after
 *   every case.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { tryFamilyOf, type Family } from '../../sdk/src/families.ts';
import { agentPodRecord, gobgpdPid } from '../lab/agents.ts';
import { childProcesses } from '../lab/proc.ts';
import { isRecordedAlive } from '../lab/state.ts';
import { labClient, podIPsByFamily, podReady } from '../lab/api.ts';
import { gobgpNeighbors, gobgpRib, KROUTER_PROTO, nodeKrouterRoutes, parseBirdRoutes } from '../lab/bgp-inspect.ts';
import { AGENT_METRICS_PORT, loadLabState, nodeNetns, nodePaths, nodeUnderlayByName, podNetnsName, ROUTER_NETNS, type LabSpec } from '../lab/config.ts';
import { R, type KubeClient, type Obj } from '../lab/kube.ts';
import { ETCD_CLIENT_PORT } from '../lab/k8s/control-plane.ts';
import { controlRequest } from '../lab/kubelet/control.ts';
import { podSocketPath } from '../lab/kubelet/runtime.ts';
import { startProber, type Probe, type ProbeResult, type Prober } from '../lab/prober.ts';
import { routerControlArgv } from '../lab/router/index.ts';
import { labCliAsync, labForSuite, labNodes, until, type LabNodeInfo } from '../lab/testing.ts';
import { testPod } from '../lab/workloads.ts';
import { runStorm } from './reliability/storm.ts';

const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NS = 'reliability';
const PORT = 8080;
const ROUND_EVERY_MS = 250;
const RESYNC_SECONDS = 5;
const NP = { prefix: '/apis/networking.k8s.io/v1', plural: 'networkpolicies', namespaced: true };

// ---------------------------------------------------------------- other tools' state

/** Prints every object of other tools in a node's namespace (run there with sh): what must never change. */
const FOREIGN_SNAPSHOT = `
echo '--- nft ruleset without krouter-* tables'
nft --stateless list ruleset 2>/dev/null | awk '/^table /{keep = ($3 !~ /^krouter-/)} keep'
echo '--- iptables-nft-save'; iptables-nft-save 2>/dev/null | sed -e '/^#/d' -e 's/ \\[[0-9]*:[0-9]*\\]$//'
echo '--- ip6tables-nft-save'; ip6tables-nft-save 2>/dev/null | sed -e '/^#/d' -e 's/ \\[[0-9]*:[0-9]*\\]$//'
echo '--- iptables-legacy-save'; iptables-legacy-save 2>/dev/null | sed -e '/^#/d' -e 's/ \\[[0-9]*:[0-9]*\\]$//'
echo '--- static routes'; ip -4 route show table all proto static; ip -6 route show table all proto static
echo '--- bridge foreign0'; ip -br link show dev foreign0; ip -br addr show dev foreign0
`;

/** The --node-setup script: other tools' objects, then their snapshot into `dir`/NODE. */
function nodeSetupScript(dir: string): string {
  return `set -e
node="$1"
nft -f - <<'EOF'
table inet foreign {
  set blocked {
    type ipv4_addr
    elements = { 198.18.0.99 }
  }
  chain input {
    type filter hook input priority 10; policy accept;
    ip saddr @blocked counter drop
  }
}
EOF
iptables-nft -A INPUT -s 198.18.0.98/32 -m comment --comment foreign-nft -j DROP
ip6tables-nft -A INPUT -s fd00:18::98/128 -m comment --comment foreign-nft -j DROP
iptables-legacy -A FORWARD -s 198.18.0.97/32 -m comment --comment foreign-legacy -j DROP
ip -4 route add 198.18.77.0/24 via 198.18.0.254 proto static
ip -6 route add fd00:77::/64 via fd00:18::fe proto static
ip link add foreign0 type bridge
ip addr add 198.18.78.1/24 dev foreign0
ip link set foreign0 up
{ ${FOREIGN_SNAPSHOT} } > ${JSON.stringify(dir)}/"$node"
`;
}

function foreignSnapshot(node: string): string {
  // nft warns on stderr that iptables-nft manages its tables: not part of the state.
  return execFileSync('ip', ['netns', 'exec', nodeNetns(node), 'sh', '-c', FOREIGN_SNAPSHOT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

// ---------------------------------------------------------------- kernel state of krouter

/** What the API server's absence must not change on a node: routes, addresses, rules, the nftables ruleset. */
async function dataPlane(node: string): Promise<string> {
  const ns = nodeNetns(node);
  const ip = async (...args: string[]) => (await execFileP('ip', ['-n', ns, ...args], { encoding: 'utf8' })).stdout;
  const parts = await Promise.all([
    ip('-4', 'route', 'show', 'table', 'all'),
    ip('-6', 'route', 'show', 'table', 'all', 'proto', 'krouter'),
    ip('-6', 'route', 'show', 'table', 'main'),
    ip('-4', 'rule'),
    ip('-6', 'rule'),
    ip('-br', 'addr'),
    // Stateless: counters move with traffic.
    execFileP('ip', ['netns', 'exec', ns, 'nft', '--stateless', 'list', 'ruleset'], { encoding: 'utf8' }).then((r) => canonicalRuleset(r.stdout)),
  ]);
  return parts.join('\n---\n');
}

/**
 * nft's listing in an order that does not depend on how the state was
 * made: a table replaced with the same content moves in the listing, a full
 * sync after partial ones lists the same chains and set elements in another
 * order. Tables, their chains/sets/maps, and set elements are sorted; rules
 * keep their order (it matters).
 */
function canonicalRuleset(text: string): string {
  const sortElements = (block: string) =>
    block.replace(/elements = \{([^}]*)\}/g, (_m, items: string) => `elements = { ${items.split(',').map((x) => x.trim()).filter(Boolean).sort().join(', ')} }`);
  const canonicalTable = (table: string) => {
    const lines = table.split('\n').filter((l) => l.trim() !== '');
    const head = lines[0] ?? '';
    const body = lines.slice(1).filter((l) => l !== '}');
    const blocks: string[][] = [];
    for (const line of body) {
      if (/^\t\S/.test(line) && !/^\t\}/.test(line)) blocks.push([]);
      (blocks[blocks.length - 1] ?? (blocks[0] = [])).push(line);
    }
    return [head, ...blocks.map((b) => sortElements(b.join('\n'))).sort(), '}'].join('\n');
  };
  return text.split(/^(?=table )/m).filter((t) => t.trim() !== '').map(canonicalTable).sort().join('\n');
}

/** A node's routes, rules and addresses: what another node's reboot must not change. */
async function routing(node: string): Promise<string> {
  const ns = nodeNetns(node);
  const ip = async (...args: string[]) => (await execFileP('ip', ['-n', ns, ...args], { encoding: 'utf8' })).stdout;
  return (
    await Promise.all([ip('-4', 'route', 'show', 'table', 'all'), ip('-6', 'route', 'show', 'table', 'all', 'proto', 'krouter'), ip('-6', 'route', 'show', 'table', 'main'), ip('-4', 'rule'), ip('-6', 'rule'), ip('-br', 'addr')])
  ).join('\n---\n');
}

/** The first line that differs, for a readable failure. */
function firstDifference(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++) if (x[i] !== y[i]) return `line ${i + 1}: before ${JSON.stringify(x[i])}, now ${JSON.stringify(y[i])}`;
  return 'no difference';
}

/** A metric of a node's agent: its series' values keyed by the given labels' values joined with `/`. */
async function agentMetric(node: string, name: string, keyLabels: string[]): Promise<Record<string, number>> {
  const { stdout } = await execFileP('ip', ['netns', 'exec', nodeNetns(node), 'curl', '-sf', '--max-time', '5', `http://127.0.0.1:${AGENT_METRICS_PORT}/metrics`]);
  const out: Record<string, number> = {};
  for (const m of stdout.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    out[keyLabels.map((l) => labels[l]).join('/')] = Number(m[2]);
  }
  return out;
}

/** krouter_drift_repairs_total of a node's agent, by `plugin/object`. */
const driftRepairs = (node: string) => agentMetric(node, 'krouter_drift_repairs_total', ['plugin', 'object']);

/** How many full lists (first sync, and after 410 Gone) a node's agent made, over every kind. */
const informerLists = async (node: string) => Object.values(await agentMetric(node, 'krouter_informer_lists_total', ['kind'])).reduce((a, b) => a + b, 0);

/** A call of etcd's v3 API (its JSON gateway on the loopback client URL). */
async function etcd(call: string, body: unknown): Promise<Record<string, any>> {
  const { stdout } = await execFileP('curl', ['-sf', '--max-time', '10', '-X', 'POST', `http://127.0.0.1:${ETCD_CLIENT_PORT}/v3/${call}`, '-d', JSON.stringify(body)]);
  return JSON.parse(stdout) as Record<string, any>;
}

// ---------------------------------------------------------------- continuous probes

type PathKind = 'pod-to-pod' | 'pod-to-clusterip' | 'router-to-nodeport' | 'router-to-loadbalancer' | 'policy-allowed' | 'policy-denied';

interface PlannedProbe {
  kind: PathKind;
  family: Family;
  probe: Probe;
}

/** Probes of one window: per path (kind and family) how many were sent and how many failed, with the first failures. */
class Tally {
  sent = new Map<string, number>();
  failed = new Map<string, number>();
  samples: string[] = [];
  rounds = 0;
  record(p: PlannedProbe, r: ProbeResult): void {
    const key = `${p.kind} ${p.family}`;
    this.sent.set(key, (this.sent.get(key) ?? 0) + 1);
    // A denied path works when it does not connect.
    const good = p.kind === 'policy-denied' ? !r.ok : r.ok;
    if (!good) {
      this.failed.set(key, (this.failed.get(key) ?? 0) + 1);
      if (this.samples.length < 10) this.samples.push(`${new Date().toISOString()} ${key} ${p.probe.host}:${p.probe.port}: ${r.ok ? `connected (${r.reply?.trim()})` : r.error}`);
    }
  }
  failedOf(kinds: readonly PathKind[]): number {
    let n = 0;
    for (const [key, v] of this.failed) if (kinds.some((k) => key.startsWith(`${k} `))) n += v;
    return n;
  }
  get totalSent(): number {
    return [...this.sent.values()].reduce((a, b) => a + b, 0);
  }
  get totalFailed(): number {
    return [...this.failed.values()].reduce((a, b) => a + b, 0);
  }
  summary(): string {
    const rows = [...this.sent.keys()].sort().map((k) => `${k} ${this.sent.get(k)}/${this.failed.get(k) ?? 0}`);
    return `${this.rounds} rounds, ${this.totalSent} probes sent, ${this.totalFailed} failed (path sent/failed: ${rows.join(', ')})${this.samples.length ? `\n      first failures:\n        ${this.samples.join('\n        ')}` : ''}`;
  }
}

/** Runs every planned probe every ROUND_EVERY_MS, from the client pods and the router, into the open windows. */
class ProbeLoop {
  private windows = new Set<Tally>();
  private stopped = false;
  private done: Promise<void> | undefined;
  /** Rounds in which every path behaved. */
  cleanRounds = 0;
  rounds = 0;

  constructor(private readonly groups: Array<{ run: (ps: readonly Probe[]) => Promise<ProbeResult[]>; plan: PlannedProbe[] }>) {}

  start(): void {
    this.done = (async () => {
      while (!this.stopped) {
        const started = Date.now();
        let clean = true;
        await Promise.all(
          this.groups.map(async (g) => {
            let results: ProbeResult[];
            try {
              results = await g.run(g.plan.map((p) => p.probe));
            } catch (e) {
              results = g.plan.map(() => ({ ok: false, error: `prober: ${(e as Error).message}` }));
            }
            g.plan.forEach((p, i) => {
              const r = results[i] ?? { ok: false, error: 'no result' };
              if ((p.kind === 'policy-denied') === r.ok) clean = false;
              for (const w of this.windows) w.record(p, r);
            });
          }),
        );
        this.rounds++;
        this.cleanRounds = clean ? this.cleanRounds + 1 : 0;
        for (const w of this.windows) w.rounds++;
        await sleep(Math.max(0, ROUND_EVERY_MS - (Date.now() - started)));
      }
    })();
  }

  open(): Tally {
    const t = new Tally();
    this.windows.add(t);
    return t;
  }

  close(t: Tally): Tally {
    this.windows.delete(t);
    return t;
  }

  /** Waits for `n` more rounds (the probes see what the case left behind). */
  async more(n: number, what: string, limitMs = 60_000): Promise<void> {
    const target = this.rounds + n;
    await until(what, () => (this.rounds >= target ? true : undefined), limitMs, 50);
  }

  /** Waits until the last `n` rounds, all begun after this call, were clean. */
  async clean(n: number, what: string, limitMs = 90_000): Promise<void> {
    const from = this.rounds + 1;
    await until(what, () => (this.rounds >= from + n && this.cleanRounds >= n ? true : undefined), limitMs, 50);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

function fromPod(spec: LabSpec, name: string) {
  const socket = podSocketPath(spec, podNetnsName(NS, name));
  return async (ps: readonly Probe[]): Promise<ProbeResult[]> => (await controlRequest(socket, { probes: ps }, 15_000)).results as ProbeResult[];
}

// ---------------------------------------------------------------- the agent in the middle of a full sync

/** How many Services the mid-sync kill case adds. */
const BULK_SERVICES = 10_000;
const BULK_NS = 'reliability-bulk';

/** Elements of one of the proxy's maps on a node. */
async function proxyMapSize(node: string, map: string): Promise<number> {
  const { stdout } = await execFileP('ip', ['netns', 'exec', nodeNetns(node), 'nft', '-j', 'list', 'map', 'inet', 'krouter-proxy', map], { maxBuffer: 64 << 20 });
  const items = (JSON.parse(stdout) as { nftables: Array<{ map?: { elem?: unknown[] } }> }).nftables;
  return items.reduce((n, i) => n + (i.map?.elem?.length ?? 0), 0);
}

/** The proxy's table on a node, canonical (see canonicalRuleset) and stateless. */
async function proxyTable(node: string): Promise<string> {
  const { stdout } = await execFileP('ip', ['netns', 'exec', nodeNetns(node), 'nft', '--stateless', 'list', 'table', 'inet', 'krouter-proxy'], { maxBuffer: 64 << 20 });
  return canonicalRuleset(stdout);
}

/** An `nft -f` the agent runs that has read at least `bytes` of its script: a transaction only a full sync of the bulk writes. */
function bigNftChild(agentPid: number, bytes: number): { pid: number; read: number } | undefined {
  for (const c of childProcesses(agentPid)) {
    if (!/(^|\/)nft$/.test(c.argv[0] ?? '') || !c.argv.includes('-f')) continue;
    try {
      const read = Number(/^rchar: (\d+)$/m.exec(readFileSync(`/proc/${c.pid}/io`, 'utf8'))?.[1] ?? 0);
      if (read >= bytes) return { pid: c.pid, read };
    } catch {
      /* finished meanwhile */
    }
  }
  return undefined;
}

/**
 * Waits until the node's agent (the running instance, or the one the kubelet
 * starts next) runs a big `nft -f`, and SIGKILLs the agent right then.
 * Returns what was killed. Polls /proc every few milliseconds: the
 * transaction of 10,000 services runs for hundreds of them.
 */
async function killAgentMidFullSync(spec: LabSpec, node: string, notPid: number | undefined, limitMs: number): Promise<{ pid: number; nft: { pid: number; read: number }; afterStartMs: number }> {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    const agent = agentPodRecord(spec, node)?.container;
    if (agent && agent.pid !== notPid && isRecordedAlive(agent)) {
      const nft = bigNftChild(agent.pid, 200 * 1024);
      if (nft) {
        process.kill(agent.pid, 'SIGKILL');
        return { pid: agent.pid, nft, afterStartMs: Date.now() - Date.parse(agent.startedAt) };
      }
    }
    await sleep(5);
  }
  throw new Error(`${node}: no full sync of the bulk services seen in ${limitMs} ms`);
}

// ---------------------------------------------------------------- the suite

describe('reliability: faults under continuous probes (dual, 3 nodes, BIRD, every plugin)', function () {
  this.timeout(900_000);
  const foreignDir = mkdtempSync(path.join(os.tmpdir(), 'krlab-rel-foreign-'));
  const setupScript = path.join(foreignDir, 'node-setup.sh');
  writeFileSync(setupScript, nodeSetupScript(foreignDir));
  const lab = labForSuite('krlab-rel-', [
    '--family',
    'dual',
    '--nodes',
    '3',
    '--router',
    'bird',
    '--router-kernel-routes',
    '--plugins',
    'cni,router,service-proxy,firewall,loadbalancer',
    '--router-config',
    JSON.stringify({ gracefulRestart: { enabled: true }, kernelRoutesResyncSeconds: RESYNC_SECONDS, advertiseLoadBalancerIP: true }),
    '--plugin-config',
    JSON.stringify({ 'service-proxy': { resyncSeconds: RESYNC_SECONDS }, firewall: { resyncSeconds: RESYNC_SECONDS } }),
    '--node-setup',
    setupScript,
  ]);
  let client: KubeClient;
  let router: Prober;
  let loop: ProbeLoop;
  let nodes: LabNodeInfo[];
  const ips = new Map<string, Partial<Record<Family, string>>>();
  let clusterIPs: string[] = [];
  let nodePort = 0;
  /** The LoadBalancer Service's ingress addresses, per family. */
  const lbIPs: Partial<Record<Family, string>> = {};

  after(() => rmSync(foreignDir, { recursive: true, force: true }));

  before(async function () {
    const spec = lab.spec;
    const [n1, n2, n3] = spec.nodes as [string, string, string];
    client = labClient(spec);
    await client.create(R.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    const pod = (name: string, node: string, labels: Record<string, string>) => testPod({ name, namespace: NS, nodeName: node, labels, tcp: [PORT], udp: [] }) as Obj;
    const pods = [
      pod('srv-1', n1, { app: 'web' }),
      pod('srv-2', n2, { app: 'web' }),
      pod('guarded', n2, { app: 'guarded' }),
      pod('cl', n3, { role: 'allowed' }),
      pod('other', n1, { role: 'denied' }),
    ];
    for (const p of pods) await client.create(R.pods, p);
    const svcSpec = (type: string) => ({ ipFamilyPolicy: 'PreferDualStack', type, selector: { app: 'web' }, ports: [{ name: 'tcp', port: 80, targetPort: PORT, protocol: 'TCP' }] });
    const web = await client.create(R.services, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS }, spec: svcSpec('ClusterIP') } as Obj);
    const webNp = await client.create(R.services, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-np', namespace: NS }, spec: svcSpec('NodePort') } as Obj);
    clusterIPs = web.spec.clusterIPs as string[];
    nodePort = (webNp.spec.ports as Array<{ nodePort: number }>)[0]!.nodePort;
    await client.create(R.services, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web-lb', namespace: NS }, spec: { ...svcSpec('LoadBalancer'), ipFamilyPolicy: 'RequireDualStack' } } as Obj);
    await client.create(NP, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'guard', namespace: NS },
      spec: { podSelector: { matchLabels: { app: 'guarded' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { role: 'allowed' } } }] }] },
    } as Obj);
    await until('the pods Ready', async () => {
      const items = (await client.list(R.pods, { namespace: NS })).items;
      if (items.length !== pods.length || !items.every((p) => podReady(p))) return undefined;
      for (const p of items) ips.set(p.metadata.name, podIPsByFamily(p));
      return true;
    }, 120_000, 250);
    nodes = await labNodes(spec);
    await until('web-lb has a LoadBalancer address of every family', async () => {
      const svc = await client.get(R.services, NS, 'web-lb');
      for (const i of (svc.status?.loadBalancer?.ingress ?? []) as Array<{ ip?: string }>) {
        const f = i.ip ? tryFamilyOf(i.ip) : undefined;
        if (f) lbIPs[f] = i.ip;
      }
      return lab.fams.every((f) => lbIPs[f]) ? true : undefined;
    }, 60_000, 250);
    router = await startProber(ROUTER_NETNS, lab.stateDir, 'rel-router');

    const tcp = (kind: PathKind, family: Family, host: string, port: number, timeoutMs = 2000): PlannedProbe => ({ kind, family, probe: { host, port, proto: 'tcp', timeoutMs } });
    const clusterIP = (f: Family) => clusterIPs.find((ip) => tryFamilyOf(ip) === f)!;
    loop = new ProbeLoop([
      {
        run: fromPod(spec, 'cl'),
        plan: lab.fams.flatMap((f) => [
          tcp('pod-to-pod', f, ips.get('srv-1')![f]!, PORT),
          tcp('pod-to-clusterip', f, clusterIP(f), 80),
          tcp('policy-allowed', f, ips.get('guarded')![f]!, PORT),
        ]),
      },
      { run: fromPod(spec, 'other'), plan: lab.fams.map((f) => tcp('policy-denied', f, ips.get('guarded')![f]!, PORT, 500)) },
      {
        run: (ps) => router.probes(ps),
        plan: lab.fams.flatMap((f) => [tcp('router-to-nodeport', f, nodeUnderlayByName(spec, n2)[f]!, nodePort), tcp('router-to-loadbalancer', f, lbIPs[f]!, 80)]),
      },
    ]);
    loop.start();
    await loop.clean(8, 'every probed path behaving before the first case');
    // Resyncs ran meanwhile (every ${RESYNC_SECONDS} s) over a kernel nobody changed by hand: none may count a repair.
    await sleep(RESYNC_SECONDS * 1000 + 1000);
    for (const node of spec.nodes) assert.deepEqual(await driftRepairs(node), {}, `${node}: drift repairs counted with no change by hand`);
  });

  after(async () => {
    await loop?.stop();
    router?.stop();
    await client?.close();
  });

  /** A case; after it, other tools' state must be what it was right after it was made, before the cluster started. */
  function testCase(title: string, fn: () => Promise<void>): void {
    it(title, async () => {
      await fn();
      for (const node of lab.spec.nodes) {
        const made = readFileSync(path.join(foreignDir, node), 'utf8');
        const now = foreignSnapshot(node);
        assert.equal(now, made, `${node}: other tools' state changed (${firstDifference(made, now)})`);
      }
      console.log(`      other tools' state unchanged on ${lab.spec.nodes.join(', ')} (nft ruleset, iptables-nft, ip6tables-nft, iptables-legacy, static routes, bridge: ${readFileSync(path.join(foreignDir, lab.spec.nodes[0]!), 'utf8').split('\n').length} lines each)`);
    });
  }

  /** Runs a drift case: the probes of the paths `untouched` must not fail; every path works again after. */
  async function driftCase(opts: {
    what: string;
    node: string;
    counted: string;
    untouched: PathKind[];
    make: () => Promise<void> | void;
    repaired: () => Promise<boolean> | boolean;
  }): Promise<void> {
    const before = await driftRepairs(opts.node);
    const window = loop.open();
    const t0 = Date.now();
    await opts.make();
    assert.equal(await opts.repaired(), false, `${opts.what}: the change by hand took effect`);
    await until(`${opts.what} repaired`, async () => ((await opts.repaired()) ? true : undefined), RESYNC_SECONDS * 1000 * 6, 100);
    const repairedAfter = Date.now() - t0;
    const counted = await until(`${opts.what} counted`, async () => {
      const c = await driftRepairs(opts.node);
      return (c[opts.counted] ?? 0) > (before[opts.counted] ?? 0) ? c : undefined;
    }, 30_000, 250);
    const changed = Object.keys({ ...before, ...counted }).filter((k) => counted[k] !== before[k]);
    await loop.clean(8, `every path behaving again after ${opts.what}`);
    loop.close(window);
    console.log(`      ${opts.what}: repaired after ${(repairedAfter / 1000).toFixed(1)} s (resync every ${RESYNC_SECONDS} s); drift repairs on ${opts.node}: ${JSON.stringify(counted)}`);
    console.log(`      probes: ${window.summary()}`);
    assert.deepEqual(changed, [opts.counted], `only ${opts.counted} counted: before ${JSON.stringify(before)}, after ${JSON.stringify(counted)}`);
    assert.equal(window.failedOf(opts.untouched), 0, `paths the change does not touch failed:\n${window.summary()}`);
  }

  testCase("drift: krouter's nftables table (the proxy's) deleted by hand is rewritten by the resync and counted", async () => {
    const node = lab.spec.nodes[1]!;
    const ns = nodeNetns(node);
    const exists = () => {
      try {
        execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'inet', 'krouter-proxy'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    };
    await driftCase({
      what: `table inet krouter-proxy deleted on ${node}`,
      node,
      counted: 'service-proxy/table',
      // The NodePort probes go to this node, the LoadBalancer's may (BIRD picks the node); the other paths do not pass its proxy.
      untouched: ['pod-to-pod', 'policy-allowed', 'policy-denied'],
      make: () => void execFileSync('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'inet', 'krouter-proxy']),
      repaired: exists,
    });
  });

  testCase("drift: a krouter route deleted by hand is put back by the resync and counted", async () => {
    const [n1, , n3] = nodes as [LabNodeInfo, LabNodeInfo, LabNodeInfo];
    const has = () => lab.fams.every((f) => nodeKrouterRoutes(n3.name, f).some((r) => r.dst === n1.podCidrs[f]));
    await driftCase({
      what: `routes to ${n1.name}'s pod CIDRs deleted on ${n3.name}`,
      node: n3.name,
      counted: 'router/route',
      // The client on node-3 loses node-1's pods (directly, and through the ClusterIP), so may the LoadBalancer's
      // probes (BIRD may send them to node-3); the rest does not pass there.
      untouched: ['router-to-nodeport', 'policy-allowed', 'policy-denied'],
      make: () => {
        for (const f of lab.fams) execFileSync('ip', ['-n', nodeNetns(n3.name), f === 'ipv4' ? '-4' : '-6', 'route', 'delete', n1.podCidrs[f]!, 'proto', String(KROUTER_PROTO)]);
      },
      repaired: has,
    });
  });

  testCase("drift: a policy's peer set emptied by hand is filled again by the resync and counted; the denied path stays denied", async () => {
    const node = lab.spec.nodes[1]!;
    const ns = nodeNetns(node);
    const clIPs = Object.values(ips.get('cl')!);
    /** The firewall's sets holding the allowed client's addresses. */
    const peerSets = (): Array<{ name: string; full: boolean }> => {
      const json = JSON.parse(execFileSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'table', 'inet', 'krouter-firewall'], { encoding: 'utf8' })) as { nftables: Array<{ set?: { name: string; elem?: unknown } }> };
      return json.nftables.flatMap((i) => (i.set?.name.startsWith('sel-') ? [{ name: i.set.name, full: clIPs.some((ip) => JSON.stringify(i.set!.elem ?? []).includes(`"${ip}"`)) }] : []));
    };
    const sets = peerSets().filter((s) => s.full).map((s) => s.name);
    assert.ok(sets.length >= lab.fams.length, `the policy's peer sets on ${node} hold the client: ${JSON.stringify(peerSets())}`);
    await driftCase({
      what: `sets ${sets.join(', ')} flushed on ${node}`,
      node,
      counted: 'firewall/element',
      untouched: ['pod-to-pod', 'pod-to-clusterip', 'router-to-nodeport', 'router-to-loadbalancer', 'policy-denied'],
      make: () => {
        for (const s of sets) execFileSync('ip', ['netns', 'exec', ns, 'nft', 'flush', 'set', 'inet', 'krouter-firewall', s]);
      },
      repaired: () => sets.every((s) => peerSets().find((x) => x.name === s)?.full),
    });
  });

  testCase('gobgpd killed (SIGKILL) on a node: the agent starts a new one and replays its paths; peers keep its routes; no probe fails', async () => {
    const [n1, n2, n3] = nodes as [LabNodeInfo, LabNodeInfo, LabNodeInfo];
    const socket = nodePaths(lab.spec, n1.name).gobgpSocket;
    const old = gobgpdPid(socket);
    assert.ok(old, `${n1.name}: gobgpd runs`);
    // node-1's pod CIDRs as the other nodes' kernels and BIRD hold them, sampled while probing.
    const missing: string[] = [];
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const peer of [n2, n3]) {
          for (const f of lab.fams) {
            const out = (await execFileP('ip', ['-n', nodeNetns(peer.name), '-j', f === 'ipv4' ? '-4' : '-6', 'route', 'show', 'proto', 'krouter'])).stdout;
            const routes = JSON.parse(out || '[]') as Array<{ dst: string; gateway?: string }>;
            if (!routes.some((r) => r.dst === n1.podCidrs[f] && r.gateway === n1.addresses[f])) missing.push(`${new Date().toISOString()} ${peer.name}: no route ${n1.podCidrs[f]}`);
          }
        }
        for (const f of lab.fams) {
          const argv = ['ip', 'netns', 'exec', ROUTER_NETNS, ...routerControlArgv(lab.spec, ['show', 'route', n1.podCidrs[f]!, 'all'])];
          const text = (await execFileP(argv[0]!, argv.slice(1))).stdout;
          if (!parseBirdRoutes(text).some((r) => r.fromBgp && r.prefix === n1.podCidrs[f] && r.nextHop === n1.addresses[f])) missing.push(`${new Date().toISOString()} BIRD: no route ${n1.podCidrs[f]}`);
        }
        samples++;
        await sleep(200);
      }
    })();
    const window = loop.open();
    let next: number | undefined;
    try {
      process.kill(old!, 'SIGKILL');
      next = await until(`${n1.name}: a new gobgpd`, () => {
        const pid = gobgpdPid(socket);
        return pid && pid !== old ? pid : undefined;
      }, 60_000, 100);
      await until(`${n1.name}: sessions established and its paths replayed`, () => {
        if (gobgpNeighbors(lab.spec, n1.name).some((n) => n.state !== 'established')) return undefined;
        for (const f of lab.fams) if (!gobgpRib(lab.spec, n1.name, f).some((p) => p.prefix === n1.podCidrs[f] && !p.neighbor)) return undefined;
        return true;
      }, 90_000, 250);
      // Peers drop stale routes once the restarted speaker's End-of-RIB is in: keep probing past that.
      await loop.more(30, 'probes after the restart');
    } finally {
      sampling = false;
      await sampler;
      loop.close(window);
    }
    console.log(`      gobgpd on ${n1.name}: pid ${old} killed, pid ${next} started by the agent; ${samples} route samples on ${n2.name}, ${n3.name} and BIRD, ${missing.length} missing`);
    console.log(`      probes: ${window.summary()}`);
    assert.deepEqual(missing.slice(0, 10), [], "node-1's routes withdrawn from peers");
    assert.equal(window.totalFailed, 0, window.summary());
  });

  testCase('kube-apiserver stopped for 60 s, then started: no probe fails, no kernel change meanwhile; a Service made after is served', async () => {
    const before = await Promise.all(lab.spec.nodes.map(dataPlane));
    const listsBefore = await Promise.all(lab.spec.nodes.map(informerLists));
    const window = loop.open();
    // The controller manager is held for the outage and started afresh after it. Left running, its
    // node-lifecycle controller finds every node's Lease unrenewed for longer than its grace period
    // the moment the API server is back, before the kubelets renew: it marks the nodes NotReady and
    // their pods not ready, and the EndpointSlices lose every endpoint. That is the control plane's
    // reaction to the outage, not the agents', and would hide theirs.
    const kcm = loadLabState(lab.stateDir)!.processes.find((p) => p.name === 'kube-controller-manager')!;
    process.kill(kcm.pid, 'SIGSTOP');
    let samples = 0;
    try {
      // SIGKILL: a clean stop would first take the API server's own endpoint out of the kubernetes Service.
      const restart = labCliAsync(lab.stateDir, ['restart-component', 'kube-apiserver', '--down', '60']);
      let done = false;
      void restart.finally(() => (done = true)).catch(() => undefined);
      try {
        while (!done) {
          const now = await Promise.all(lab.spec.nodes.map(dataPlane));
          lab.spec.nodes.forEach((n, i) => assert.equal(now[i], before[i], `${n}: data plane changed while the API server was away (${firstDifference(before[i]!, now[i]!)})`));
          samples++;
          await sleep(1000);
        }
      } finally {
        // A failed sample must not leave the API server down for the cases after this one.
        await restart;
      }
    } finally {
      await labCliAsync(lab.stateDir, ['restart-component', 'kube-controller-manager']);
    }
    const after = await Promise.all(lab.spec.nodes.map(dataPlane));
    lab.spec.nodes.forEach((n, i) => assert.equal(after[i], before[i], `${n}: data plane changed as the API server came back (${firstDifference(before[i]!, after[i]!)})`));
    // Watching again: a Service made now is served from the client pod in both families.
    const svc = await client.create(R.services, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'after-outage', namespace: NS },
      spec: { ipFamilyPolicy: 'PreferDualStack', selector: { app: 'web' }, ports: [{ name: 'tcp', port: 81, targetPort: PORT, protocol: 'TCP' }] },
    } as Obj);
    const fresh = svc.spec.clusterIPs as string[];
    const probeFresh = fromPod(lab.spec, 'cl');
    const t0 = Date.now();
    await until('the new Service served in both families', async () => {
      const r = await probeFresh(fresh.map((host) => ({ host, port: 81, proto: 'tcp' as const, timeoutMs: 1000 })));
      return r.every((x) => x.ok) ? true : undefined;
    }, 60_000, 250);
    const served = Date.now() - t0;
    // Served by every node's proxy, not only the client's: every agent watches again.
    const servedBy: string[] = [];
    for (const node of lab.spec.nodes) {
      await until(`${node} serves the new Service`, async () => {
        for (const ip of fresh) {
          const f = tryFamilyOf(ip)!;
          const { stdout } = await execFileP('ip', ['netns', 'exec', nodeNetns(node), 'nft', 'list', 'map', 'inet', 'krouter-proxy', `service-ips-${f}`]);
          if (!stdout.includes(`${ip} . tcp . 81 : goto svc-`)) return undefined;
        }
        return true;
      }, 90_000, 250);
      servedBy.push(`${node} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    await loop.more(8, 'probes after the outage');
    loop.close(window);
    const lists = await Promise.all(lab.spec.nodes.map(informerLists));
    console.log(`      ${samples} data-plane samples of ${lab.spec.nodes.length} nodes while the API server was away, all unchanged; informer lists per node ${listsBefore.join(', ')} -> ${lists.join(', ')}; new Service ${fresh.join(', ')} answered the client ${(served / 1000).toFixed(1)} s after its creation; in every node's proxy: ${servedBy.join(', ')}`);
    console.log(`      probes: ${window.summary()}`);
    assert.ok(samples >= 20, `sampled ${samples} times`);
    assert.equal(window.totalFailed, 0, window.summary());
  });
  testCase("etcd compacted to its latest revision and the API server restarted: every agent's watch gets 410 Gone, they relist, nothing changes, no probe fails", async () => {
    const before = await Promise.all(lab.spec.nodes.map(dataPlane));
    const listsBefore = await Promise.all(lab.spec.nodes.map(informerLists));
    const window = loop.open();
    // A write the agents do not watch, so that every resourceVersion they hold is older than the compaction.
    await client.create(R.configmaps, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'compaction-mark', namespace: NS }, data: { at: new Date().toISOString() } } as Obj);
    const revision = (await etcd('kv/range', { key: Buffer.from('/').toString('base64'), limit: 1, keys_only: true })).header.revision as string;
    await etcd('kv/compaction', { revision, physical: true });
    // Gone for reading: an old revision is refused now.
    const old = await execFileP('curl', ['-s', '--max-time', '10', '-X', 'POST', `http://127.0.0.1:${ETCD_CLIENT_PORT}/v3/kv/range`, '-d', JSON.stringify({ key: Buffer.from('/').toString('base64'), limit: 1, revision: String(Number(revision) - 1) })]);
    assert.match(old.stdout, /compacted/, `etcd refuses revision ${Number(revision) - 1}: ${old.stdout}`);
    // A new API server's watch cache starts at the latest revision: the agents' watches resume from older ones.
    const restart = labCliAsync(lab.stateDir, ['restart-component', 'kube-apiserver']);
    let samples = 0;
    let done = false;
    void restart.finally(() => (done = true)).catch(() => undefined);
    try {
      while (!done) {
        const now = await Promise.all(lab.spec.nodes.map(dataPlane));
        lab.spec.nodes.forEach((n, i) => assert.equal(now[i], before[i], `${n}: data plane changed (${firstDifference(before[i]!, now[i]!)})`));
        samples++;
        await sleep(500);
      }
    } finally {
      await restart;
    }
    const lists = await until('every agent relisted', async () => {
      const now = await Promise.all(lab.spec.nodes.map(informerLists));
      return now.every((n, i) => n > listsBefore[i]!) ? now : undefined;
    }, 60_000, 500);
    // The relists are in: a relist that would delete objects it missed would have done so by now. Watch a few more resyncs.
    await loop.more(Math.ceil((RESYNC_SECONDS * 2 * 1000) / ROUND_EVERY_MS), 'probes after the relists');
    const after = await Promise.all(lab.spec.nodes.map(dataPlane));
    lab.spec.nodes.forEach((n, i) => assert.equal(after[i], before[i], `${n}: data plane changed after the relists (${firstDifference(before[i]!, after[i]!)})`));
    loop.close(window);
    console.log(`      etcd compacted at revision ${revision}; informer lists per node ${listsBefore.join(', ')} -> ${lists.join(', ')}; ${samples + 1} data-plane samples, all unchanged`);
    console.log(`      probes: ${window.summary()}`);
    assert.equal(window.totalFailed, 0, window.summary());
  });
  testCase('a storm of 1,000 malformed or hostile objects the API server admits: no agent restarts, every valid one is programmed, every bad one gets a Warning event (at most one per agent); no probe fails', async () => {
    const window = loop.open();
    try {
      const kcm = loadLabState(lab.stateDir)!.processes.find((p) => p.name === 'kube-controller-manager')!;
      await runStorm({ client, spec: lab.spec, families: lab.fams, controllerManagerPid: kcm.pid, log: (line) => console.log(`      ${line}`) });
      await loop.more(8, 'probes after the storm');
    } finally {
      loop.close(window);
    }
    console.log(`      probes: ${window.summary()}`);
    assert.equal(window.totalFailed, 0, window.summary());
  });
  testCase("a node rebooted (its namespace made again empty while its agent restarts): it converges and rejoins; the other nodes' routes do not change; paths not through it lose nothing", async () => {
    const n3 = nodes[2]!;
    const others = lab.spec.nodes.filter((n) => n !== n3.name);
    const before = await Promise.all(others.map(routing));
    const clBefore = ips.get('cl')!;
    const window = loop.open();
    const reboot = labCliAsync(lab.stateDir, ['reboot-node', n3.name]);
    let samples = 0;
    let done = false;
    let out = '';
    void reboot.then((o) => (out = o)).finally(() => (done = true)).catch(() => undefined);
    try {
      while (!done) {
        const now = await Promise.all(others.map(routing));
        others.forEach((n, i) => assert.equal(now[i], before[i], `${n}: routes changed while ${n3.name} rebooted (${firstDifference(before[i]!, now[i]!)})`));
        samples++;
        await sleep(500);
      }
    } finally {
      await reboot;
    }
    // The client on the rebooted node runs again, with a new address the firewall of node-2 must learn.
    const cl = await until('the client pod Ready again', async () => {
      const p = await client.get(R.pods, NS, 'cl');
      const now = podIPsByFamily(p);
      return podReady(p) && lab.fams.every((f) => now[f]) ? now : undefined;
    }, 90_000, 250);
    await loop.clean(8, `every path behaving again after the reboot of ${n3.name}`);
    loop.close(window);
    const after = await Promise.all(others.map(routing));
    others.forEach((n, i) => assert.equal(after[i], before[i], `${n}: routes changed after ${n3.name} rebooted (${firstDifference(before[i]!, after[i]!)})`));
    console.log(`      ${out.trim().split('\n').filter((l) => / \(\+[\d.]+ s\)$/.test(l)).join('; ')}`);
    console.log(`      client pod ${JSON.stringify(clBefore)} -> ${JSON.stringify(cl)}; routes of ${others.join(', ')} sampled ${samples + 1} times, unchanged (${n3.name}'s pod CIDRs kept through graceful restart)`);
    console.log(`      probes: ${window.summary()}`);
    // Through the rebooted node: its client's probes fail while it is down, and the LoadBalancer's when BIRD
    // sends them there (its routes stay through graceful restart); everything else must not.
    assert.equal(window.failedOf(['router-to-nodeport', 'policy-denied']), 0, window.summary());
  });
  testCase(`an agent SIGKILLed in the middle of a full sync of ${BULK_SERVICES.toLocaleString('en')} Services, twice: the node converges on the same table; no probe of the existing Services fails`, async () => {
    const node = lab.spec.nodes[1]!;
    await client.create(R.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: BULK_NS } });
    // Selectorless single-stack IPv6 Services (the IPv6 service range is large): each one is an element
    // of every node's no-endpoint map, so a full sync writes all of them in one transaction.
    const t0 = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 48 }, async () => {
        for (let i = next++; i < BULK_SERVICES; i = next++) {
          await client.create(R.services, {
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: `bulk-${i}`, namespace: BULK_NS },
            spec: { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'], ports: [{ name: 'tcp', port: 80, protocol: 'TCP' }] },
          } as Obj);
        }
      }),
    );
    const created = Date.now() - t0;
    const map = 'no-endpoint-services-ipv6';
    for (const n of lab.spec.nodes) await until(`${n} programs every bulk Service`, async () => ((await proxyMapSize(n, map)) >= BULK_SERVICES ? true : undefined), 300_000, 1000);
    const programmed = Date.now() - t0;
    // The table the node converges on again: the same Services, the same endpoints.
    const before = await until('the proxy table settled', async () => {
      const a = await proxyTable(node);
      await sleep(RESYNC_SECONDS * 1000);
      return a === (await proxyTable(node)) ? a : undefined;
    }, 120_000, 0);

    const window = loop.open();
    const first = agentPodRecord(lab.spec, node)!.container;
    // The running agent, in its periodic resync (a full sync); then the agent the kubelet starts next, in its first one.
    const kills = [await killAgentMidFullSync(lab.spec, node, undefined, 60_000)];
    kills.push(await killAgentMidFullSync(lab.spec, node, kills[0]!.pid, 120_000));
    const t1 = Date.now();
    const last = await until(`${node}: the agent running again`, () => {
      const a = agentPodRecord(lab.spec, node)?.container;
      return a && a.pid !== kills[1]!.pid && isRecordedAlive(a) ? a : undefined;
    }, 120_000, 100);
    await until(`${node}: the proxy table as before the kills`, async () => ((await proxyTable(node)) === before ? true : undefined), 180_000, 1000);
    const converged = Date.now() - t1;
    await loop.more(8, 'probes after the convergence');
    loop.close(window);
    console.log(`      ${BULK_SERVICES} Services created in ${(created / 1000).toFixed(1)} s, in every node's proxy after ${(programmed / 1000).toFixed(1)} s`);
    console.log(`      ${node}: agent pid ${first.pid} SIGKILLed ${(kills[0]!.afterStartMs / 1000).toFixed(1)} s after its start, its nft pid ${kills[0]!.nft.pid} having read ${kills[0]!.nft.read} bytes of the transaction; pid ${kills[1]!.pid} SIGKILLed ${(kills[1]!.afterStartMs / 1000).toFixed(1)} s after its start, nft having read ${kills[1]!.nft.read} bytes; pid ${last.pid} converged on the same table ${(converged / 1000).toFixed(1)} s after the second kill`);
    console.log(`      probes: ${window.summary()}`);
    assert.equal(kills[0]!.pid, first.pid, 'the first kill hit the agent that was running');
    assert.equal(window.totalFailed, 0, window.summary());
  });
});
