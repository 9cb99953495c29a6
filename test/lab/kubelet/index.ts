/**
 * The lab kubelet for one node (runs in the lab daemon, in the root
 * namespace). There is no container runtime here, but towards the API
 * server it acts as a kubelet does, under its own identity
 * (`system:node:<name>`, so the Node authorizer and NodeRestriction apply):
 *
 * - registers its Node (addresses per family, capacity) and posts Ready once
 *   the node's krouter has written the CNI config;
 * - renews the node Lease, so the node-lifecycle controller keeps it Ready;
 * - runs the Pods bound to it (runtime.ts) and reports their status (IPs
 *   per family, container restarts, readiness from the readiness probe);
 * - honours graceful deletion: a pod with a deletionTimestamp is stopped
 *   (SIGTERM, SIGKILL after the grace period) and then deleted with grace
 *   period 0, which lets the API server remove it;
 * - serves the kubelet API the API server proxies `kubectl exec` and
 *   `kubectl logs` to (server.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { labClient } from '../api.ts';
import { nodeNetns, nodePaths, nodeUnderlayByName, statePaths, type LabSpec } from '../config.ts';
import { controlPlanePaths } from '../k8s/control-plane.ts';
import { APISERVER_KUBELET_CLIENT, nodeIdentity, pkiFiles } from '../k8s/pki.ts';
import { Informer, KubeError, R, keyOf, type Obj } from '../kube.ts';
import { parseConflist, type Conflist } from './cni.ts';
import { KUBELET_PORT, LEASE_RENEW_SECONDS, leaseObject, nodeObject, nodeStatus } from './node-status.ts';
import { imageKind, isSidecar, longRunningContainers, runningStatus, type ContainerLike, type PodSpecLike } from './pod.ts';
import { RunningPod, newPodRecord, stopPodRecord, type NodeRuntime, type PodRecord } from './runtime.ts';
import { startNetnsProber } from './netns-prober.ts';
import { startKubeletServer, type KubeletServer } from './server.ts';

import { controlRequest } from './control.ts';

export { podSocketPath, type PodRecord } from './runtime.ts';
export { controlRequest } from './control.ts';

export interface Kubelet {
  /** Stops the pods (gracefully; with `kill`, SIGKILL only, as a machine losing power) and ends. */
  close(opts?: { kill?: boolean }): Promise<void>;
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether a command (an exec probe) exits 0 within `timeoutMs`. */
function exitsZero(argv: string[], timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', () => resolve(false));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
  });
}

export async function startKubelet(opts: { spec: LabSpec; node: string; log?: (line: string) => void; concurrency?: number }): Promise<Kubelet> {
  const { spec, node } = opts;
  const log = opts.log ?? (() => undefined);
  const client = labClient(spec, nodeIdentity(node));
  const paths = nodePaths(spec, node);
  const underlay = nodeUnderlayByName(spec, node);
  const limit = new Limit(opts.concurrency ?? 6);
  for (const d of [paths.podsDir, paths.root, path.join(spec.stateDir, 'pods'), path.join(statePaths.logs(spec.stateDir), 'pods')]) mkdirSync(d, { recursive: true });
  let closed = false;

  // ---- CNI config: written by the node's krouter ---------------------------------
  let conflistCache: { text: string; list: Conflist } | undefined;
  const readConflist = (): Conflist | undefined => {
    if (!existsSync(paths.cniConfPath)) return undefined;
    const text = readFileSync(paths.cniConfPath, 'utf8');
    if (conflistCache?.text !== text) conflistCache = { text, list: parseConflist(text, paths.cniConfPath) };
    return conflistCache.list;
  };
  const waitConflist = async (): Promise<Conflist> => {
    for (;;) {
      if (closed) throw new Error('kubelet closing');
      try {
        const l = readConflist();
        if (l) return l;
      } catch (e) {
        log(`CNI config: ${(e as Error).message}; waiting for a valid one`);
      }
      await sleep(200);
    }
  };

  // ---- the Node and its Lease -------------------------------------------------------
  const postStatus = (networkReady: boolean) =>
    client.patch(R.nodes, undefined, node, { status: nodeStatus({ node, addresses: underlay, networkReady, cniConfPath: paths.cniConfPath }) }, 'status');
  let nodeUid: string | undefined;
  try {
    nodeUid = (await client.create(R.nodes, nodeObject(node, spec.nodeAnnotations?.[node]) as Obj)).metadata.uid;
  } catch (e) {
    if (!(e instanceof KubeError && e.code === 409)) throw e;
    nodeUid = (await client.get(R.nodes, undefined, node)).metadata.uid;
  }
  await postStatus(false);
  log(`registered Node ${node} (${Object.values(underlay).join(', ')})`);
  let networkReady = false;
  void waitConflist()
    .then(async (l) => {
      networkReady = true;
      await postStatus(true);
      log(`CNI config ${paths.cniConfPath} present (${l.plugins.map((p) => p.type).join(' + ')}); node Ready`);
    })
    .catch((e) => log(`node readiness: ${(e as Error).message}`));

  // A merge patch of the spec: a PUT would need the Lease's resourceVersion, and without
  // renewals the node-lifecycle controller takes the node for NotReady and marks its pods so.
  const renewLease = async () => {
    const lease = leaseObject(node, nodeUid, new Date()) as Obj;
    try {
      await client.patch(R.leases, lease.metadata.namespace, node, { spec: lease.spec });
    } catch (e) {
      if (!(e instanceof KubeError && e.code === 404)) throw e;
      await client.create(R.leases, lease);
    }
  };
  let statusBeats = 0;
  const leaseTimer = setInterval(() => {
    void renewLease().catch((e) => log(`lease: ${(e as Error).message}`));
    // The node status too, now and then (the lifecycle controller reads the Lease; people read the status).
    if (++statusBeats % 6 === 0) void postStatus(networkReady).catch((e) => log(`node status: ${(e as Error).message}`));
  }, LEASE_RENEW_SECONDS * 1000);
  await renewLease();

  // ---- pods ---------------------------------------------------------------------------
  let kubernetesSvc: { host: string; port: number } | undefined;
  const runtime: NodeRuntime = {
    spec,
    node,
    nodeRoot: paths.root,
    podsDir: paths.podsDir,
    underlay,
    client,
    log,
    waitConflist,
    async kubernetesService() {
      if (!kubernetesSvc) {
        const svc = await client.tryGet(R.services, 'default', 'kubernetes');
        const host = svc?.spec?.clusterIP;
        const port = svc?.spec?.ports?.find((p: { name?: string }) => p.name === 'https')?.port;
        if (host && port) kubernetesSvc = { host, port };
      }
      return kubernetesSvc;
    },
    onContainerChange: (key) => void reportStatus(key),
  };
  /** pod key -> what runs for it. */
  const running = new Map<string, RunningPod>();
  const busy = new Map<string, Promise<void>>();
  const again = new Set<string>();
  const lastStatus = new Map<string, string>();
  // Probes go out from the node's namespace, as a kubelet's from its host: pod addresses are routed there.
  const prober = startNetnsProber(nodeNetns(node), log);

  /** Readiness of each container: the pod test server by its control socket, others by their readiness probe. */
  const probeReady = async (rp: RunningPod, pod: Obj & PodSpecLike): Promise<void> => {
    for (const c of longRunningContainers(pod)) {
      const rec = rp.record.containers[c.name];
      if (!rec) {
        rp.ready.set(c.name, false);
        continue;
      }
      let ok: boolean;
      const probe = c.readinessProbe;
      const host = Object.values(rp.record.ips ?? {})[0];
      const port = (p: number | string) => (typeof p === 'number' ? p : Number(c.ports?.find((x) => (x as { name?: string }).name === p)?.containerPort));
      const timeoutMs = Math.max(1, probe?.timeoutSeconds ?? 1) * 1000;
      if (probe?.httpGet) {
        const p = port(probe.httpGet.port);
        ok = !!host && Number.isInteger(p) && (await prober.probe({ kind: 'http', host: probe.httpGet.host ?? host, port: p, path: probe.httpGet.path ?? '/', scheme: probe.httpGet.scheme, timeoutMs }));
      } else if (probe?.tcpSocket) {
        const p = port(probe.tcpSocket.port);
        ok = !!host && Number.isInteger(p) && (await prober.probe({ kind: 'tcp', host: probe.tcpSocket.host ?? host, port: p, timeoutMs }));
      } else if (probe?.exec?.command?.length) {
        const argv = await rp.execArgv(c.name, probe.exec.command);
        ok = !!argv && (await exitsZero(argv, timeoutMs));
      } else if (imageKind(c.image) === 'pod-server') {
        ok = await controlRequest(rp.record.socket, { ping: true }, 1000).then((r) => r?.ok === true, () => false);
      } else {
        ok = true;
      }
      rp.ready.set(c.name, ok);
    }
  };

  const reportStatus = async (key: string): Promise<void> => {
    const rp = running.get(key);
    const pod = pods.store.get(key) as (Obj & PodSpecLike) | undefined;
    if (!rp || !pod || pod.metadata.uid !== rp.record.uid || closed) return;
    await probeReady(rp, pod);
    const stateOf = (c: ContainerLike) => {
      const rec = rp.record.containers[c.name];
      return { name: c.name, image: c.image ?? '', restartCount: rec?.restarts ?? 0, startedAt: rec?.startedAt ?? new Date().toISOString(), ready: rp.ready.get(c.name) === true };
    };
    const containers = (pod.spec?.containers ?? []).map(stateOf);
    const sidecars = (pod.spec?.initContainers ?? []).filter(isSidecar).map(stateOf);
    const status = runningStatus({ ips: rp.record.ips ?? {}, hostIPs: underlay, startTime: pod.status?.startTime ?? new Date().toISOString(), containers, sidecars });
    const fingerprint = JSON.stringify([status.podIPs, [...containers, ...sidecars].map((c) => [c.ready, c.restartCount])]);
    if (lastStatus.get(key) === fingerprint) return;
    try {
      await client.patch(R.pods, rp.record.namespace, rp.record.name, { status }, 'status');
      lastStatus.set(key, fingerprint);
      log(`pod ${key}: ${Object.values(rp.record.ips ?? {}).join(', ')} ${containers.every((c) => c.ready) ? 'ready' : 'not ready'}`);
    } catch (e) {
      log(`pod ${key}: status: ${(e as Error).message}`);
    }
  };

  // Readiness is re-probed every second (the probes' own periods are longer; the lab wants quick answers).
  const probeTimer = setInterval(() => {
    for (const key of running.keys()) void reportStatus(key);
  }, 1000);

  /** Brings one pod to what the API says (running, or gone). */
  const syncPod = async (key: string): Promise<void> => {
    const pod = pods.store.get(key) as (Obj & PodSpecLike) | undefined;
    const want = pod && !pod.metadata.deletionTimestamp && pod.spec?.nodeName === node ? pod : undefined;
    const have = running.get(key);
    if (have && (!want || want.metadata.uid !== have.record.uid)) {
      const graceful = pod?.metadata.deletionTimestamp && pod.metadata.uid === have.record.uid;
      await limit.run(() => have.stop(graceful ? {} : { graceSeconds: 0 }));
      running.delete(key);
      lastStatus.delete(key);
      log(`pod ${key}: stopped`);
    }
    if (pod?.metadata.deletionTimestamp && pod.spec?.nodeName === node && !running.has(key)) {
      // Finalize a graceful delete, as the kubelet does once the pod's containers are gone.
      await client.delete(R.pods, pod.metadata.namespace, pod.metadata.name, { gracePeriodSeconds: 0, uid: pod.metadata.uid });
      log(`pod ${key}: deleted`);
      return;
    }
    if (want && !running.has(key)) {
      const rp = new RunningPod(runtime, newPodRecord(spec, node, want), want);
      running.set(key, rp);
      try {
        await limit.run(() => rp.start());
        await reportStatus(key);
      } catch (e) {
        const msg = (e as Error).message;
        log(`pod ${key}: ${msg}`);
        running.delete(key);
        await rp.stop({ graceSeconds: 0 }).catch(() => undefined);
        if (closed) return;
        await client
          .patch(R.pods, want.metadata.namespace, want.metadata.name, { status: { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False', reason: 'SandboxFailed', message: msg }] } }, 'status')
          .catch(() => undefined);
        // Retry later, like a kubelet's sandbox back-off.
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

  // Whatever an earlier run of this kubelet left is removed first (its pods start again from the API).
  const leftovers = readdirSync(paths.podsDir).filter((f) => f.endsWith('.json'));
  await Promise.all(
    leftovers.map((f) =>
      limit.run(async () => {
        try {
          await stopPodRecord(runtime, JSON.parse(readFileSync(path.join(paths.podsDir, f), 'utf8')) as PodRecord, 0);
        } catch (e) {
          log(`leftover ${f}: ${(e as Error).message}`);
        }
      }),
    ),
  );

  const onPod = (p: Obj) => enqueue(keyOf(p));
  const pods: Informer = new Informer(
    client,
    R.pods,
    { onAdd: onPod, onUpdate: onPod, onDelete: onPod, onSync: () => { for (const k of running.keys()) enqueue(k); } },
    { log, fieldSelector: `spec.nodeName=${node}` },
  );
  pods.start();
  await pods.synced;

  // ---- the kubelet API (exec), where the API server dials it ------------------------
  const pki = pkiFiles(controlPlanePaths(spec.stateDir).pki);
  let api: KubeletServer | undefined;
  try {
    api = await startKubeletServer({
      netns: nodeNetns(node),
      addresses: Object.values(underlay),
      port: KUBELET_PORT,
      tls: { cert: readFileSync(pki.kubeletServingCert(node)), key: readFileSync(pki.kubeletServingKey(node)), ca: readFileSync(pki.caCert) },
      allowedUsers: [APISERVER_KUBELET_CLIENT.cn],
      log,
      logFile(req) {
        const rp = running.get(`${req.namespace}/${req.pod}`);
        return rp?.record.containers[req.container]?.log;
      },
      async resolveExec(req) {
        const rp = running.get(`${req.namespace}/${req.pod}`);
        if (!rp || (req.uid && req.uid !== rp.record.uid)) return { status: 404, message: `pod ${req.namespace}/${req.pod} is not running on ${node}` };
        const argv = await rp.execArgv(req.container, req.command);
        return argv ? { argv } : { status: 404, message: `container ${req.container} of pod ${req.namespace}/${req.pod} is not running` };
      },
    });
  } catch (e) {
    // Without it everything but exec works: say so and go on.
    log(`kubelet API not served: ${(e as Error).message}`);
  }
  log(`running (namespace ${nodeNetns(node)}, node root ${paths.root}${api ? `, kubelet API on port ${KUBELET_PORT}` : ''})`);

  return {
    async close(opts: { kill?: boolean } = {}) {
      closed = true;
      await api?.close();
      clearInterval(leaseTimer);
      clearInterval(probeTimer);
      prober.close();
      await pods.stop();
      await Promise.allSettled([...busy.values()]);
      await Promise.all([...running.values()].map((rp) => limit.run(() => rp.stop(opts.kill ? { kill: true } : { graceSeconds: 5 })).catch((e) => log(`pod ${rp.key}: ${(e as Error).message}`))));
      running.clear();
      await client.close();
    },
  };
}
