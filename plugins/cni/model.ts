import { createHash } from 'node:crypto';
import { firstHost, localUnicastMac, parseCidr, perFamily, type Family, type NodeNetwork, type PerFamily } from '@krouter/sdk';

/** Pod CIDRs that last read well, per node; kept so a bad update changes nothing. */
export interface LastGood {
  nodes: Map<string, PerFamily<string | undefined>>;
}

export interface ModelInput {
  families: readonly Family[];
  nodeName: string;
  /** Every node read with AddressFamilies.nodeNetwork (the local one included). */
  nodes: NodeNetwork[];
  /** Extra ranges not to masquerade, already split by (enabled) family. */
  clusterCIDRs: PerFamily<string[]>;
  lastGood: LastGood;
  /** The operator's bridge MAC (config `bridgeMac`, already validated); derived from the node name when absent. */
  bridgeMac?: string;
}

export interface Problem {
  node: string;
  message: string;
}

export interface Gateway {
  /** Gateway address on the bridge. */
  address: string;
  /** address/prefixLength, as put on the bridge. */
  cidr: string;
  /** The pod CIDR it serves. */
  subnet: string;
}

export interface CniModel {
  families: readonly Family[];
  /** The bridge's own MAC: fixed for the node, so it never follows the ports as they come and go. */
  bridgeMac: string;
  /** This node's pod CIDR per family, undefined while none is known. */
  podCIDRs: PerFamily<string | undefined>;
  gateways: PerFamily<Gateway | undefined>;
  /** Destinations that are not masqueraded: all nodes' pod CIDRs plus extra cluster ranges. */
  clusterRanges: PerFamily<string[]>;
  /** True when every enabled family has a pod CIDR (the CNI config needs them all). */
  complete: boolean;
  problems: Problem[];
  lastGood: LastGood;
}

export function gatewayOf(subnet: string): Gateway {
  const c = parseCidr(subnet);
  const address = firstHost(c.text);
  return { address, cidr: `${address}/${c.prefixLength}`, subnet: c.text };
}

/**
 * The bridge MAC of a node: locally administered unicast, from a hash of the
 * node name. Without a MAC of its own a Linux bridge carries the lowest MAC
 * of its ports, so deleting a pod can change the gateway's MAC under the
 * other pods' neighbour entries; a fixed one never does. Derived rather than
 * random so that a recreated bridge (or a restarted agent) gets the same one.
 */
export function bridgeMacFor(nodeName: string): string {
  return localUnicastMac(createHash('sha256').update(`krouter kube-bridge ${nodeName}`).digest());
}

const POD_CIDR_SOURCES = 'spec.podCIDRs, annotation kube-router.io/pod-cidrs, spec.podCIDR';

/**
 * Desired CNI state from the nodes. Per family, a node's pod CIDR is the one
 * it has now; if it has none now but its object has errors (a malformed or
 * wrong-family value), the last good one is kept, so bad input changes
 * nothing. This node missing a CIDR of an enabled family is a problem too.
 */
export function buildModel(input: ModelInput): CniModel {
  const { families, nodeName } = input;
  const problems: Problem[] = [];
  const lastGood: LastGood = { nodes: new Map() };
  const clusterRanges = perFamily<string[]>(() => []);
  let local: PerFamily<string | undefined> = perFamily(() => undefined);

  for (const nn of [...input.nodes].sort((a, b) => a.name.localeCompare(b.name))) {
    const isLocal = nn.name === nodeName;
    for (const message of nn.errors) problems.push({ node: nn.name, message });
    const before = input.lastGood.nodes.get(nn.name);
    const effective = perFamily<string | undefined>((f) => {
      if (!families.includes(f)) return undefined;
      const now = nn.podCIDRs[f][0];
      if (now) return now;
      if (isLocal) {
        // A malformed value already explains the gap; report a bare absence only.
        if (nn.errors.length === 0) problems.push({
          node: nn.name,
          message: `node ${JSON.stringify(nn.name)} has no ${f} pod CIDR (${POD_CIDR_SOURCES})${before?.[f] ? `; keeping ${before[f]}` : ''}`,
        });
        return before?.[f];
      }
      // Another node without any error simply has no range (yet): nothing to keep.
      return nn.errors.length ? before?.[f] : undefined;
    });
    lastGood.nodes.set(nn.name, effective);
    if (isLocal) local = effective;
    for (const f of families) if (effective[f]) clusterRanges[f].push(effective[f]);
  }

  for (const f of families) {
    clusterRanges[f].push(...input.clusterCIDRs[f].map((c) => parseCidr(c).text));
    clusterRanges[f] = [...new Set(clusterRanges[f])];
  }
  const gateways = perFamily((f) => (local[f] ? gatewayOf(local[f]) : undefined));
  return {
    families,
    bridgeMac: input.bridgeMac ?? bridgeMacFor(nodeName),
    podCIDRs: local,
    gateways,
    clusterRanges,
    complete: families.every((f) => local[f] !== undefined),
    problems,
    lastGood,
  };
}
