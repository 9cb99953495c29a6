import { ALL_FAMILIES, cidrContains, defaultRoute, hostPrefixLength, parseCidr, type BgpPolicy, type Cidr, type Family } from '@krouter/sdk';

/** Why a prefix learned from a peer is refused by the import rule. */
export type RefusedReason = 'default route' | 'excluded range';

/**
 * What is never accepted from a peer: a default route, and anything inside
 * the service ranges (a peer must not steal a VIP). This is the one place
 * that decides it: gobgpd's import policy and the kernel-route judge are
 * both rendered from it.
 */
export interface RefusedPrefixes {
  defaults: Cidr[];
  excluded: Cidr[];
}

export function refusedPrefixes(excludedRanges: readonly string[], families: readonly Family[]): RefusedPrefixes {
  return {
    defaults: families.map((f) => parseCidr(defaultRoute(f))),
    excluded: excludedRanges.map((r) => parseCidr(r, undefined, { allowHostBits: true })),
  };
}

function inside(prefix: Cidr, range: Cidr): boolean {
  return range.family === prefix.family && range.prefixLength <= prefix.prefixLength && cidrContains(range.text, prefix.network);
}

/** The import rule applied to one learned prefix: why it is refused, or undefined when accepted. */
export function refusal(refused: RefusedPrefixes, prefix: Cidr): RefusedReason | undefined {
  if (refused.defaults.some((d) => d.family === prefix.family && d.prefixLength === prefix.prefixLength)) return 'default route';
  if (refused.excluded.some((r) => inside(prefix, r))) return 'excluded range';
  return undefined;
}

/**
 * The same rule as gobgpd's import policy. gobgpd runs the global import
 * policy on locally originated paths too, so the statements match only
 * paths from a neighbour (any address): else the service VIPs this node
 * advertises would be dropped.
 */
export function importPolicy(refused: RefusedPrefixes): BgpPolicy {
  // Any neighbour of any family: one IPv6 session may carry IPv4 prefixes (RFC 8950).
  const fromPeers = ALL_FAMILIES.map(defaultRoute);
  return {
    name: 'krouter-import',
    statements: [
      { prefixes: refused.defaults.map((d) => ({ prefix: d.text, maskLengthMin: 0, maskLengthMax: 0 })), neighbors: fromPeers, action: 'reject' as const },
      ...(refused.excluded.length
        ? [
            {
              prefixes: refused.excluded.map((c) => ({ prefix: c.text, maskLengthMin: c.prefixLength, maskLengthMax: hostPrefixLength(c.family) })),
              neighbors: fromPeers,
              action: 'reject' as const,
            },
          ]
        : []),
    ],
  };
}

/**
 * Export policy: external peers get exactly this node's own prefixes (pod
 * CIDRs and VIPs), never what it learned from other nodes or routers (else a
 * router may reach node-2's pods through node-1, or through us reach another
 * router).
 */
export function exportPolicy(externalPeers: readonly string[], ownPrefixes: readonly string[]): BgpPolicy | undefined {
  if (externalPeers.length === 0) return undefined;
  const exact = ownPrefixes.map((prefix) => {
    const c = parseCidr(prefix, undefined, { allowHostBits: true });
    return { prefix: c.text, maskLengthMin: c.prefixLength, maskLengthMax: c.prefixLength };
  });
  return {
    name: 'krouter-export',
    statements: [
      ...(exact.length ? [{ neighbors: [...externalPeers], prefixes: exact, action: 'accept' as const }] : []),
      { neighbors: [...externalPeers], action: 'reject' as const },
    ],
  };
}
