/**
 * Side by side with kube-proxy: the real kube-proxy (nftables mode, built
 * from the lab's pinned k8s.io/kubernetes by test/lab/k8s/build.sh) and the
 * real `dist/krouter` (service-proxy plugin), each alone in a network
 * namespace of its own, against the same scripted API server and the same
 * N dual-stack services with 2 endpoints per family. Measured per side:
 *
 *  - services created in the API -> all of them in the kernel (wall time),
 *    and how much of it the proxy spent in its syncs (its own metrics);
 *  - one EndpointSlice update, median of a few changes: the wall time from
 *    the update sent to the API server until the kernel reports the new
 *    endpoint's rule (nft monitor in the proxy's namespace: informer,
 *    debounce and sync included), the duration of the sync that applied it
 *    (its own sync-duration metric), and for krouter the size of its
 *    transaction (its own metric; kube-proxy has none).
 *
 * The two run one after the other, never together: the machine has 2 cores
 * and each side should have what the other would take. Raw = kube-proxy.
 * KROUTER_BENCH_KP_SERVICES picks the counts (default "10000,30000"; the
 * 30k round takes about 12 minutes here); KROUTER_BENCH_KP_LOG=1 prints
 * kube-proxy's log to stderr.
 */
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Cleanups } from '../helpers/cleanups.ts';
import { API_RELAY_PORT, startCluster, startRelay, underlay, UNDERLAY_PREFIX, type Cluster } from '../helpers/bgp-peers.ts';
import { resourceByKind } from '../helpers/fake-apiserver/index.ts';
import { metricValue } from '../helpers/krouter-process.ts';
import { addsAddress, startNftMonitor } from '../helpers/nft-monitor.ts';
import { addAddress, createNetns, deleteNetns, inNetns, linkNetns, requireRoot } from '../helpers/netns.ts';
import { startProcess, stopProcess } from '../helpers/processes.ts';
import { makeService, makeSlice } from '../helpers/services.ts';
import type { BenchRow } from './run.ts';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const COUNTS = (process.env.KROUTER_BENCH_KP_SERVICES ?? '10000,30000').split(',').map(Number);
const CHANGES = 5;
const NS = 'bench';
const PROGRAM_TIMEOUT_MS = 600_000;

// Addresses (198.18.0.0/15, fd00::/8), distinct for up to 32k services:
// ClusterIPs in 198.18.128.0/17 and fd00:20::/108, endpoints in 198.19.0.0/16 and fd00:19::/112,
// the changed endpoints of the endpoint-change runs in fd00:21::/112 and 198.18.64.0/18.
const clusterIPv4 = (i: number) => `198.18.${128 + (i >> 8)}.${i & 255}`;
const clusterIPv6 = (i: number) => `fd00:20::${i.toString(16)}`;
const endpointV4 = (i: number, k: number) => `198.19.${(2 * i + k) >> 8}.${(2 * i + k) & 255}`;
const endpointV6 = (i: number, k: number) => `fd00:19::${(2 * i + k).toString(16)}`;
const changedV4 = (c: number) => `198.18.${64 + (c >> 8)}.${c & 255}`;
const CLUSTER_CIDRS = '198.19.0.0/16,fd00:19::/64';
const SERVICE_CIDRS = ['198.18.128.0/17', 'fd00:20::/108'];

const svcDef = resourceByKind('Service')!;
const sliceDef = resourceByKind('EndpointSlice')!;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sliceV4(i: number, endpoints: string[]) {
  return makeSlice(NS, `s${i}`, `s${i}-4`, 'IPv4', endpoints.map((ip) => ({ ip, node: 'node-1' })));
}

function createServices(c: Cluster, n: number): void {
  for (let i = 0; i < n; i++) {
    c.store.create(svcDef, NS, makeService(NS, `s${i}`, { clusterIPs: [clusterIPv4(i), clusterIPv6(i)], ipFamilies: ['IPv4', 'IPv6'] }));
    c.store.create(sliceDef, NS, sliceV4(i, [endpointV4(i, 0), endpointV4(i, 1)]));
    c.store.create(sliceDef, NS, makeSlice(NS, `s${i}`, `s${i}-6`, 'IPv6', [0, 1].map((k) => ({ ip: endpointV6(i, k), node: 'node-1' }))));
  }
}

function deleteServices(c: Cluster, n: number): void {
  for (let i = 0; i < n; i++) {
    c.store.delete(svcDef, NS, `s${i}`);
    c.store.delete(sliceDef, NS, `s${i}-4`);
    c.store.delete(sliceDef, NS, `s${i}-6`);
  }
}

/**
 * The proxy's metrics, scraped inside its namespace (both listen on their
 * namespace's loopback only). A proxy busy with a large sync may answer only
 * after it: wait for it, the answer is then the state after that sync.
 */
function scrape(ns: string, url: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('ip', ['netns', 'exec', ns, 'curl', '-sS', '--max-time', '300', url], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, out, stderr) =>
      err ? reject(new Error(`curl ${url} in ${ns}: ${stderr || err.message}`)) : resolve(out),
    ),
  );
}

/** Elements of an nft verdict map (one ` : ` per element), 0 while the map is not there. */
function mapElements(ns: string, family: string, table: string, map: string): number {
  try {
    const out = execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'map', family, table, map], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] });
    return (out.match(/ : /g) ?? []).length;
  } catch {
    return 0;
  }
}

/** Sum and count of a histogram's samples with these labels. */
function histogram(text: string, name: string, labels: Record<string, string>): { sum: number; count: number } {
  return { sum: metricValue(text, `${name}_sum`, labels) ?? 0, count: metricValue(text, `${name}_count`, labels) ?? 0 };
}

/** What one side is asked for: how to read its metrics and whether its kernel state is complete. */
interface Side {
  name: string;
  ns: string;
  metrics(): Promise<string>;
  /** Sync seconds and syncs so far, over every sync of the proxy (both families for kube-proxy). */
  syncTotals(text: string): { sum: number; count: number };
  /** The histogram a one-endpoint (IPv4 slice) change lands in. */
  changeSync(text: string): { sum: number; count: number };
  /** The histogram of that change's transaction size in bytes, if the proxy has one. */
  changeBytes?(text: string): { sum: number; count: number };
  /** Both families' ClusterIP maps hold n services, read from the kernel. */
  programmed(n: number): boolean;
  /** Wall-clock ms at which the proxy finished programming n services (polls as needed). */
  waitProgrammed(n: number, since: number): Promise<number>;
}

interface Result {
  programMs: number;
  syncSeconds: number;
  syncs: number;
  change: ChangeResult;
}

/** One endpoint change, medians over CHANGES of them. */
interface ChangeResult {
  /** EndpointSlice update sent to the API server -> the new endpoint's rule reported by the kernel. */
  wallMs: number;
  /** The sync that applied it, from the proxy's own metric. */
  syncMs: number;
  /** Its nftables transaction, from the proxy's own metric (undefined if the proxy has none). */
  bytes?: number;
}

async function measure(side: Side, c: Cluster, n: number): Promise<Result> {
  const before = side.syncTotals(await side.metrics());
  const t0 = Date.now();
  createServices(c, n);
  const done = await side.waitProgrammed(n, t0);
  const after = side.syncTotals(await side.metrics());
  const change = await endpointChanges(side, c, n);
  return { programMs: done - t0, syncSeconds: after.sum - before.sum, syncs: after.count - before.count, change };
}

/**
 * One endpoint of the IPv4 slice replaced, service by service: each sync has
 * one change to apply. The kernel's own report (nft monitor) says when the
 * new endpoint's rule is in; the metrics are read only after that, so their
 * scraping does not take CPU from the proxy while it works.
 */
async function endpointChanges(side: Side, c: Cluster, n: number): Promise<ChangeResult> {
  // nft 1.0.6 has been seen not to finish reading kube-proxy's ruleset of 30,000 services within
  // minutes: then the wall time is NaN and the sync metrics are still measured.
  const monitor = await startNftMonitor(side.ns).catch((e: unknown) => {
    process.stderr.write(`${side.name} at ${n} services: no update -> kernel wall time: ${e instanceof Error ? e.message : String(e)}\n`);
    return undefined;
  });
  const wall: number[] = [];
  const sync: number[] = [];
  const bytes: number[] = [];
  try {
    for (let k = 0; k < CHANGES; k++) {
      // Past both proxies' minimum interval between syncs (krouter's minSyncMs, 100 ms; kube-proxy's --min-sync-period, 1 s),
      // so the change is synced at once and alone.
      await sleep(1500);
      const m0 = await side.metrics();
      const i = (k * 997) % n;
      const sent = performance.now();
      c.store.update(sliceDef, NS, `s${i}-4`, sliceV4(i, [changedV4(k), endpointV4(i, 1)]));
      wall.push(monitor ? (await monitor.waitFor(addsAddress(changedV4(k)), sent, 60_000)) - sent : NaN);
      const m1 = await syncedAfter(side, m0);
      sync.push(perSample(side.changeSync(m0), side.changeSync(m1)) * 1000);
      if (side.changeBytes) bytes.push(perSample(side.changeBytes(m0), side.changeBytes(m1)));
    }
  } finally {
    await monitor?.stop();
  }
  return { wallMs: median(wall), syncMs: median(sync), ...(bytes.length ? { bytes: median(bytes) } : {}) };
}

/** The proxy's metrics once its change histogram has a sample more than in `m0`. */
async function syncedAfter(side: Side, m0: string): Promise<string> {
  const count0 = side.changeSync(m0).count;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const m1 = await side.metrics();
    if (side.changeSync(m1).count > count0) return m1;
    if (Date.now() > deadline) throw new Error(`${side.name}: no sync within 60 s after an EndpointSlice update`);
    await sleep(50);
  }
}

/** Mean of a histogram's samples added between two reads. */
const perSample = (a: { sum: number; count: number }, b: { sum: number; count: number }) => (b.sum - a.sum) / (b.count - a.count);

/** The agent started by startCluster on node-1. */
function krouterSide(c: Cluster): Side {
  const node = c.nodes[0]!;
  // Over both sync modes: a change that took a full sync counts with what that cost.
  const both = (name: string) => (t: string) => {
    const f = histogram(t, name, { mode: 'full' });
    const p = histogram(t, name, { mode: 'partial' });
    return { sum: f.sum + p.sum, count: f.count + p.count };
  };
  const syncs = both('krouter_service_proxy_sync_duration_seconds');
  const side: Side = {
    name: 'krouter',
    ns: node.ns,
    metrics: () => scrape(node.ns, `${node.agent.metricsUrl}/metrics`),
    syncTotals: syncs,
    changeSync: syncs,
    changeBytes: both('krouter_service_proxy_transaction_bytes'),
    programmed: (n) => ['ipv4', 'ipv6'].every((f) => mapElements(node.ns, 'inet', 'krouter-proxy', `service-ips-${f}`) >= n),
    // The agent publishes its services gauge after each transaction: poll it, cheap, then confirm from the kernel.
    waitProgrammed: async (n, since) => {
      for (;;) {
        const t = await side.metrics();
        const now = Date.now();
        if (['ipv4', 'ipv6'].every((family) => (metricValue(t, 'krouter_service_proxy_services', { family }) ?? 0) >= n) && side.programmed(n)) return now;
        if (now - since > PROGRAM_TIMEOUT_MS) throw new Error(`krouter did not program ${n} services within ${PROGRAM_TIMEOUT_MS / 1000} s`);
        await sleep(200);
      }
    },
  };
  return side;
}

const KP_METRICS_PORT = 10249;
const KP_HEALTHZ_PORT = 10256;

/** kube-proxy in its own namespace, as node-2 of the cluster; returns the side and how to stop it. */
async function startKubeProxy(c: Cluster, bin: string): Promise<{ side: Side; child: ChildProcess; output: () => string; cleanup: () => Promise<void> }> {
  const cleanups = new Cleanups();
  const cleanup = () => cleanups.run();
  try {
    const ns = createNetns('kpc-kp');
    cleanups.add(() => deleteNetns(ns));
    linkNetns(ns, 'eth0', c.switchNs, 'kp0');
    inNetns(c.switchNs, 'ip', ['link', 'set', 'kp0', 'master', 'br0']);
    for (const f of ['ipv4', 'ipv6'] as const) addAddress(ns, 'eth0', `${underlay(2)[f]}/${UNDERLAY_PREFIX[f]}`);
    await c.createNode(c.nodeObject(2));
    cleanups.add(() => c.deleteNode('node-2'));
    const relay = await startRelay(ns, path.join(c.dir, 'api.sock'));
    cleanups.add(() => stopProcess(relay));

    const kubeconfig = path.join(c.dir, 'kube-proxy.kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'bench', cluster: { server: `http://127.0.0.1:${API_RELAY_PORT}` } }],
        users: [{ name: 'bench', user: {} }],
        contexts: [{ name: 'bench', context: { cluster: 'bench', user: 'bench' } }],
        'current-context': 'bench',
      }),
    );
    const args = [
      '--proxy-mode=nftables',
      `--kubeconfig=${kubeconfig}`,
      // The scripted API server speaks JSON only.
      '--kube-api-content-type=application/json',
      '--hostname-override=node-2',
      `--cluster-cidr=${CLUSTER_CIDRS}`,
      `--metrics-bind-address=127.0.0.1:${KP_METRICS_PORT}`,
      `--healthz-bind-address=127.0.0.1:${KP_HEALTHZ_PORT}`,
      // Leave every conntrack sysctl as it is (some are machine-wide).
      '--conntrack-max-per-core=0',
      '--conntrack-tcp-timeout-established=0',
      '--conntrack-tcp-timeout-close-wait=0',
      '--conntrack-udp-timeout=0',
      '--conntrack-udp-timeout-stream=0',
      '--v=1',
    ];
    const child = startProcess('ip', ['netns', 'exec', ns, bin, ...args]);
    cleanups.add(() => stopProcess(child, 10_000));
    const lines: string[] = [];
    const keep = (d: Buffer) => {
      lines.push(...d.toString('utf8').split('\n').filter(Boolean));
      if (lines.length > 400) lines.splice(0, lines.length - 400);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const output = () => lines.join('\n');

    const url = `http://127.0.0.1:${KP_METRICS_PORT}/metrics`;
    const families = ['IPv4', 'IPv6'];
    const last = (t: string) => Math.max(...families.map((ip_family) => metricValue(t, 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', { ip_family }) ?? 0));
    const side: Side = {
      name: 'kube-proxy',
      ns,
      metrics: () => scrape(ns, url),
      // One proxier per family, each with its own syncs.
      syncTotals: (t) => {
        const [a, b] = families.map((ip_family) => histogram(t, 'kubeproxy_sync_proxy_rules_duration_seconds', { ip_family }));
        return { sum: a!.sum + b!.sum, count: a!.count + b!.count };
      },
      changeSync: (t) => histogram(t, 'kubeproxy_sync_proxy_rules_duration_seconds', { ip_family: 'IPv4' }),
      programmed: (n) => mapElements(ns, 'ip', 'kube-proxy', 'service-ips') >= n && mapElements(ns, 'ip6', 'kube-proxy', 'service-ips') >= n,
      // Its own metric says when its last sync ended; the kernel is read only after a sync ended since the last look.
      waitProgrammed: async (n, since) => {
        let looked = 0;
        for (;;) {
          const ended = last(await side.metrics()) * 1000;
          if (ended !== looked && ended > since) {
            looked = ended;
            // The end time counts only if no other sync ended while the kernel was read: then the state read is that sync's.
            if (side.programmed(n) && last(await side.metrics()) * 1000 === ended) return ended;
          }
          if (child.exitCode !== null) throw new Error(`kube-proxy exited (${child.exitCode}):\n${output()}`);
          if (Date.now() - since > PROGRAM_TIMEOUT_MS) throw new Error(`kube-proxy did not program ${n} services within ${PROGRAM_TIMEOUT_MS / 1000} s:\n${output()}`);
          await sleep(200);
        }
      },
    };
    // Up: both family proxiers have synced once (the empty cluster).
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`kube-proxy exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
      const t = await side.metrics().catch(() => '');
      if (families.every((ip_family) => (metricValue(t, 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', { ip_family }) ?? 0) > 0)) break;
      if (Date.now() > deadline) throw new Error(`kube-proxy did not sync both families within 60 s:\n${output()}`);
      await sleep(250);
    }
    return { side, child, output, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

function kubeProxyBinary(): string {
  const dir = execFileSync('bash', [path.join(REPO, 'test', 'lab', 'k8s', 'build.sh'), '--dir'], { encoding: 'utf8' }).trim();
  const bin = path.join(dir, 'kube-proxy');
  if (!fs.existsSync(bin)) throw new Error(`no ${bin}: build it with \`bash test/lab/k8s/build.sh\` (scripts/setup.sh does)`);
  return bin;
}

export default async function kubeProxyCompare(): Promise<BenchRow[]> {
  requireRoot();
  const bin = kubeProxyBinary();
  const rows: BenchRow[] = [];
  const changeBytes: Array<{ label: string; bytes: number }> = [];
  for (const n of COUNTS) {
    const label = `${n / 1000}k`;
    const c = await startCluster({ tag: 'kpc', mode: 'dual', nodes: 1, router: 'none', plugins: { 'service-proxy': { enabled: true } } }, { command: path.join(REPO, 'dist', 'krouter'), args: [] });
    try {
      c.store.create(resourceByKind('Namespace')!, undefined, { metadata: { name: NS } });
      // The service ranges, as a real API server has them (kube-proxy rejects traffic to unallocated ClusterIPs in them).
      c.store.create(resourceByKind('ServiceCIDR')!, undefined, { metadata: { name: 'kubernetes' }, spec: { cidrs: SERVICE_CIDRS } });
      const k = krouterSide(c);
      // Up: the first (empty) full sync is done.
      for (let t = Date.now(); !(histogram(await k.metrics(), 'krouter_service_proxy_sync_duration_seconds', { mode: 'full' }).count > 0); ) {
        if (Date.now() - t > 60_000) throw new Error('krouter did not sync within 60 s');
        await sleep(200);
      }
      const kr = await measure(k, c, n);
      // krouter leaves before kube-proxy comes, and so do the services: kube-proxy gets them the same way.
      await stopProcess(c.nodes[0]!.agent.child, 10_000);
      deleteServices(c, n);
      const kp = await startKubeProxy(c, bin);
      let raw: Result;
      try {
        raw = await measure(kp.side, c, n);
      } finally {
        if (process.env.KROUTER_BENCH_KP_LOG) process.stderr.write(`kube-proxy output:\n${kp.output()}\n`);
        await kp.cleanup();
      }
      rows.push(
        { benchmark: `kube-proxy compare: ${label} dual-stack svc created -> all programmed (wall)`, krouter: kr.programMs, raw: raw.programMs, unit: 'ms', target: 'krouter no slower' },
        { benchmark: `  time in syncs meanwhile, own metrics (krouter ${kr.syncs} syncs, kube-proxy ${raw.syncs} over 2 families)`, krouter: kr.syncSeconds * 1000, raw: raw.syncSeconds * 1000, unit: 'ms' },
        {
          benchmark: `  one endpoint change at ${label} svc: EndpointSlice update -> rule in kernel (wall, nft monitor, median of ${CHANGES})`,
          krouter: kr.change.wallMs,
          raw: raw.change.wallMs,
          unit: 'ms',
          target: 'krouter ≤ 250 ms and no slower',
        },
        { benchmark: `  one endpoint change at ${label} svc: sync duration, own metric (median of ${CHANGES})`, krouter: kr.change.syncMs, raw: raw.change.syncMs, unit: 'ms', target: 'krouter no slower' },
      );
      changeBytes.push({ label, bytes: kr.change.bytes ?? NaN });
    } finally {
      await c.stop();
    }
  }
  return [...rows, ...transactionSizeRows(changeBytes)];
}

/**
 * krouter's transaction per endpoint change at each count against the first
 * count's (kube-proxy does not report its size): ratio 1 is a size
 * independent of the number of services. A single count is printed alone.
 */
function transactionSizeRows(sizes: ReadonlyArray<{ label: string; bytes: number }>): BenchRow[] {
  const [first, ...rest] = sizes;
  if (!first) return [];
  if (!rest.length) return [{ benchmark: `kube-proxy compare: krouter transaction per endpoint change at ${first.label} svc (median)`, krouter: first.bytes, raw: 0, unit: 'bytes' }];
  return rest.map((s) => ({
    benchmark: `kube-proxy compare: krouter transaction per endpoint change, ${s.label} vs ${first.label} svc (median)`,
    krouter: s.bytes,
    raw: first.bytes,
    unit: 'bytes',
    target: 'ratio 1 (size independent of services)',
  }));
}
