import type { Family } from './families.ts';

/**
 * The words nftables spells differently per address family, in one place, so
 * plugins that render rules for both families never branch on the family.
 */
export interface NftFamilyWords {
  /** Expression prefix for addresses: `ip saddr`, `ip6 daddr`. */
  readonly ip: 'ip' | 'ip6';
  /** Set / map key type of one address. */
  readonly addrType: 'ipv4_addr' | 'ipv6_addr';
  /** `meta nfproto` value. */
  readonly nfproto: 'ipv4' | 'ipv6';
  /** ICMP protocol keyword (`meta l4proto`), as in `meta l4proto icmpv6`. */
  readonly icmp: 'icmp' | 'icmpv6';
  /** A reject that an unreachable host/port maps onto in this family. */
  readonly rejectPortUnreachable: string;
  readonly rejectAdminProhibited: string;
  /** Wraps an address for `dnat to ADDR:PORT` (IPv6 needs brackets). */
  dnatTarget(address: string, port: number): string;
  /** The loopback range, e.g. to keep NodePorts off `127.0.0.1` / `::1`. */
  readonly loopback: '127.0.0.0/8' | '::1/128';
}

const WORDS: Record<Family, NftFamilyWords> = {
  ipv4: {
    ip: 'ip',
    addrType: 'ipv4_addr',
    nfproto: 'ipv4',
    icmp: 'icmp',
    rejectPortUnreachable: 'reject with icmp type port-unreachable',
    rejectAdminProhibited: 'reject with icmp type admin-prohibited',
    dnatTarget: (address, port) => `${address}:${port}`,
    loopback: '127.0.0.0/8',
  },
  ipv6: {
    ip: 'ip6',
    addrType: 'ipv6_addr',
    nfproto: 'ipv6',
    icmp: 'icmpv6',
    rejectPortUnreachable: 'reject with icmpv6 type port-unreachable',
    rejectAdminProhibited: 'reject with icmpv6 type admin-prohibited',
    dnatTarget: (address, port) => `[${address}]:${port}`,
    loopback: '::1/128',
  },
};

/** nftables vocabulary of one family. */
export function nftWords(family: Family): NftFamilyWords {
  return WORDS[family];
}
