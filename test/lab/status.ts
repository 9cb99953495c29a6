/**
 * `lab status`: nodes with addresses and pod CIDRs per family (from the API),
 * agents and their gobgpd (PIDs alive), BGP sessions (gobgp CLI in the node
 * namespace), the external router's protocols.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { agentPodRecord, gobgpdPid } from './agents.ts';
import { listNodes } from './api.ts';
import type { Obj } from './kube.ts';
import { apiServerUrl, nodeNetns, nodePaths, type LabSpec } from './config.ts';
import { tryRun } from './proc.ts';
import { routerControlArgv } from './router/index.ts';
import { isRecordedAlive, type LabState } from './state.ts';

/** Child PIDs of `pid` whose command name is `comm`. */
export function childrenNamed(pid: number, comm: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && name === comm) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

function familyOfAddress(a: string): string {
  return a.includes(':') ? 'ipv6' : 'ipv4';
}

function describeNode(n: Obj): string[] {
  const ips = (n.status?.addresses ?? []).filter((a: { type: string }) => a.type === 'InternalIP').map((a: { address: string }) => `${a.address} (${familyOfAddress(a.address)})`);
  const cidrs = n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : []);
  return [
    `  ${n.metadata.name}`,
    `    addresses: ${ips.join(', ') || '-'}`,
    `    pod CIDRs: ${cidrs.map((c: string) => `${c} (${familyOfAddress(c)})`).join(', ') || '- (not allocated)'}`,
  ];
}

export async function statusLines(state: LabState): Promise<{ lines: string[]; ok: boolean }> {
  const spec: LabSpec = state.spec;
  const lines: string[] = [];
  let ok = state.phase === 'up';
  const apiUrl = apiServerUrl(spec);
  lines.push(`lab: ${spec.family}, ${spec.nodes.length} nodes, router ${spec.router}, phase ${state.phase}, state ${spec.stateDir}`);
  const running = (name: string) => {
    const p = state.processes.find((x) => x.name === name);
    return p && isRecordedAlive(p) ? `${name} ${p.pid}` : `${name} NOT running`;
  };
  lines.push(`control plane: ${['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map(running).join(', ')}; API ${apiUrl}`);
  lines.push(`lab kubelets: ${running('daemon')}`);

  let nodes: Obj[] = [];
  try {
    nodes = await listNodes(spec);
  } catch (err) {
    ok = false;
    lines.push(`  API server does not answer: ${(err as Error).message}`);
  }
  lines.push('nodes:');
  for (const node of spec.nodes) {
    const obj = nodes.find((n) => n.metadata.name === node);
    if (obj) lines.push(...describeNode(obj));
    else {
      ok = false;
      lines.push(`  ${node}`, '    not registered');
    }
    const agent = agentPodRecord(spec, node)?.container;
    const agentUp = !!agent && isRecordedAlive(agent);
    // gobgpd outlives a restarted agent (the next one adopts it): found through its pid file, else as the agent's child.
    const adopted = gobgpdPid(nodePaths(spec, node).gobgpSocket);
    const gobgpd = adopted !== undefined ? [adopted] : agentUp ? childrenNamed(agent.pid, 'gobgpd') : [];
    if (!agentUp) ok = false;
    lines.push(
      `    agent: ${agentUp ? `running (pid ${agent.pid})` : 'NOT running'}; gobgpd: ${gobgpd.length ? `running (pid ${gobgpd.join(', ')})` : 'not running'}`,
    );
    if (gobgpd.length) {
      const sock = nodePaths(spec, node).gobgpSocket;
      const out = tryRun(['ip', 'netns', 'exec', nodeNetns(node), 'gobgp', '--target', `unix://${sock}`, 'neighbor']);
      lines.push('    BGP sessions:');
      lines.push(...(out?.trimEnd().split('\n') ?? ['(gobgp neighbor failed)']).map((l) => `      ${l}`));
    }
  }
  if (spec.router !== 'none') {
    const router = state.processes.find((p) => p.name.startsWith('router'));
    const up = !!router && isRecordedAlive(router);
    if (!up) ok = false;
    lines.push(`router (${spec.router}): ${up ? `running (pid ${router.pid})` : 'NOT running'}`);
    if (up) {
      const args = spec.router === 'bird' ? ['show', 'protocols'] : ['show', 'bgp', 'summary'];
      const out = tryRun(routerControlArgv(spec, args));
      lines.push(...(out?.trimEnd().split('\n') ?? ['(router control failed)']).map((l) => `  ${l}`));
    }
  }
  return { lines, ok };
}
