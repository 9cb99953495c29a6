/**
 * The lab's stand-in for a container runtime, one pod at a time: the pod's
 * sandbox (its own network namespace attached with the CNI config list the
 * node's krouter wrote, or the node's namespace for hostNetwork pods), its
 * volumes, its init containers run to completion, and its containers kept
 * running (restarted with back-off when they exit, as restartPolicy Always
 * says). What runs is decided by the image (pod.ts imageKind): the krouter
 * image runs the built agent executable, anything else the pod test server.
 *
 * Everything made is written to the pod's record file before it is made, so
 * `lab down` can remove it after a crash.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Family } from '../../../sdk/src/families.ts';
import { apiServerAddress, nodeNetns, podNetnsName, statePaths, type FamilyMap, type LabSpec } from '../config.ts';
import { CLUSTER_DOMAIN } from '../k8s/control-plane.ts';
import { podResolvConf } from './dns.ts';
import type { KubeClient, Obj } from '../kube.ts';
import { isRecordedAlive, processStartTime } from '../state.ts';
import { capabilityArgv } from './capabilities.ts';
import { cniAdd, cniDel, resultIPs, type Conflist } from './cni.ts';
import { ensureMountTarget, nodeExecArgv, type Mount } from './container.ts';
import { agnhostMount } from '../agnhost/launcher.ts';
import { agnhostArgv, containerEnv, expandVars, gracePeriodSeconds, imageKind, isSidecar, krouterArgv, longRunningContainers, podServerArgs, portMappings, type ContainerLike, type PodSpecLike } from './pod.ts';
import { containerMounts, prepareVolumes } from './volumes.ts';

const POD_SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'pod-server.mjs');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One running process of a container. */
export interface ContainerRecord {
  pid: number;
  startTime?: string;
  log: string;
  restarts: number;
  startedAt: string;
}

/** What the kubelet made for one pod; written before each thing is made. */
export interface PodRecord {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  hostNetwork: boolean;
  /** The pod's own namespace (its name is reserved even for hostNetwork pods, which run in the node's). */
  netns: string;
  containerId: string;
  /** The conflist the pod was attached with (DEL must use the same). */
  conflist?: Conflist;
  cniResult?: unknown;
  /** Control socket of the pod test server (probes from inside the pod). */
  socket: string;
  ips?: Partial<Record<Family, string>>;
  containers: Record<string, ContainerRecord>;
}

/** Control socket of a pod's test server (the filesystem is shared by all namespaces). */
export function podSocketPath(spec: Pick<LabSpec, 'stateDir'>, netns: string): string {
  return path.join(spec.stateDir, 'pods', `${netns}.sock`);
}

export interface NodeRuntime {
  spec: LabSpec;
  node: string;
  /** The node's host filesystem root and its paths. */
  nodeRoot: string;
  podsDir: string;
  underlay: FamilyMap<string>;
  client: KubeClient;
  log: (line: string) => void;
  /** The node's CNI config list, once krouter has written it. */
  waitConflist(): Promise<Conflist>;
  /** The `kubernetes` Service's address, for the env a kubelet injects. */
  kubernetesService(): Promise<{ host: string; port: number } | undefined>;
  /** Called when a container (re)starts or exits, so the pod's status is posted again. */
  onContainerChange(key: string): void;
}

async function sh(argv: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')}: ${err.trim() || `exit ${code}`}`))));
  });
}

/** /var/lib/cni of the node, for its CNI plugins: host-local keeps its leases there, so each node needs its own. */
export function nodeCniMounts(stateDir: string, nodeRoot: string): Mount[] {
  const source = path.join(nodeRoot, 'var', 'lib', 'cni');
  mkdirSync(source, { recursive: true });
  ensureMountTarget(stateDir, '/var/lib/cni', 'dir');
  return [{ source, target: '/var/lib/cni' }];
}
const cniMounts = (rt: Pick<NodeRuntime, 'spec' | 'nodeRoot'>) => nodeCniMounts(rt.spec.stateDir, rt.nodeRoot);

/** A running pod: its record and the container processes the runtime supervises. */
export class RunningPod {
  private readonly children = new Map<string, ChildProcess>();
  private stopping = false;
  /** The pod's prepared volumes (for exec'd processes too). */
  private volumes = new Map<string, { path: string; file: boolean }>();
  readonly ready = new Map<string, boolean>();

  constructor(
    private readonly rt: NodeRuntime,
    readonly record: PodRecord,
    private pod: Obj & PodSpecLike,
  ) {}

  get key(): string {
    return `${this.record.namespace}/${this.record.name}`;
  }

  private recordFile(): string {
    return path.join(this.rt.podsDir, `${this.record.netns}.json`);
  }

  save(): void {
    const f = this.recordFile();
    writeFileSync(`${f}.tmp`, JSON.stringify(this.record));
    renameSync(`${f}.tmp`, f);
  }

  private podDir(): string {
    return path.join(this.rt.spec.stateDir, 'pods', this.record.netns);
  }

  /** The pod's resolv.conf (written under its folder), or undefined when it uses the node's. */
  private resolvConf(): string | undefined {
    const text = podResolvConf(this.pod, { nameserver: apiServerAddress(this.rt.spec), domain: CLUSTER_DOMAIN });
    if (text === undefined) return undefined;
    const file = path.join(this.podDir(), 'resolv.conf');
    mkdirSync(this.podDir(), { recursive: true });
    writeFileSync(file, text);
    return file;
  }

  containerLog(name: string): string {
    return path.join(statePaths.logs(this.rt.spec.stateDir), 'pods', `${this.record.namespace}_${this.record.name}_${name}.log`);
  }

  /** Sandbox, volumes, init containers, containers. Throws with what failed; the caller stops the pod. */
  async start(): Promise<void> {
    const { rt, record, pod } = this;
    mkdirSync(this.podDir(), { recursive: true });
    mkdirSync(path.dirname(this.containerLog('x')), { recursive: true });
    this.save();
    if (record.hostNetwork) {
      record.ips = { ...rt.underlay };
    } else {
      const list = await rt.waitConflist();
      // A namespace left from an earlier life of this pod name goes first.
      if (existsSync(`/var/run/netns/${record.netns}`)) await sh(['ip', 'netns', 'delete', record.netns]);
      await sh(['ip', 'netns', 'add', record.netns]);
      // lo up, and no duplicate address detection, so IPv6 addresses are usable at once.
      await sh(['ip', 'netns', 'exec', record.netns, 'sh', '-c', 'ip link set lo up; for k in all default; do echo 0 > /proc/sys/net/ipv6/conf/$k/accept_dad; done 2>/dev/null; true']);
      record.conflist = list;
      this.save();
      record.cniResult = await cniAdd(nodeNetns(rt.node), list, this.cniInvocation(true), cniMounts(rt));
      record.ips = resultIPs(record.cniResult);
      this.save();
    }
    const familyOrder = (m: FamilyMap<string> | undefined) => (['ipv4', 'ipv6'] as const).map((f) => m?.[f]).filter((ip): ip is string => !!ip);
    const podIPs = familyOrder(record.ips);
    const hostIPs = familyOrder(rt.underlay);
    this.pod = { ...pod, status: { ...pod.status, podIP: podIPs[0], podIPs: podIPs.map((ip) => ({ ip })), hostIP: hostIPs[0], hostIPs: hostIPs.map((ip) => ({ ip })) } };

    const needsVolumes = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].some((c) => imageKind(c.image) !== 'pod-server');
    const volumes = needsVolumes ? await prepareVolumes({ client: rt.client, pod: this.pod, podDir: this.podDir(), nodeRoot: rt.nodeRoot }) : new Map();
    this.volumes = volumes;
    for (const c of pod.spec?.initContainers ?? []) {
      // A sidecar starts here, in init order, and keeps running (and restarting) beside the containers.
      if (isSidecar(c)) {
        void this.startContainer(c, volumes, 0);
        continue;
      }
      const code = await this.runToCompletion(c, volumes);
      if (code !== 0) throw new Error(`init container ${c.name} exited with ${code} (log ${this.containerLog(c.name)})`);
    }
    for (const c of pod.spec?.containers ?? []) this.startContainer(c, volumes, 0);
  }

  private cniInvocation(withPorts: boolean) {
    const r = this.record;
    return {
      containerId: r.containerId,
      netnsPath: `/var/run/netns/${r.netns}`,
      ifName: 'eth0',
      args: { K8S_POD_NAMESPACE: r.namespace, K8S_POD_NAME: r.name, K8S_POD_INFRA_CONTAINER_ID: r.containerId, K8S_POD_UID: r.uid },
      runtimeConfig: withPorts ? { portMappings: portMappings(this.pod) } : {},
    };
  }

  /** The namespace the pod's processes run in. */
  private netns(): string {
    return this.record.hostNetwork ? nodeNetns(this.rt.node) : this.record.netns;
  }

  /** The command line of one container, in the pod's (or node's) namespace. */
  private async argvOf(c: ContainerLike, volumes: Map<string, { path: string; file: boolean }>): Promise<string[]> {
    if (imageKind(c.image) === 'pod-server') {
      return ['ip', 'netns', 'exec', this.netns(), process.execPath, POD_SERVER, '--name', this.record.name, '--control', this.record.socket, ...podServerArgs(this.pod)];
    }
    return this.inContainer(c, volumes, imageKind(c.image) === 'agnhost' ? agnhostArgv(c) : krouterArgv(c, this.rt.spec.krouterBin), { expandVars: true });
  }

  /**
   * `argv` as a process of container `c`: in the pod's namespace, with the
   * container's mounts (and the lab's agnhost at /agnhost for the agnhost
   * image), environment and capabilities. `expandVars`: the container's own
   * command and args, whose `$(NAME)` references the kubelet expands (an
   * exec'd command is run as given).
   */
  private async inContainer(c: ContainerLike, volumes: Map<string, { path: string; file: boolean }>, argv: string[], opts: { expandVars?: boolean } = {}): Promise<string[]> {
    const mounts = containerMounts(c, volumes);
    if (imageKind(c.image) === 'agnhost') mounts.push({ ...agnhostMount(this.rt.spec.stateDir), file: true });
    const resolvConf = this.resolvConf();
    if (resolvConf) mounts.push({ source: resolvConf, target: '/etc/resolv.conf', readOnly: true, file: true });
    for (const m of mounts) ensureMountTarget(this.rt.spec.stateDir, m.target, m.file ? 'file' : 'dir');
    const env = { HOSTNAME: this.record.hostNetwork ? this.rt.node : this.record.name, ...containerEnv(c, this.pod, await this.rt.kubernetesService()) };
    // The mounts above need the kubelet's privileges; the container's command runs with its securityContext's capabilities only.
    return nodeExecArgv(this.netns(), mounts, [...capabilityArgv(c.securityContext), ...(opts.expandVars ? argv.map((a) => expandVars(a, env)) : argv)], env);
  }

  /** The command line of `kubectl exec` in container `name`, or undefined when the pod has no such running container. */
  async execArgv(name: string, command: string[]): Promise<string[] | undefined> {
    const c = longRunningContainers(this.pod).find((x) => x.name === name);
    if (!c || !this.record.containers[name]) return undefined;
    if (imageKind(c.image) === 'pod-server') return ['ip', 'netns', 'exec', this.netns(), ...command];
    return this.inContainer(c, this.volumes, command);
  }

  private spawnLogged(name: string, argv: string[]): ChildProcess {
    const fd = openSync(this.containerLog(name), 'a');
    try {
      // Own process group: signals to the lab daemon do not reach the pod's processes.
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd], detached: true });
      child.on('error', (e) => this.rt.log(`pod ${this.key}: container ${name}: ${e.message}`));
      return child;
    } finally {
      closeSync(fd);
    }
  }

  private async runToCompletion(c: ContainerLike, volumes: Map<string, { path: string; file: boolean }>): Promise<number> {
    const child = this.spawnLogged(c.name, await this.argvOf(c, volumes));
    return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  }

  private async startContainer(c: ContainerLike, volumes: Map<string, { path: string; file: boolean }>, restarts: number): Promise<void> {
    if (this.stopping) return;
    let child: ChildProcess;
    try {
      child = this.spawnLogged(c.name, await this.argvOf(c, volumes));
    } catch (e) {
      this.rt.log(`pod ${this.key}: container ${c.name}: ${(e as Error).message}`);
      return;
    }
    if (child.pid === undefined) return;
    this.children.set(c.name, child);
    this.ready.set(c.name, false);
    this.record.containers[c.name] = { pid: child.pid, startTime: processStartTime(child.pid), log: this.containerLog(c.name), restarts, startedAt: new Date().toISOString() };
    this.save();
    this.rt.onContainerChange(this.key);
    child.on('exit', (code, signal) => {
      this.children.delete(c.name);
      this.ready.set(c.name, false);
      if (this.stopping) return;
      // restartPolicy Always (the default; DaemonSets allow nothing else): back off, then start again.
      const backoff = Math.min(10_000, 500 * 2 ** Math.min(restarts, 5));
      this.rt.log(`pod ${this.key}: container ${c.name} exited (${signal ?? `code ${code}`}); restarting in ${backoff} ms`);
      this.rt.onContainerChange(this.key);
      setTimeout(() => void this.startContainer(c, volumes, restarts + 1), backoff);
    });
  }

  /** Container processes still alive (by record, so a restarted kubelet sees them too). */
  alive(): boolean {
    return Object.values(this.record.containers).some((c) => isRecordedAlive(c));
  }

  /**
   * Stops the pod as a kubelet does: each container's preStop hook (a
   * `sleep`, or an `exec` run in the pod's namespace), then SIGTERM, then
   * SIGKILL once the grace period is over, then the sandbox.
   */
  async stop(opts: { graceSeconds?: number; kill?: boolean } = {}): Promise<void> {
    this.stopping = true;
    const grace = opts.kill ? 0 : (opts.graceSeconds ?? gracePeriodSeconds(this.pod));
    const deadline = Date.now() + grace * 1000;
    if (grace > 0) {
      await Promise.all((this.pod.spec?.containers ?? []).map((c) => this.preStop(c, deadline)));
    }
    await stopPodRecord(this.rt, this.record, Math.max(0, (deadline - Date.now()) / 1000), { kill: opts.kill });
  }

  private async preStop(c: ContainerLike, deadline: number): Promise<void> {
    const hook = c.lifecycle?.preStop;
    if (!hook || !this.record.containers[c.name]) return;
    const left = () => Math.max(0, deadline - Date.now());
    if (hook.sleep) {
      await sleep(Math.min(left(), hook.sleep.seconds * 1000));
    } else if (hook.exec?.command?.length) {
      const child = this.spawnLogged(c.name, ['ip', 'netns', 'exec', this.netns(), ...hook.exec.command]);
      const timer = setTimeout(() => child.kill('SIGKILL'), left());
      await new Promise((r) => child.on('exit', r));
      clearTimeout(timer);
    }
  }
}

/** Stops whatever a record says runs, and removes its sandbox; also for records a crashed kubelet left. */
export async function stopPodRecord(
  rt: Pick<NodeRuntime, 'node' | 'podsDir' | 'log' | 'nodeRoot' | 'spec'>,
  r: PodRecord,
  graceSeconds: number,
  opts: { kill?: boolean } = {},
): Promise<void> {
  const procs = Object.values(r.containers ?? {}).filter((c) => isRecordedAlive(c));
  // `kill`: no SIGTERM at all, as when the machine loses power.
  for (const p of opts.kill ? [] : procs) {
    try {
      process.kill(p.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + graceSeconds * 1000;
  while (procs.some((p) => isRecordedAlive(p)) && Date.now() < deadline) await sleep(50);
  for (const p of procs) {
    if (!isRecordedAlive(p)) continue;
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (r.conflist) {
    const errors = await cniDel(
      nodeNetns(r.node),
      r.conflist,
      {
        containerId: r.containerId,
        netnsPath: `/var/run/netns/${r.netns}`,
        ifName: 'eth0',
        args: { K8S_POD_NAMESPACE: r.namespace, K8S_POD_NAME: r.name, K8S_POD_INFRA_CONTAINER_ID: r.containerId, K8S_POD_UID: r.uid },
        runtimeConfig: {},
      },
      r.cniResult,
      cniMounts(rt),
    );
    for (const e of errors) rt.log(`pod ${r.namespace}/${r.name}: CNI DEL: ${e}`);
  }
  if (!r.hostNetwork && existsSync(`/var/run/netns/${r.netns}`)) await sh(['ip', 'netns', 'delete', r.netns]).catch((e) => rt.log(`pod ${r.namespace}/${r.name}: ${(e as Error).message}`));
  rmSync(r.socket, { force: true });
  rmSync(path.join(rt.podsDir, `${r.netns}.json`), { force: true });
}

/** A fresh record for a pod about to start on `node`. */
export function newPodRecord(spec: LabSpec, node: string, pod: Obj & PodSpecLike): PodRecord {
  const ns = pod.metadata.namespace ?? 'default';
  const netns = podNetnsName(ns, pod.metadata.name);
  return {
    namespace: ns,
    name: pod.metadata.name,
    uid: pod.metadata.uid!,
    node,
    hostNetwork: pod.spec?.hostNetwork === true,
    netns,
    containerId: `krlab-${pod.metadata.uid}`,
    socket: podSocketPath(spec, netns),
    containers: {},
  };
}
