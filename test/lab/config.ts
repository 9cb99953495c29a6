/**
 * The lab's address plan and names: pure functions of a LabSpec, shared by
 * every part of the lab (topology, daemon, controllers, kubelets, check).
 *
 * Underlay 198.18.0.0/24 + fd00:18::/64 on the root bridge `krlab0`:
 *   root bridge .1 / ::1 (kube-apiserver on the primary family's, port 6443)
 *   node i      .(10+i) / ::(10+i in hex)
 *   router      .254 / ::fe (default gateway of every node, BGP peer, "internet")
 * Pods 198.19.0.0/16 (/24 per node) + fd00:19::/48 (/64 per node);
 * services 198.18.240.0/20 + fd00:20::/108.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Family } from '@krouter/sdk';

export type LabFamily = 'ipv4' | 'ipv6' | 'dual';
export type LabRouter = 'bird' | 'frr' | 'none';
export type { Family };

/** One value per enabled family (absent key = family disabled). */
export type FamilyMap<T> = { ipv4?: T; ipv6?: T };

export interface LabSpec {
  family: LabFamily;
  /** Node names, `node-1`..`node-N`, in order (index i+1 = address plan index). */
  nodes: string[];
  router: LabRouter;
  /** Holds lab.json, per-node dirs, logs, kubeconfig. */
  stateDir: string;
  /** Repository root (for dist/krouter, tsx entry points). */
  repoRoot: string;
  /** The executable each node runs (`dist/krouter` unless KROUTER_BIN says otherwise). */
  krouterBin: string;
  /** Which krouter plugins the agents run (router decides whether cross-node pod traffic is expected to work). */
  plugins: { cni: boolean; router: boolean; serviceProxy: boolean; firewall: boolean; loadbalancer?: boolean };
  /** The external router installs the pod routes it learns into its own kernel (for pod egress without NAT). */
  routerKernelRoutes: boolean;
  /** Extra keys merged over the lab's `plugins.router` section of every node's config (`up --router-config JSON`). */
  routerConfig?: Record<string, unknown>;
  /** Extra keys merged over the lab's `plugins.loadbalancer` section (`up --loadbalancer-config JSON`). */
  loadBalancerConfig?: Record<string, unknown>;
  /** Keys merged over each named plugin's section of every node's config (`up --plugin-config JSON`), e.g. `{"firewall":{"resyncSeconds":5}}`. */
  pluginConfig?: Record<string, Record<string, unknown>>;
  /**
   * A shell script run in every node's namespace once it exists, before any
   * Kubernetes component or agent starts (`up --node-setup FILE`), with the
   * node's name as its argument: state of other tools the agents must leave alone.
   */
  nodeSetup?: string;
  /** Annotations each node's Node object is registered with (`up --node-annotation NODE:KEY=VALUE`). */
  nodeAnnotations?: Record<string, Record<string, string>>;
  /**
   * The agents are configured the way kube-router's DaemonSets configure
   * kube-router (`up --kube-router-args`): kube-router's flags and
   * environment and a kubeconfig with a tokenFile, and no krouter config file.
   */
  kubeRouterArgs?: boolean;
}

export const CLUSTER_ASN = 64512;
export const ROUTER_ASN = 64513;
export const API_PORT = 6443;
/** Agent ports inside each node namespace (no clash: one namespace per node). */
export const AGENT_METRICS_PORT = 20241;
export const AGENT_HEALTH_PORT = 20244;

export const BRIDGE = 'krlab0';
export const ROUTER_NETNS = 'krlab-router';
/** Every namespace the lab makes starts with this. */
export const NETNS_PREFIX = 'krlab-';
export const POD_NETNS_PREFIX = 'krlab-p-';
/** The node-side interface name in node and router namespaces. */
export const UNDERLAY_IF = 'eth0';

export const UNDERLAY_PREFIX: Record<Family, number> = { ipv4: 24, ipv6: 64 };
export const POD_MASK_SIZE: Record<Family, number> = { ipv4: 24, ipv6: 64 };

const UNDERLAY_NET: Record<Family, (host: number) => string> = {
  ipv4: (host) => `198.18.0.${host}`,
  ipv6: (host) => `fd00:18::${host.toString(16)}`,
};

/** Enabled families, ipv4 first (the primary family in dual mode). */
export function families(spec: Pick<LabSpec, 'family'>): Family[] {
  if (spec.family === 'dual') return ['ipv4', 'ipv6'];
  return [spec.family];
}

function perEnabled<T>(spec: Pick<LabSpec, 'family'>, make: (f: Family) => T): FamilyMap<T> {
  const out: FamilyMap<T> = {};
  for (const f of families(spec)) out[f] = make(f);
  return out;
}

/** `node-1`..`node-N`. */
export function nodeNames(count: number): string[] {
  if (!Number.isInteger(count) || count < 1 || count > 200) {
    throw new Error(`--nodes: must be an integer 1..200, got ${count}`);
  }
  return Array.from({ length: count }, (_, i) => `node-${i + 1}`);
}

/** 1-based index of a node in the address plan. */
export function nodeIndex(spec: Pick<LabSpec, 'nodes'>, node: string): number {
  const i = spec.nodes.indexOf(node);
  if (i < 0) throw new Error(`unknown lab node ${JSON.stringify(node)} (nodes: ${spec.nodes.join(', ')})`);
  return i + 1;
}

/** Underlay address (no prefix length) of node i (1-based) per enabled family. */
export function nodeUnderlay(spec: Pick<LabSpec, 'family'>, i: number): FamilyMap<string> {
  return perEnabled(spec, (f) => UNDERLAY_NET[f](10 + i));
}

export function nodeUnderlayByName(spec: Pick<LabSpec, 'family' | 'nodes'>, node: string): FamilyMap<string> {
  return nodeUnderlay(spec, nodeIndex(spec, node));
}

/** The root bridge's addresses (the API server listens here). */
export function bridgeAddresses(spec: Pick<LabSpec, 'family'>): FamilyMap<string> {
  return perEnabled(spec, (f) => UNDERLAY_NET[f](1));
}

/** The router's underlay addresses (every node's default gateway and BGP peer). */
export function routerUnderlay(spec: Pick<LabSpec, 'family'>): FamilyMap<string> {
  return perEnabled(spec, (f) => UNDERLAY_NET[f](254));
}

/** The "internet" host addresses on the router's loopback (pod egress targets). */
export function routerInternet(spec: Pick<LabSpec, 'family'>): FamilyMap<string> {
  return perEnabled(spec, (f) => (f === 'ipv4' ? '198.18.200.1' : 'fd00:200::1'));
}

/** Prefixes the router originates towards the nodes (besides a default route). */
export function routerOriginated(spec: Pick<LabSpec, 'family'>): FamilyMap<string> {
  return perEnabled(spec, (f) => (f === 'ipv4' ? '198.18.201.0/24' : 'fd00:201::/64'));
}

/** One host address inside each originated prefix, on the router's loopback, so it answers. */
export function routerOriginatedHost(spec: Pick<LabSpec, 'family'>): FamilyMap<string> {
  return perEnabled(spec, (f) => (f === 'ipv4' ? '198.18.201.1' : 'fd00:201::1'));
}

export function hostPrefix(f: Family): number {
  return f === 'ipv4' ? 32 : 128;
}

function urlHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** The API server's address: the root bridge's address of the primary family (ipv4 in dual mode). */
export function apiServerAddress(spec: Pick<LabSpec, 'family'>): string {
  return UNDERLAY_NET[families(spec)[0]!](1);
}

/** The URL nodes, agents, kubectl and the CLI use. */
export function apiServerUrl(spec: Pick<LabSpec, 'family'>): string {
  return `https://${urlHost(apiServerAddress(spec))}:${API_PORT}`;
}

/** Ranges the loadbalancer plugin hands LoadBalancer addresses out of, per enabled family. */
export function loadBalancerRanges(spec: Pick<LabSpec, 'family'>): FamilyMap<string> {
  return perEnabled(spec, (f) => (f === 'ipv4' ? '198.18.100.0/24' : 'fd00:100::/112'));
}

export interface ClusterCidrs {
  pods: FamilyMap<string>;
  services: FamilyMap<string>;
  podMaskSize: Record<Family, number>;
}

export function clusterCidrs(spec: Pick<LabSpec, 'family'>): ClusterCidrs {
  return {
    pods: perEnabled(spec, (f) => (f === 'ipv4' ? '198.19.0.0/16' : 'fd00:19::/48')),
    services: perEnabled(spec, (f) => (f === 'ipv4' ? '198.18.240.0/20' : 'fd00:20::/108')),
    podMaskSize: { ...POD_MASK_SIZE },
  };
}

// ---- up options -----------------------------------------------------------

/** `--router-config JSON`: a JSON object whose keys are merged over the lab's `plugins.router` section. */
export function parseRouterConfig(text: string | undefined): Record<string, unknown> | undefined {
  return parseSectionJson(text, '--router-config', 'plugins.router', '\'{"gracefulRestart":{"enabled":true}}\'');
}

/** `--loadbalancer-config JSON`: a JSON object whose keys are merged over the lab's `plugins.loadbalancer` section. */
export function parseLoadBalancerConfig(text: string | undefined): Record<string, unknown> | undefined {
  return parseSectionJson(text, '--loadbalancer-config', 'plugins.loadbalancer', '\'{"defaultClass":false}\'');
}

function parseSectionJson(text: string | undefined, option: string, section: string, example: string): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${option}: not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${option}: must be a JSON object of ${section} keys, e.g. ${example}`);
  }
  return value as Record<string, unknown>;
}

/** `--plugin-config JSON`: a JSON object of plugin sections (`{"PLUGIN": {KEY: VALUE}}`), each merged over that plugin's section. */
export function parsePluginConfig(text: string | undefined): Record<string, Record<string, unknown>> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`--plugin-config: not JSON: ${(err as Error).message}`);
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(value) || !Object.values(value).every(isObject)) {
    throw new Error('--plugin-config: must be a JSON object of plugin sections, e.g. \'{"firewall":{"resyncSeconds":5}}\'');
  }
  return value as Record<string, Record<string, unknown>>;
}

/** `--node-annotation NODE:KEY=VALUE` (repeatable) -> annotations per node. */
export function parseNodeAnnotations(items: string[] | undefined, nodes: string[]): Record<string, Record<string, string>> | undefined {
  if (!items?.length) return undefined;
  const out: Record<string, Record<string, string>> = {};
  for (const item of items) {
    const m = /^([^:=]+):([^=]+)=(.*)$/s.exec(item);
    if (!m) throw new Error(`--node-annotation ${JSON.stringify(item)}: expected NODE:KEY=VALUE`);
    const [, node, key, value] = m as unknown as [string, string, string, string];
    if (!nodes.includes(node)) throw new Error(`--node-annotation ${JSON.stringify(item)}: unknown node ${JSON.stringify(node)} (nodes: ${nodes.join(', ')})`);
    (out[node] ??= {})[key] = value;
  }
  return out;
}

// ---- names -------------------------------------------------------------

export function nodeNetns(node: string): string {
  return `${NETNS_PREFIX}${node}`;
}

/** Pod namespace name: `krlab-p-` + 8 hex of sha256("namespace/name"). */
export function podNetnsName(namespace: string, name: string): string {
  const hash = createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 8);
  return `${POD_NETNS_PREFIX}${hash}`;
}

/** Root-side veth name of a node or the router (≤ 15 chars). */
export function rootVethName(nodeOrRouter: string): string {
  const name = `krl-${nodeOrRouter}`;
  if (name.length > 15) throw new Error(`link name ${name} is longer than 15 characters`);
  return name;
}

// ---- state directory layout -----------------------------------------------

export const DEFAULT_STATE_DIR = '/run/krouter-lab';

/**
 * Names the state directory of the lab now on this machine (one lab per
 * machine: bridge and namespace names are fixed). In /run, so it goes with a
 * reboot as the namespaces do. Lets `up` and `down` find a lab whose runner
 * was killed and whose KROUTER_LAB_DIR nobody remembers.
 */
export const LAB_OWNER_FILE = '/run/krouter-lab.owner';

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.KROUTER_LAB_DIR || DEFAULT_STATE_DIR);
}

export const statePaths = {
  labJson: (stateDir: string) => path.join(stateDir, 'lab.json'),
  /** Marks a directory as made by the lab (down only removes such a directory). */
  marker: (stateDir: string) => path.join(stateDir, '.krouter-lab'),
  logs: (stateDir: string) => path.join(stateDir, 'logs'),
  log: (stateDir: string, name: string) => path.join(stateDir, 'logs', `${name}.log`),
  /** The admin's kubeconfig (lab kubectl). */
  kubeconfig: (stateDir: string) => path.join(stateDir, 'kubeconfig'),
  /** What the lab applies from deploy/ (the agents' config file, the patched manifests). */
  deployDir: (stateDir: string) => path.join(stateDir, 'deploy'),
  /** Written by the daemon itself as soon as it starts (in case `up` dies before recording its PID). */
  daemonPid: (stateDir: string) => path.join(stateDir, 'daemon.pid'),
  routerDir: (stateDir: string) => path.join(stateDir, 'router'),
};

export function nodeDir(spec: Pick<LabSpec, 'stateDir'>, node: string): string {
  return path.join(spec.stateDir, 'nodes', node);
}

/**
 * A node's paths. `root` is the node's own host filesystem as its pods see
 * it: the lab kubelet maps a pod's hostPath volumes (and the CNI plugins'
 * /var/lib/cni) into it, so nodes sharing this machine's filesystem keep
 * their CNI configs, IPAM leases and gobgpd sockets apart.
 */
export function nodePaths(spec: Pick<LabSpec, 'stateDir'>, node: string) {
  const dir = nodeDir(spec, node);
  const root = path.join(dir, 'root');
  return {
    dir,
    root,
    /** Where a path of the node's host filesystem lives on this machine. */
    hostPath: (p: string) => path.join(root, p),
    gobgpSocket: path.join(root, 'run', 'krouter', 'gobgp.sock'),
    cniConfDir: path.join(root, 'etc', 'cni', 'net.d'),
    cniConfPath: path.join(root, 'etc', 'cni', 'net.d', '10-kuberouter.conflist'),
    /** host-local's lease directory (one folder per network name). */
    ipamDataDir: path.join(root, 'var', 'lib', 'cni', 'networks'),
    /** The kubelet records each pod namespace it makes here (down deletes those). */
    podsDir: path.join(dir, 'pods'),
  };
}

/** `lab reboot-node`'s requests to the lab daemon (`stop`, `start`) and its answers (`stopped`, `started`, `failed: ...`). */
export function nodeRebootFiles(spec: Pick<LabSpec, 'stateDir'>, node: string) {
  const dir = nodeDir(spec, node);
  return { request: path.join(dir, 'reboot.request'), state: path.join(dir, 'reboot.state') };
}

export { loadLabState, saveLabState, type LabState } from './state.ts';
