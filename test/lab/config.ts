/**
 * The lab's address plan and names: pure functions of a LabSpec, shared by
 * every part of the lab (topology, daemon, controllers, kubelets, check).
 *
 * Underlay 198.18.0.0/24 + fd00:18::/64 on the root bridge `krlab0`:
 *   root bridge .1 / ::1 (the lab API server, port 6443)
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
  plugins: { cni: boolean; router: boolean; serviceProxy: boolean; firewall: boolean };
  /** The external router installs the pod routes it learns into its own kernel (for pod egress without NAT). */
  routerKernelRoutes: boolean;
  /** Extra keys merged over the lab's `plugins.router` section of every node's config (`up --router-config JSON`). */
  routerConfig?: Record<string, unknown>;
  /** Annotations each node's Node object is registered with (`up --node-annotation NODE:KEY=VALUE`). */
  nodeAnnotations?: Record<string, Record<string, string>>;
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

/** API server URLs, one per enabled family (ipv4 first). */
export function apiServerUrls(spec: Pick<LabSpec, 'family'>): string[] {
  return families(spec).map((f) => `http://${urlHost(UNDERLAY_NET[f](1))}:${API_PORT}`);
}

/** The URL nodes, kubectl and the CLI use (the primary family's). */
export function apiServerUrl(spec: Pick<LabSpec, 'family'>): string {
  return apiServerUrls(spec)[0]!;
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
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`--router-config: not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('--router-config: must be a JSON object of plugins.router keys, e.g. \'{"gracefulRestart":{"enabled":true}}\'');
  }
  return value as Record<string, unknown>;
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

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.KROUTER_LAB_DIR || DEFAULT_STATE_DIR);
}

export const statePaths = {
  labJson: (stateDir: string) => path.join(stateDir, 'lab.json'),
  /** Marks a directory as made by the lab (down only removes such a directory). */
  marker: (stateDir: string) => path.join(stateDir, '.krouter-lab'),
  logs: (stateDir: string) => path.join(stateDir, 'logs'),
  log: (stateDir: string, name: string) => path.join(stateDir, 'logs', `${name}.log`),
  kubeconfig: (stateDir: string) => path.join(stateDir, 'kubeconfig'),
  /** Written by the daemon itself as soon as it starts (in case `up` dies before recording its PID). */
  daemonPid: (stateDir: string) => path.join(stateDir, 'daemon.pid'),
  routerDir: (stateDir: string) => path.join(stateDir, 'router'),
};

export function nodeDir(spec: Pick<LabSpec, 'stateDir'>, node: string): string {
  return path.join(spec.stateDir, 'nodes', node);
}

export function nodePaths(spec: Pick<LabSpec, 'stateDir'>, node: string) {
  const dir = nodeDir(spec, node);
  return {
    dir,
    config: path.join(dir, 'config.yaml'),
    gobgpSocket: path.join(dir, 'gobgp.sock'),
    gobgpDir: path.join(dir, 'gobgp'),
    cniConfDir: path.join(dir, 'cni', 'net.d'),
    cniConfPath: path.join(dir, 'cni', 'net.d', '10-kuberouter.conflist'),
    ipamDataDir: path.join(dir, 'cni', 'ipam'),
    /** The kubelet records each pod namespace it makes here (down deletes those). */
    podsDir: path.join(dir, 'pods'),
    log: path.join(spec.stateDir, 'logs', `${node}.log`),
  };
}

export { loadLabState, saveLabState, type LabState } from './state.ts';
