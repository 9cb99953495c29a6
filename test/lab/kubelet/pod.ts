/** Pure reading of a Pod for the kubelet: ports, port mappings, status. */
import type { Family } from '../../../sdk/src/families.ts';
import type { PortMapping } from './cni.ts';

export interface PodSpecLike {
  metadata: { name: string; namespace?: string; uid?: string; deletionTimestamp?: string };
  spec?: { nodeName?: string; containers?: Array<{ ports?: Array<{ containerPort: number; protocol?: string; hostPort?: number; hostIP?: string }> }> };
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

/** The status the kubelet reports for a running pod (merge patch of /status). */
export function runningStatus(ips: Partial<Record<Family, string>>, hostIPs: Partial<Record<Family, string>>, ready: boolean, startTime: string): Record<string, unknown> {
  const order: Family[] = ['ipv4', 'ipv6'];
  const podIPs = order.map((f) => ips[f]).filter((x): x is string => !!x);
  const hosts = order.map((f) => hostIPs[f]).filter((x): x is string => !!x);
  const now = new Date().toISOString();
  const cond = (type: string, ok: boolean) => ({ type, status: ok ? 'True' : 'False', lastTransitionTime: now });
  return {
    phase: 'Running',
    podIP: podIPs[0],
    podIPs: podIPs.map((ip) => ({ ip })),
    hostIP: hosts[0],
    hostIPs: hosts.map((ip) => ({ ip })),
    startTime,
    conditions: [cond('PodScheduled', true), cond('Initialized', true), cond('ContainersReady', ready), cond('Ready', ready)],
  };
}
