import { ALL_FAMILIES, type Family } from '@krouter/sdk';
import type { Direction } from './policies.ts';

/**
 * Names of the objects in the firewall's table. Sets and counters are per
 * family (an nft set holds one address type); chains are shared by both
 * families and hold the rules of each.
 */
export const TABLE = { family: 'inet', name: 'krouter-firewall' } as const;

const SHORT: Record<Direction, string> = { ingress: 'ing', egress: 'egr' };

export const setNames = {
  /** This node's pod addresses the firewall has judged; others in the pod CIDR are pending. */
  judged: (f: Family) => `judged-${f}`,
  /** This node's pods isolated for a direction (a policy of that direction selects them). */
  isolated: (d: Direction, f: Family) => `isolated-${SHORT[d]}-${f}`,
  /** This node's own addresses: traffic from them to its pods is always allowed. */
  node: (f: Family) => `node-${f}`,
  selector: (id: string, f: Family) => `sel-${id}-${f}`,
  blocks: (id: string, f: Family) => `blk-${id}-${f}`,
  namedPort: (id: string, f: Family) => `np-${id}-${f}`,
  /** Protocol and port (ranges); family-independent, so one set serves both families. */
  ports: (id: string) => `ports-${id}`,
};

export const chainNames = {
  /** Base chains; egress is judged first, so a packet must pass both. */
  egressHook: 'forward-egress',
  ingressHook: 'forward-ingress',
  direction: (d: Direction) => SHORT[d],
  policy: (d: Direction, policyId: string) => `${SHORT[d]}-${policyId}`,
};

export const counterNames = {
  denied: (d: Direction, policyId: string, f: Family) => `deny-${SHORT[d]}-${policyId}-${f}`,
  pending: (f: Family) => `pending-${f}`,
};

/** Family names as they end object names. */
const FAMILY_WORDS = ALL_FAMILIES.join('|');

/** The direction and family of a denied-packets counter name, for metrics. */
export function parseDeniedCounter(name: string): { direction: Direction; policyId: string; family: Family } | undefined {
  const m = new RegExp(`^deny-(ing|egr)-([0-9a-f]+)-(${FAMILY_WORDS})$`).exec(name);
  if (!m) return undefined;
  return { direction: m[1] === 'ing' ? 'ingress' : 'egress', policyId: m[2]!, family: m[3] as Family };
}

export function parsePendingCounter(name: string): { family: Family } | undefined {
  const m = new RegExp(`^pending-(${FAMILY_WORDS})$`).exec(name);
  return m ? { family: m[1] as Family } : undefined;
}
