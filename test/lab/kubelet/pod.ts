/**
 * Pure reading of a Pod for the lab kubelet: what runs for it (the pod test
 * server or the krouter agent), its ports and port mappings, its containers'
 * environment, its status.
 */
import type { Family } from '../../../sdk/src/families.ts';
import type { SecurityContextLike } from './capabilities.ts';
import type { PortMapping } from './cni.ts';

export interface ContainerLike {
  name: string;
  image?: string;
  /** `Always` on an init container makes it a sidecar (a restartable init container). */
  restartPolicy?: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  ports?: Array<{ containerPort: number; protocol?: string; hostPort?: number; hostIP?: string }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>;
  readinessProbe?: {
    httpGet?: { path?: string; port: number | string; host?: string; scheme?: string };
    tcpSocket?: { port: number | string; host?: string };
    exec?: { command?: string[] };
    periodSeconds?: number;
    timeoutSeconds?: number;
  };
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: { command?: string[] } } };
  securityContext?: SecurityContextLike;
}

export interface PodSpecLike {
  metadata: { name: string; namespace?: string; uid?: string; deletionTimestamp?: string; deletionGracePeriodSeconds?: number; labels?: Record<string, string> };
  spec?: {
    nodeName?: string;
    hostNetwork?: boolean;
    serviceAccountName?: string;
    terminationGracePeriodSeconds?: number;
    containers?: ContainerLike[];
    initContainers?: ContainerLike[];
    volumes?: Array<Record<string, any> & { name: string }>;
  };
  status?: { podIP?: string; podIPs?: Array<{ ip: string }>; hostIP?: string; hostIPs?: Array<{ ip: string }>; startTime?: string };
}

/**
 * What a container image means in the lab (there is no container runtime):
 * krouter's image runs the built agent executable; Kubernetes' e2e test image
 * agnhost runs the lab's agnhost command set (test/lab/agnhost/) with the
 * container's command and args; every other image runs the pod test server.
 */
export type ImageKind = 'krouter' | 'agnhost' | 'pod-server';

/** `ghcr.io/example/krouter:0.1.0`, `krouter-lab/krouter:dev`, `krouter` -> krouter; `registry.k8s.io/e2e-test-images/agnhost:2.56` -> agnhost. */
export function imageKind(image: string | undefined): ImageKind {
  const name = (image ?? '').replace(/@.*$/, '').replace(/:[^/:]*$/, '').split('/').pop();
  return name === 'krouter' ? 'krouter' : name === 'agnhost' ? 'agnhost' : 'pod-server';
}

/** Where the agnhost image has its one binary (its ENTRYPOINT), and its default CMD. */
export const AGNHOST_ENTRYPOINT = '/agnhost';
const AGNHOST_DEFAULT_ARGS = ['pause'];

/**
 * The command line of an agnhost-image container, as a runtime builds it
 * from the image's ENTRYPOINT/CMD and the container's command/args (the lab
 * puts its own agnhost at /agnhost for the container's processes).
 */
export function agnhostArgv(c: Pick<ContainerLike, 'command' | 'args'>): string[] {
  return c.command?.length ? [...c.command, ...(c.args ?? [])] : [AGNHOST_ENTRYPOINT, ...(c.args ?? AGNHOST_DEFAULT_ARGS)];
}

/** The image's entrypoint as the Containerfile sets it (deploy/Containerfile). */
export const KROUTER_ENTRYPOINT = '/usr/local/bin/krouter';
const KROUTER_DEFAULT_ARGS = ['run'];

/**
 * The command line of a krouter-image container, as a runtime builds it from
 * the image's ENTRYPOINT/CMD and the container's command/args, with the
 * image's krouter binary replaced by the built executable.
 */
export function krouterArgv(c: ContainerLike, krouterBin: string): string[] {
  const argv = c.command?.length ? [...c.command, ...(c.args ?? [])] : [KROUTER_ENTRYPOINT, ...(c.args ?? KROUTER_DEFAULT_ARGS)];
  if (argv[0] === KROUTER_ENTRYPOINT || argv[0] === 'krouter') argv[0] = krouterBin;
  return argv;
}

/**
 * A container's environment: the service variables a kubelet injects for the
 * `kubernetes` Service, then the container's own `env` (which wins), with
 * `fieldRef` values read from the pod.
 */
export function containerEnv(c: ContainerLike, pod: PodSpecLike, kubernetesService: { host: string; port: number } | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (kubernetesService) {
    env.KUBERNETES_SERVICE_HOST = kubernetesService.host;
    env.KUBERNETES_SERVICE_PORT = String(kubernetesService.port);
    env.KUBERNETES_SERVICE_PORT_HTTPS = String(kubernetesService.port);
  }
  for (const e of c.env ?? []) {
    // A value may name variables defined before it, as `$(NAME)`.
    if (e.value !== undefined) env[e.name] = expandVars(e.value, env);
    else if (e.valueFrom?.fieldRef) env[e.name] = fieldValue(pod, e.valueFrom.fieldRef.fieldPath) ?? '';
  }
  return env;
}

/**
 * Kubernetes' variable references in a container's command, args and env
 * values: `$(NAME)` becomes NAME's value when the environment has it and
 * stays as written when not; `$$` is a literal `$`.
 */
export function expandVars(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (name === undefined) return '$';
    return Object.hasOwn(env, name) ? env[name]! : whole;
  });
}

/** The downward API fields a pod's env and volumes may read. */
export function fieldValue(pod: PodSpecLike, fieldPath: string): string | undefined {
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace ?? 'default';
    case 'metadata.uid':
      return pod.metadata.uid;
    case 'spec.nodeName':
      return pod.spec?.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName;
    case 'status.podIP':
      return pod.status?.podIP;
    case 'status.hostIP':
      return pod.status?.hostIP;
    case 'status.podIPs':
      return pod.status?.podIPs?.map((p) => p.ip).join(',');
    case 'status.hostIPs':
      return pod.status?.hostIPs?.map((p) => p.ip).join(',');
    default:
      return undefined;
  }
}

/** Declared container ports by protocol (deduplicated, sorted). */
export function podPorts(pod: PodSpecLike): { tcp: number[]; udp: number[] } {
  const tcp = new Set<number>();
  const udp = new Set<number>();
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (!Number.isInteger(p.containerPort) || p.containerPort < 1 || p.containerPort > 65535) continue;
      const proto = (p.protocol ?? 'TCP').toUpperCase();
      if (proto === 'TCP') tcp.add(p.containerPort);
      else if (proto === 'UDP') udp.add(p.containerPort);
    }
  }
  const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
  return { tcp: sorted(tcp), udp: sorted(udp) };
}

/**
 * The pod test server's command-line options from the manifest: its ports,
 * then the first container's `args` (e.g. `--echo-source`, see
 * test/lab/README.md), which the server itself checks.
 */
export function podServerArgs(pod: PodSpecLike): string[] {
  const ports = podPorts(pod);
  return [
    ...ports.tcp.flatMap((p) => ['--tcp', String(p)]),
    ...ports.udp.flatMap((p) => ['--udp', String(p)]),
    ...(pod.spec?.containers?.[0]?.args ?? []),
  ];
}

/** runtimeConfig.portMappings for the ports that ask for a hostPort. */
export function portMappings(pod: PodSpecLike): PortMapping[] {
  const out: PortMapping[] = [];
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      const m: PortMapping = { hostPort: p.hostPort, containerPort: p.containerPort, protocol: (p.protocol ?? 'TCP').toLowerCase() as PortMapping['protocol'] };
      if (p.hostIP) m.hostIP = p.hostIP;
      out.push(m);
    }
  }
  return out;
}

/** A restartable init container (a sidecar): it starts in init order and then runs beside the containers. */
export function isSidecar(c: ContainerLike): boolean {
  return c.restartPolicy === 'Always';
}

/** The containers that run for the pod's life: its sidecars first, then its containers. */
export function longRunningContainers(pod: PodSpecLike): ContainerLike[] {
  return [...(pod.spec?.initContainers ?? []).filter(isSidecar), ...(pod.spec?.containers ?? [])];
}

/** Seconds between SIGTERM and SIGKILL: the deletion's grace period, else the pod's, else 30. */
export function gracePeriodSeconds(pod: PodSpecLike): number {
  return pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
}

export interface ContainerState {
  name: string;
  image: string;
  restartCount: number;
  startedAt: string;
  ready: boolean;
}

/** The status the kubelet reports for a running pod (merge patch of /status). */
export function runningStatus(opts: {
  ips: Partial<Record<Family, string>>;
  hostIPs: Partial<Record<Family, string>>;
  startTime: string;
  containers: ContainerState[];
  /** Sidecars (restartable init containers), running beside the containers. */
  sidecars?: ContainerState[];
}): Record<string, unknown> {
  const order: Family[] = ['ipv4', 'ipv6'];
  const podIPs = order.map((f) => opts.ips[f]).filter((x): x is string => !!x);
  const hosts = order.map((f) => opts.hostIPs[f]).filter((x): x is string => !!x);
  const now = new Date().toISOString();
  const ready = [...opts.containers, ...(opts.sidecars ?? [])].every((c) => c.ready);
  const cond = (type: string, ok: boolean) => ({ type, status: ok ? 'True' : 'False', lastTransitionTime: now });
  return {
    phase: 'Running',
    podIP: podIPs[0],
    podIPs: podIPs.map((ip) => ({ ip })),
    hostIP: hosts[0],
    hostIPs: hosts.map((ip) => ({ ip })),
    startTime: opts.startTime,
    conditions: [cond('PodReadyToStartContainers', true), cond('PodScheduled', true), cond('Initialized', true), cond('ContainersReady', ready), cond('Ready', ready)],
    containerStatuses: opts.containers.map(runningContainerStatus),
    ...(opts.sidecars?.length ? { initContainerStatuses: opts.sidecars.map(runningContainerStatus) } : {}),
  };
}

function runningContainerStatus(c: ContainerState): Record<string, unknown> {
  return {
    name: c.name,
    image: c.image,
    imageID: '',
    containerID: `krouter-lab://${c.name}`,
    ready: c.ready,
    started: true,
    restartCount: c.restartCount,
    state: { running: { startedAt: c.startedAt } },
  };
}
