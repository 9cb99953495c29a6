/**
 * The krouter agents as the lab sees them: the DaemonSet's pod on each node
 * (run by the lab kubelet as `dist/krouter` in the node's namespace), its
 * health, its gobgpd, and whether its pod routes have converged.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { listPods, podReady } from './api.ts';
import { AGENT_HEALTH_PORT, nodeNetns, nodePaths, type LabSpec } from './config.ts';
import { AGENT_DAEMONSET, AGENT_NAMESPACE } from './deploy.ts';
import type { ContainerRecord, PodRecord } from './kubelet/runtime.ts';
import { httpStatusInNetns, tryRun } from './proc.ts';

/** The agent's container name in deploy/daemonset.yaml. */
const AGENT_CONTAINER = 'krouter';

/** The node's krouter agent: the running krouter container of a pod on it, from the lab kubelet's records. */
export function agentPodRecord(spec: Pick<LabSpec, 'stateDir'>, node: string): { record: PodRecord; container: ContainerRecord } | undefined {
  const dir = nodePaths(spec, node).podsDir;
  if (!existsSync(dir)) return undefined;
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    let record: PodRecord;
    try {
      record = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as PodRecord;
    } catch {
      continue; // being rewritten
    }
    const container = record.containers?.[AGENT_CONTAINER];
    if (record.namespace === AGENT_NAMESPACE && record.name.startsWith(`${AGENT_DAEMONSET}-`) && container) return { record, container };
  }
  return undefined;
}

/** The agent's log file (its container log), or where it will be. */
export function agentLogPath(spec: Pick<LabSpec, 'stateDir'>, node: string): string | undefined {
  return agentPodRecord(spec, node)?.container.log;
}

/** Whether the node's agent pod is Ready in the API (the kubelet's readiness probe of /healthz passed). */
export async function agentPodReady(spec: LabSpec, node: string): Promise<boolean> {
  const pods = await listPods(spec, AGENT_NAMESPACE).catch(() => []);
  return pods.some((p) => p.spec?.nodeName === node && p.metadata.name.startsWith(`${AGENT_DAEMONSET}-`) && podReady(p));
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
    // gobgpd names the socket as the agent's mount namespace sees it (/run/krouter/...): match the file name.
    return path.basename(cmdline[0] ?? '') === 'gobgpd' && cmdline.some((a) => a.includes(path.basename(socket))) ? pid : undefined;
  } catch {
    return undefined;
  }
}
