import type { Exec, Logger } from '@krouter/sdk';
import type { PortState } from './model.ts';

/**
 * UDP has no connection to close: a client keeps sending to the conntrack
 * entry of an endpoint that is gone. After the sync that removed endpoints,
 * their entries are deleted so the next datagram is load-balanced afresh.
 * Pure planning here; `runConntrackDeletions` runs them.
 */
export interface ConntrackDeletion {
  family: PortState['family'];
  /** Arguments after `conntrack -D`. */
  args: string[];
}

function endpointsOf(p: PortState | undefined): Set<string> {
  const out = new Set<string>();
  if (!p) return out;
  for (const e of [...p.clusterEndpoints, ...p.localEndpoints]) out.add(e.address);
  return out;
}

function vipsOf(p: PortState): string[] {
  return [...(p.clusterIP ? [p.clusterIP] : []), ...p.externalIPs, ...p.loadBalancerIPs];
}

/**
 * Deletions for UDP ports whose endpoints were removed (or whose service
 * went away), and for UDP ports that had no endpoint and now have one (their
 * datagrams were rejected and may have left entries that would keep failing).
 */
export function planConntrack(old: readonly PortState[], next: readonly PortState[]): ConntrackDeletion[] {
  const out: ConntrackDeletion[] = [];
  const byId = new Map(next.map((p) => [`${p.family}|${p.id}`, p]));
  const oldById = new Map(old.map((p) => [`${p.family}|${p.id}`, p]));
  const seen = new Set<string>();
  const add = (d: ConntrackDeletion) => {
    const k = `${d.family} ${d.args.join(' ')}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push(d);
    }
  };
  for (const p of old) {
    if (p.protocol !== 'udp') continue;
    const n = byId.get(`${p.family}|${p.id}`);
    const now = endpointsOf(n);
    for (const ep of endpointsOf(p)) {
      if (now.has(ep)) continue;
      for (const vip of vipsOf(p)) add({ family: p.family, args: ['-p', 'udp', '--orig-dst', vip, '--dst-nat', ep] });
      if (p.nodePort !== undefined) add({ family: p.family, args: ['-p', 'udp', '--orig-port-dst', String(p.nodePort), '--dst-nat', ep] });
    }
  }
  for (const n of next) {
    if (n.protocol !== 'udp' || n.clusterEndpoints.length === 0) continue;
    const before = oldById.get(`${n.family}|${n.id}`);
    // A new port had nothing rejecting before it; one that had endpoints has nothing stale.
    if (!before || before.clusterEndpoints.length > 0) continue;
    for (const vip of vipsOf(n)) add({ family: n.family, args: ['-p', 'udp', '--orig-dst', vip] });
  }
  return out;
}

/** Runs the deletions; "0 flow entries" is success, any other failure one warning (never a failed sync). */
export async function runConntrackDeletions(exec: Exec, deletions: readonly ConntrackDeletion[], logger: Logger): Promise<number> {
  let ran = 0;
  for (const d of deletions) {
    // conntrack takes the family names krouter uses (`-f ipv4`, `-f ipv6`).
    const args = ['-D', '-f', d.family, ...d.args];
    try {
      const r = await exec.run('conntrack', args, { allowFailure: true, timeoutMs: 10_000 });
      ran++;
      if (r.code !== 0 && !/0 flow entries/.test(r.stderr)) logger.warn('conntrack delete failed', { args: args.join(' '), stderr: r.stderr.trim() });
    } catch (err) {
      logger.warn('conntrack delete failed', { args: args.join(' '), error: (err as Error).message });
    }
  }
  return ran;
}
