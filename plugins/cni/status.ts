import type { Family, PerFamily } from '@krouter/sdk';

/** The CNI plugin's part of `krouter status`. */
export interface CniStatus {
  confPath: string;
  bridge: string;
  bridgeExists: boolean;
  bridgeUp: boolean;
  mtu: number | null;
  mac: string | null;
  masquerade: boolean;
  /** Per family: this node's pod CIDR and the bridge's (gateway) addresses. */
  families: Partial<Record<Family, { podCIDR: string | null; bridgeAddresses: string[] }>>;
  problems: string[];
}

/** Pure: what the agent read -> its status. */
export function cniStatus(input: {
  confPath: string;
  bridge: string;
  link: { up: boolean; mtu: number | null; mac: string | null } | undefined;
  /** Global-scope addresses of the bridge. */
  addresses: readonly string[];
  families: readonly Family[];
  familyOf: (cidr: string) => Family;
  podCIDRs: PerFamily<string | undefined> | undefined;
  masquerade: boolean;
  problems: readonly string[];
}): CniStatus {
  return {
    confPath: input.confPath,
    bridge: input.bridge,
    bridgeExists: !!input.link,
    bridgeUp: input.link?.up ?? false,
    mtu: input.link?.mtu ?? null,
    mac: input.link?.mac ?? null,
    masquerade: input.masquerade,
    families: Object.fromEntries(
      input.families.map((f) => [
        f,
        { podCIDR: input.podCIDRs?.[f] ?? null, bridgeAddresses: input.addresses.filter((a) => input.familyOf(a) === f) },
      ]),
    ),
    problems: [...input.problems],
  };
}
