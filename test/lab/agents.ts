/**
 * The krouter agents: one per node, `ip netns exec krlab-<node> dist/krouter
 * run --config <state>/nodes/<node>/config.yaml`. Config rendering is pure;
 * starting is a detached process whose output goes to <state>/logs/<node>.log.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import {
  AGENT_HEALTH_PORT,
  AGENT_METRICS_PORT,
  CLUSTER_ASN,
  ROUTER_ASN,
  apiServerUrl,
  clusterCidrs,
  nodeNetns,
  nodePaths,
  nodeUnderlayByName,
  routerUnderlay,
  type LabSpec,
} from './config.ts';
import { httpStatusInNetns, spawnDetached, tryRun } from './proc.ts';
import type { RecordedProcess } from './state.ts';

/** The node's krouter config file (YAML object; keys as in core/config/schema.ts and the plugins' schemas). */
export function renderNodeConfig(spec: LabSpec, node: string): Record<string, unknown> {
  const p = nodePaths(spec, node);
  const cidrs = clusterCidrs(spec);
  const plugins: Record<string, unknown> = {};
  if (spec.plugins.cni) {
    plugins.cni = { enabled: true, confPath: p.cniConfPath, ipamDataDir: p.ipamDataDir };
  }
  if (spec.plugins.router) {
    const own = nodeUnderlayByName(spec, node);
    plugins.router = {
      enabled: true,
      clusterAsn: CLUSTER_ASN,
      // IPv6-only nodes have no IPv4 address to use as BGP router id.
      routerId: own.ipv4 ?? 'generate',
      peerRouters:
        spec.router === 'none' ? [] : Object.values(routerUnderlay(spec)).map((address) => ({ address, asn: ROUTER_ASN })),
      serviceClusterIPRanges: Object.values(cidrs.services),
      // What a test or a person asked for (`up --router-config`) wins over the lab's defaults.
      ...(spec.routerConfig ?? {}),
    };
  }
  if (spec.plugins.serviceProxy) plugins['service-proxy'] = { enabled: true };
  if (spec.plugins.firewall) plugins.firewall = { enabled: true };
  return {
    nodeName: node,
    families: spec.family,
    kubernetes: { master: apiServerUrl(spec) },
    log: { level: 'info' },
    // '::' listens on both families (pods probe their node over each one).
    metrics: { address: '::', port: AGENT_METRICS_PORT },
    health: { address: '::', port: AGENT_HEALTH_PORT },
    gobgp: { socket: p.gobgpSocket },
    plugins,
  };
}

/** Writes the node's config and makes its directories (CNI conf dir, IPAM dir, pods dir). */
export function writeNodeConfig(spec: LabSpec, node: string): string {
  const p = nodePaths(spec, node);
  for (const dir of [p.dir, p.cniConfDir, p.ipamDataDir, p.podsDir]) mkdirSync(dir, { recursive: true });
  writeFileSync(p.config, `# krouter config of lab node ${node} (written by lab up)\n${stringify(renderNodeConfig(spec, node))}`);
  return p.config;
}

export function agentArgv(spec: LabSpec, node: string): string[] {
  return ['ip', 'netns', 'exec', nodeNetns(node), spec.krouterBin, 'run', '--config', nodePaths(spec, node).config];
}

export function startAgent(spec: LabSpec, node: string): RecordedProcess {
  return spawnDetached(`agent ${node}`, agentArgv(spec, node), { log: nodePaths(spec, node).log, cwd: spec.repoRoot });
}

export function agentHealthUrl(): string {
  return `http://127.0.0.1:${AGENT_HEALTH_PORT}/healthz`;
}

/**
 * Pod CIDRs of other nodes that a node has no route to yet (empty = the
 * router plugin has converged for this node).
 */
export function missingPodRoutes(node: string, otherCidrs: string[]): string[] {
  return otherCidrs.filter((cidr) => {
    const out = tryRun(['ip', '-n', nodeNetns(node), cidr.includes(':') ? '-6' : '-4', 'route', 'show', 'exact', cidr]);
    return !out || out.trim() === '';
  });
}

/** The agent's /healthz status code seen from inside its node namespace (0 = no answer). */
export function agentHealth(node: string): number {
  return httpStatusInNetns(nodeNetns(node), agentHealthUrl());
}

/**
 * The gobgpd serving a node's socket, from the `<socket>.pid` file the agent
 * keeps (gobgpd outlives its agent and is adopted by the next one), checked
 * against its command line.
 */
export function gobgpdPid(socket: string): number | undefined {
  try {
    const pid = Number(readFileSync(`${socket}.pid`, 'utf8').split('\n')[0]!.trim());
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return path.basename(cmdline[0] ?? '') === 'gobgpd' && cmdline.some((a) => a.includes(socket)) ? pid : undefined;
  } catch {
    return undefined;
  }
}
