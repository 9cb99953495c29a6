/**
 * Pure rendering of krouter's BGP policies into gobgp's routing policy
 * (defined sets + policies) and global policy assignments.
 *
 * Each direction becomes one gobgp policy with a fixed name
 * (`krouter-import` / `krouter-export`), so the global assignment never has
 * to change name when the caller replaces a policy. gobgp prefix sets hold one
 * family only, so a statement whose prefixes span both families becomes one
 * statement per family (the family always derived from the prefix).
 */
import { ALL_FAMILIES, hostPrefixLength, parseCidr, parseIP, perFamily, type BgpPolicy, type Family } from '@krouter/sdk';
import { BgpInputError, familyToApi, parseCommunity } from './encode.ts';

export type PolicyDirection = 'import' | 'export';

export const POLICY_NAMES: Record<PolicyDirection, string> = { import: 'krouter-import', export: 'krouter-export' };

export interface RenderedPolicies {
  /** SetPoliciesRequest: the whole routing policy, replacing the previous one. */
  setPolicies: { defined_sets: Array<Record<string, unknown>>; policies: Array<Record<string, unknown>> };
  /** Global assignment per direction: the policy names to apply (empty = none). */
  assignments: Record<PolicyDirection, string[]>;
}

function statementsOf(direction: PolicyDirection, policy: BgpPolicy, definedSets: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  const base = POLICY_NAMES[direction];
  if (!policy || typeof policy.name !== 'string' || policy.name === '') throw new BgpInputError(`bgp ${direction} policy`, 'name is required');
  const what = `bgp ${direction} policy ${JSON.stringify(policy.name)}`;
  if (!Array.isArray(policy.statements)) throw new BgpInputError(what, 'statements must be a list');
  const out: Array<Record<string, unknown>> = [];
  policy.statements.forEach((st, i) => {
    const sw = `${what}: statements[${i}]`;
    if (st.action !== 'accept' && st.action !== 'reject') throw new BgpInputError(sw, `action must be accept or reject, got ${JSON.stringify(st.action)}`);
    const actions: Record<string, unknown> = { route_action: st.action === 'accept' ? 'ACCEPT' : 'REJECT' };
    if (st.addCommunities && st.addCommunities.length > 0) {
      const communities = st.addCommunities.map((c) => {
        try {
          parseCommunity(c);
        } catch (e) {
          throw new BgpInputError(sw, (e as Error).message);
        }
        return c;
      });
      actions.community = { type: 'ADD', communities };
    }
    if (st.prependAsn) {
      const { asn, repeat } = st.prependAsn;
      if (!Number.isInteger(asn) || asn < 1 || asn > 0xffffffff) throw new BgpInputError(`${sw}: prependAsn.asn`, `must be 1..4294967295, got ${JSON.stringify(asn)}`);
      if (!Number.isInteger(repeat) || repeat < 1 || repeat > 255) throw new BgpInputError(`${sw}: prependAsn.repeat`, `must be 1..255, got ${JSON.stringify(repeat)}`);
      actions.as_prepend = { asn, repeat };
    }
    let nextHopFamily: Family | undefined;
    if (st.nextHop !== undefined) {
      if (st.nextHop === 'self') actions.nexthop = { self: true };
      else {
        const nh = (() => {
          try {
            return parseIP(st.nextHop);
          } catch (e) {
            throw new BgpInputError(`${sw}: nextHop`, (e as Error).message);
          }
        })();
        nextHopFamily = nh.family;
        actions.nexthop = { address: nh.address };
      }
    }

    const conditions: Record<string, unknown> = {};
    if (st.neighbors && st.neighbors.length > 0) {
      const list = st.neighbors.map((n, j) => {
        try {
          // A neighbor set entry is a prefix; a bare address means that host.
          if (n.includes('/')) return parseCidr(n).text;
          const a = parseIP(n);
          return `${a.address}/${hostPrefixLength(a.family)}`;
        } catch (e) {
          throw new BgpInputError(`${sw}: neighbors[${j}]`, (e as Error).message);
        }
      });
      const name = `${base}-${i}-neighbors`;
      definedSets.push({ defined_type: 'NEIGHBOR', name, list, prefixes: [] });
      conditions.neighbor_set = { type: 'ANY', name };
    }

    if (st.prefixes && st.prefixes.length > 0) {
      const byFamily = perFamily((): Array<Record<string, unknown>> => []);
      st.prefixes.forEach((p, j) => {
        let cidr;
        try {
          cidr = parseCidr(p.prefix);
        } catch (e) {
          throw new BgpInputError(`${sw}: prefixes[${j}]`, (e as Error).message);
        }
        const max = hostPrefixLength(cidr.family);
        const min = p.maskLengthMin ?? cidr.prefixLength;
        const maxLen = p.maskLengthMax ?? Math.max(min, cidr.prefixLength);
        if (!Number.isInteger(min) || min < cidr.prefixLength || min > max) {
          throw new BgpInputError(`${sw}: prefixes[${j}].maskLengthMin`, `must be ${cidr.prefixLength}..${max}, got ${JSON.stringify(min)}`);
        }
        if (!Number.isInteger(maxLen) || maxLen < min || maxLen > max) {
          throw new BgpInputError(`${sw}: prefixes[${j}].maskLengthMax`, `must be ${min}..${max}, got ${JSON.stringify(maxLen)}`);
        }
        byFamily[cidr.family].push({ ip_prefix: cidr.text, mask_length_min: min, mask_length_max: maxLen });
      });
      for (const family of ALL_FAMILIES) {
        if (byFamily[family].length === 0) continue;
        // A next-hop address applies only to paths of its own family.
        if (nextHopFamily && nextHopFamily !== family) {
          throw new BgpInputError(`${sw}: nextHop`, `${st.nextHop} is ${nextHopFamily} but the statement matches ${family} prefixes`);
        }
        const name = `${base}-${i}-${family}`;
        definedSets.push({ defined_type: 'PREFIX', name, list: [], prefixes: byFamily[family] });
        out.push({ name: `${base}-${i}-${family}`, conditions: { ...conditions, prefix_set: { type: 'ANY', name } }, actions });
      }
    } else {
      // Without prefixes, a next-hop address must not be applied to the other family's paths.
      const familyCondition = nextHopFamily
        ? { afi_safi_in: [familyToApi(nextHopFamily)] }
        : {};
      out.push({ name: `${base}-${i}`, conditions: { ...conditions, ...familyCondition }, actions });
    }
  });
  return out;
}

/**
 * Renders the desired policies of both directions plus next-hop-self for the
 * given peers (gobgp has no per-peer next-hop-self setting; it is a global
 * export statement matching those neighbours, with no route action so that
 * evaluation continues).
 */
export function renderPolicies(
  policies: Partial<Record<PolicyDirection, BgpPolicy>>,
  nextHopSelfPeers: readonly string[] = [],
): RenderedPolicies {
  const definedSets: Array<Record<string, unknown>> = [];
  const gobgpPolicies: Array<Record<string, unknown>> = [];
  const assignments: Record<PolicyDirection, string[]> = { import: [], export: [] };
  for (const direction of ['import', 'export'] as const) {
    const statements: Array<Record<string, unknown>> = [];
    if (direction === 'export' && nextHopSelfPeers.length > 0) {
      const name = 'krouter-next-hop-self-peers';
      const list = [...new Set(nextHopSelfPeers)].sort().map((a) => {
        const p = parseIP(a);
        return `${p.address}/${hostPrefixLength(p.family)}`;
      });
      definedSets.push({ defined_type: 'NEIGHBOR', name, list, prefixes: [] });
      statements.push({
        name: 'krouter-next-hop-self',
        conditions: { neighbor_set: { type: 'ANY', name } },
        actions: { route_action: 'NONE', nexthop: { self: true } },
      });
    }
    const policy = policies[direction];
    if (policy) statements.push(...statementsOf(direction, policy, definedSets));
    if (statements.length === 0) continue;
    gobgpPolicies.push({ name: POLICY_NAMES[direction], statements });
    assignments[direction] = [POLICY_NAMES[direction]];
  }
  return { setPolicies: { defined_sets: definedSets, policies: gobgpPolicies }, assignments };
}

/** SetPolicyAssignment request for the global RIB (default: accept what no statement decides). */
export function globalAssignment(direction: PolicyDirection, policyNames: string[]): Record<string, unknown> {
  return {
    assignment: {
      name: 'global',
      direction: direction === 'import' ? 'IMPORT' : 'EXPORT',
      policies: policyNames.map((name) => ({ name })),
      default_action: 'ACCEPT',
    },
  };
}
