/**
 * The lab kubelet for one node (runs in the lab daemon, in the root
 * namespace): registers the Node, and turns every Pod bound to the node into
 * a network namespace attached with the real CNI plugins and the conflist the
 * node's krouter wrote, with the pod test server on the pod's ports. Every
 * namespace and process is recorded under <state>/nodes/<node>/pods/ before
 * it is made, so `lab down` can remove it after a crash.
 */
import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { nodeNetns, nodePaths, nodeUnderlayByName, podNetnsName, statePaths, type LabSpec } from '../config.ts';
import { isRecordedAlive, processStartTime } from '../state.ts';
import { Informer, KubeClient, KubeError, keyOf, R, type Obj } from '../controllers/kube.ts';
import { cniAdd, cniDel, parseConflist, resultIPs, type Conflist } from './cni.ts';
import { podPorts, portMappings, runningStatus } from './pod.ts';

const execFileP = promisify(execFile);
const POD_SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'pod-server.mjs');

export interface Kubelet {
  close(): Promise<void>;
}

/** What the kubelet made for one pod; written before each thing is made. */
export interface PodRecord {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  netns: string;
  containerId: string;
  /** The conflist the pod was attached with (DEL must use the same). */
  conflist?: Conflist;
  cniResult?: unknown;
  server?: { pid: number; startTime?: string };
  socket: string;
  ips?: Record<string, string>;
}

/** Control socket of a pod's test server (the filesystem is shared by all namespaces). */
export function podSocketPath(spec: Pick<LabSpec, 'stateDir'>, netns: string): string {
  return path.join(spec.stateDir, 'pods', `${netns}.sock`);
}

/** Counting semaphore: bounded parallel pod work. */
class Limit {
  private active = 0;
  private waiting: Array<() => void> = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

async function sh(args: string[]): Promise<string> {
  try {
    return (await execFileP(args[0]!, args.slice(1), { encoding: 'utf8' })).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${args.join(' ')}: ${(err.stderr || err.message).trim()}`);
  }
}

/** One JSON request to a pod server's control socket. */
export function controlRequest(socket: string, req: Record<string, unknown>, timeoutMs = 5000): Promise<any> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    let buf = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`${socket}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.on('connect', () => conn.end(`${JSON.stringify(req)}\n`));
    conn.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        conn.destroy();
        try {
          resolve(JSON.parse(buf.slice(0, nl)));
        } catch (e) {
          reject(e);
        }
      }
    });
    conn.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export async function startKubelet(opts: { apiUrl: string; spec: LabSpec; node: string; log?: (line: string) => void; concurrency?: number }): Promise<Kubelet> {
  const { spec, node } = opts;
  const log = opts.log ?? (() => undefined);
  const client = new KubeClient(opts.apiUrl);
  const paths = nodePaths(spec, node);
  const nodeNs = nodeNetns(node);
  const underlay = nodeUnderlayByName(spec, node);
  const limit = new Limit(opts.concurrency ?? 6);
  const podLogDir = path.join(statePaths.logs(spec.stateDir), 'pods');
  for (const d of [paths.podsDir, path.join(spec.stateDir, 'pods'), podLogDir]) mkdirSync(d, { recursive: true });

  const recordFile = (netns: string) => path.join(paths.podsDir, `${netns}.json`);
  const saveRecord = (r: PodRecord) => {
    const f = recordFile(r.netns);
    writeFileSync(`${f}.tmp`, JSON.stringify(r));
    renameSync(`${f}.tmp`, f);
  };

  // ---- CNI config: wait for the node's krouter to write it ---------------------
  let conflistCache: { text: string; list: Conflist } | undefined;
  const readConflist = (): Conflist | undefined => {
    if (!existsSync(paths.cniConfPath)) return undefined;
    const text = readFileSync(paths.cniConfPath, 'utf8');
    if (conflistCache?.text !== text) conflistCache = { text, list: parseConflist(text, paths.cniConfPath) };
    return conflistCache.list;
  };
  let closed = false;
  const waitConflist = async (): Promise<Conflist> => {
    for (;;) {
      if (closed) throw new Error('kubelet closing');
      try {
        const l = readConflist();
        if (l) return l;
      } catch (e) {
        log(`CNI config: ${(e as Error).message}; waiting for a valid one`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  // ---- the Node object ------------------------------------------------------------
  const nodeStatus = (ready: boolean) => ({
    addresses: [...Object.values(underlay).map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: node }],
    conditions: [
      {
        type: 'Ready',
        status: ready ? 'True' : 'False',
        reason: ready ? 'KubeletReady' : 'NetworkPluginNotReady',
        message: ready ? 'lab kubelet is posting ready status' : `network plugin not ready: no CNI config at ${paths.cniConfPath}`,
        lastHeartbeatTime: new Date().toISOString(),
        lastTransitionTime: new Date().toISOString(),
      },
    ],
    nodeInfo: { kubeletVersion: 'v1.30.0-krlab', operatingSystem: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch },
  });
  // Annotations asked for at `lab up` (e.g. BGP route-reflector roles) are there before the node's agent first reads the Node.
  const annotations = spec.nodeAnnotations?.[node];
  const existingNode = await client.tryGet(R.nodes, undefined, node);
  if (!existingNode) {
    try {
      await client.create(R.nodes, {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: node, labels: { 'kubernetes.io/hostname': node, 'kubernetes.io/os': 'linux' }, ...(annotations ? { annotations } : {}) },
      });
    } catch (e) {
      if (!(e instanceof KubeError && e.code === 409)) throw e;
      if (annotations) await client.patch(R.nodes, undefined, node, { metadata: { annotations } });
    }
  } else if (annotations) {
    await client.patch(R.nodes, undefined, node, { metadata: { annotations } });
  }
  await client.patch(R.nodes, undefined, node, { status: nodeStatus(false) }, 'status');
  const nodeReady = waitConflist().then(async (l) => {
    await client.patch(R.nodes, undefined, node, { status: nodeStatus(true) }, 'status');
    log(`CNI config ${paths.cniConfPath} present (${l.plugins.map((p) => p.type).join(' + ')}); node Ready`);
  });
  nodeReady.catch((e) => log(`node readiness: ${(e as Error).message}`));

  // ---- pods --------------------------------------------------------------------------
  /** pod key -> what runs for it. */
  const running = new Map<string, PodRecord>();
  const busy = new Map<string, Promise<void>>();
  const again = new Set<string>();

  const stopPod = async (r: PodRecord): Promise<void> => {
    if (r.server && isRecordedAlive(r.server)) {
      try {
        process.kill(r.server.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      for (let i = 0; i < 50 && isRecordedAlive(r.server); i++) await new Promise((res) => setTimeout(res, 20));
      if (isRecordedAlive(r.server)) process.kill(r.server.pid, 'SIGKILL');
    }
    if (r.conflist) {
      const errors = await cniDel(nodeNs, r.conflist, {
        containerId: r.containerId,
        netnsPath: `/var/run/netns/${r.netns}`,
        ifName: 'eth0',
        args: { K8S_POD_NAMESPACE: r.namespace, K8S_POD_NAME: r.name, K8S_POD_INFRA_CONTAINER_ID: r.containerId, K8S_POD_UID: r.uid },
        runtimeConfig: {},
      }, r.cniResult);
      for (const e of errors) log(`pod ${r.namespace}/${r.name}: CNI DEL: ${e}`);
    }
    if (existsSync(`/var/run/netns/${r.netns}`)) await sh(['ip', 'netns', 'delete', r.netns]).catch((e) => log(`pod ${r.namespace}/${r.name}: ${(e as Error).message}`));
    rmSync(r.socket, { force: true });
    rmSync(recordFile(r.netns), { force: true });
  };

  const startPod = async (pod: Obj): Promise<void> => {
    const ns = pod.metadata.namespace!;
    const name = pod.metadata.name;
    const list = await waitConflist();
    const netns = podNetnsName(ns, name);
    const r: PodRecord = {
      namespace: ns,
      name,
      uid: pod.metadata.uid!,
      node,
      netns,
      containerId: `krlab-${pod.metadata.uid}`,
      socket: podSocketPath(spec, netns),
    };
    running.set(keyOf(pod), r);
    saveRecord(r);
    // A namespace left from an earlier life of this pod name goes first.
    if (existsSync(`/var/run/netns/${netns}`)) await sh(['ip', 'netns', 'delete', netns]);
    await sh(['ip', 'netns', 'add', netns]);
    // lo up, and no duplicate address detection, so IPv6 addresses are usable at once.
    await sh(['ip', 'netns', 'exec', netns, 'sh', '-c', 'ip link set lo up; for k in all default; do echo 0 > /proc/sys/net/ipv6/conf/$k/accept_dad; done 2>/dev/null; true']);
    r.conflist = list;
    saveRecord(r);

    // The test server listens on wildcard addresses, so it can start before
    // the pod has its interface: its start-up (a Node process, the largest
    // per-pod cost) overlaps the CNI ADD chain instead of following it.
    const ports = podPorts(pod);
    const args = ['--name', name, '--control', r.socket, ...ports.tcp.flatMap((p) => ['--tcp', String(p)]), ...ports.udp.flatMap((p) => ['--udp', String(p)])];
    const logFd = openSync(path.join(podLogDir, `${netns}.log`), 'a');
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, POD_SERVER, ...args], { stdio: ['ignore', logFd, logFd], detached: true });
    closeSync(logFd);
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start the pod server for ${ns}/${name}`);
    r.server = { pid: child.pid, startTime: processStartTime(child.pid) };
    saveRecord(r);

    r.cniResult = await cniAdd(nodeNs, list, {
      containerId: r.containerId,
      netnsPath: `/var/run/netns/${netns}`,
      ifName: 'eth0',
      args: { K8S_POD_NAMESPACE: ns, K8S_POD_NAME: name, K8S_POD_INFRA_CONTAINER_ID: r.containerId, K8S_POD_UID: r.uid },
      runtimeConfig: { portMappings: portMappings(pod) },
    });
    const ips = resultIPs(r.cniResult);
    r.ips = ips as Record<string, string>;
    saveRecord(r);

    const startTime = new Date().toISOString();
    // One status write, once the server answers on its control socket (its
    // listeners are up by then): IPs, Running and Ready together.
    // Ready once the server answers on its control socket (its listeners are up by then).
    let ready = false;
    for (let i = 0; i < 200 && !ready && !closed; i++) {
      try {
        ready = (await controlRequest(r.socket, { ping: true }, 1000)).ok === true;
      } catch {
        await new Promise((res) => setTimeout(res, 25));
      }
      if (child.exitCode !== null) throw new Error(`pod server for ${ns}/${name} exited with ${child.exitCode} (log ${podLogDir}/${netns}.log)`);
    }
    if (!ready) throw new Error(`pod server for ${ns}/${name} did not answer`);
    await client.patch(R.pods, ns, name, { status: runningStatus(ips, underlay, true, startTime) }, 'status');
    log(`pod ${ns}/${name}: ${Object.values(ips).join(', ')} ready`);
  };

  /** Brings one pod to what the API says (running, or gone). */
  const syncPod = async (key: string): Promise<void> => {
    const pod = pods.store.get(key);
    const want = pod && !pod.metadata.deletionTimestamp && pod.spec?.nodeName === node ? pod : undefined;
    const have = running.get(key);
    if (have && (!want || want.metadata.uid !== have.uid)) {
      await limit.run(() => stopPod(have));
      running.delete(key);
      log(`pod ${key}: removed`);
      if (pod?.metadata.deletionTimestamp && pod.metadata.uid === have.uid) {
        // Finalize a graceful delete, as the kubelet does once the pod is gone.
        await client.delete(R.pods, pod.metadata.namespace, pod.metadata.name, { gracePeriodSeconds: 0, uid: have.uid });
      }
    }
    if (want && !running.has(key)) {
      try {
        await limit.run(() => startPod(want));
      } catch (e) {
        const msg = (e as Error).message;
        log(`pod ${key}: ${msg}`);
        const r = running.get(key);
        running.delete(key);
        if (r) await stopPod(r).catch(() => undefined);
        if (closed) return;
        await client
          .patch(R.pods, want.metadata.namespace, want.metadata.name, { status: { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False', reason: 'SandboxFailed', message: msg }] } }, 'status')
          .catch(() => undefined);
        // Retry later, like a kubelet's sandbox backoff.
        setTimeout(() => enqueue(key), 2000);
      }
    }
  };

  const enqueue = (key: string): void => {
    if (closed) return;
    if (busy.has(key)) {
      again.add(key);
      return;
    }
    const p = syncPod(key)
      .catch((e) => log(`pod ${key}: ${(e as Error).message}`))
      .finally(() => {
        busy.delete(key);
        if (again.delete(key)) enqueue(key);
      });
    busy.set(key, p);
  };

  // Whatever an earlier run left (the API server's store went with it) is removed first.
  const leftovers = readdirSync(paths.podsDir).filter((f) => f.endsWith('.json'));
  await Promise.all(
    leftovers.map((f) =>
      limit.run(async () => {
        try {
          await stopPod(JSON.parse(readFileSync(path.join(paths.podsDir, f), 'utf8')) as PodRecord);
        } catch (e) {
          log(`leftover ${f}: ${(e as Error).message}`);
          rmSync(path.join(paths.podsDir, f), { force: true });
        }
      }),
    ),
  );

  const onPod = (p: Obj) => enqueue(keyOf(p));
  const pods: Informer = new Informer(client, R.pods, { onAdd: onPod, onUpdate: onPod, onDelete: onPod, onSync: () => { for (const k of running.keys()) enqueue(k); } }, { log, fieldSelector: `spec.nodeName=${node}` });
  pods.start();
  await pods.synced;
  log('running');

  return {
    async close() {
      closed = true;
      await pods.stop();
      await Promise.allSettled([...busy.values()]);
      await Promise.all([...running.values()].map((r) => limit.run(() => stopPod(r)).catch((e) => log(`pod ${r.namespace}/${r.name}: ${(e as Error).message}`))));
      running.clear();
    },
  };
}
