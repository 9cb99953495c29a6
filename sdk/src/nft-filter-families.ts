import type { Family } from './families.ts';

/**
 * Filtering facts that differ per address family, for plugins that drop
 * traffic (a firewall) without branching on the family. Kept apart from
 * nft-families.ts, which holds the words every nft renderer needs.
 */
export interface NftFilterWords {
  /**
   * Matches of traffic that must pass any per-address policy for the family
   * to work at all: IPv6 neighbour and router discovery (IPv4's ARP is not IP
   * and never reaches an inet table). Each is one nft match expression.
   */
  readonly alwaysAllowed: readonly string[];
}

const WORDS: Record<Family, NftFilterWords> = {
  ipv4: { alwaysAllowed: [] },
  ipv6: {
    alwaysAllowed: ['icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect }'],
  },
};

/** Filtering vocabulary of one family. */
export function nftFilterWords(family: Family): NftFilterWords {
  return WORDS[family];
}
